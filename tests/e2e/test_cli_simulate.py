"""`ordermesh simulate flash-sale` from the command line."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from ordermesh.entrypoints.cli.main import app

runner = CliRunner()


def test_an_unknown_mode_is_refused_before_anything_runs(tmp_path: Path) -> None:
    out = tmp_path / "flash.json"

    done = runner.invoke(
        app,
        ["simulate", "flash-sale", "--modes", "realtime,hourly", "--out", str(out)],
        env={"COLUMNS": "200"},
    )

    assert done.exit_code != 0
    assert "unknown mode 'hourly'" in done.output
    assert not out.exists()


@pytest.mark.slow
def test_a_short_sale_writes_the_figures_of_each_mode_a_table_and_a_plot(tmp_path: Path) -> None:
    out = tmp_path / "flash.json"

    done = runner.invoke(
        app,
        [
            "simulate",
            "flash-sale",
            "--minutes",
            "0.05",
            "--skus",
            "8",
            "--seed",
            "4",
            "--modes",
            "realtime,interval-60",
            "--settle-seconds",
            "0",
            "--out",
            str(out),
        ],
        env={"COLUMNS": "200"},
    )

    assert done.exit_code == 0, done.output
    result = orjson.loads(out.read_bytes())
    assert list(result["modes"]) == ["realtime", "interval-60"]
    for figures in result["modes"].values():
        assert {"orders", "oversells", "oversells_per_1000"} <= set(figures)
    assert out.with_suffix(".png").stat().st_size > 0
    assert "oversells" in done.output
    assert "interval-60" in done.output

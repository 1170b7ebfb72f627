"""The stock-latency benchmark's watch: how long a change took to show, and how long an older
figure covered it afterwards (a listings feed landing after the patch that overtook it), and
when a run meets its goal or is run alone."""

from __future__ import annotations

import orjson
import pytest
from bench import report
from bench.stock_latency import Change, Watch, main, met


class Channel:
    """What the channel shows per listing, and since when."""

    def __init__(self) -> None:
        self.figures: dict[str, tuple[int, float]] = {}

    def set(self, sku: str, figure: int, at: float) -> None:
        self.figures[sku] = (figure, at)

    def shown(self, channel: str) -> dict[str, tuple[int, float]]:
        return dict(self.figures) if channel == "amazon" else {}


def test_a_figure_covered_by_an_older_one_counts_until_it_shows_again() -> None:
    amazon = Channel()
    amazon.set("MUG", 30, at=0.0)
    watch = Watch(amazon.shown)
    sold_out = Change("MUG", 0, asked_at=10.0, urgent=True)
    watch.expect(sold_out)
    amazon.set("MUG", 0, at=11.0)  # patched over the feed in flight
    watch.look()
    amazon.set("MUG", 30, at=40.0)  # the feed lands with its older figure
    watch.look()
    amazon.set("MUG", 0, at=42.5)  # set right again
    watch.look()

    assert sold_out.seen == {"amazon": 1.0}
    assert sold_out.reverted == {"amazon"}
    assert sold_out.stale == {"amazon": 2.5}


def test_an_older_figure_shown_after_a_newer_change_is_that_change_s_latency() -> None:
    amazon = Channel()
    amazon.set("MUG", 30, at=0.0)
    watch = Watch(amazon.shown)
    low = Change("MUG", 2, asked_at=10.0, urgent=True)
    watch.expect(low)
    amazon.set("MUG", 2, at=11.0)
    watch.look()
    amazon.set("MUG", 30, at=20.0)  # covered…
    watch.look()
    restocked = Change("MUG", 17, asked_at=25.0, urgent=False)
    watch.expect(restocked)  # …until 2 is no longer the figure to show
    amazon.set("MUG", 17, at=90.0)
    watch.look()

    assert low.stale == {"amazon": 5.0}
    assert restocked.seen == {"amazon": 65.0}
    assert restocked.reverted == set()


def test_a_figure_the_channel_already_shows_counts_as_shown_at_once() -> None:
    amazon = Channel()
    amazon.set("MUG", 30, at=0.0)
    watch = Watch(amazon.shown)
    watch.expect(Change("MUG", 20, asked_at=10.0, urgent=False))
    back = Change("MUG", 30, asked_at=12.0, urgent=False)
    watch.expect(back)  # 30 → 20 → 30 before the 20 went out
    watch.look()
    assert back.seen == {"amazon": 0.0}


def test_a_run_whose_driver_fell_behind_meets_no_goal() -> None:
    row = {"exposure_p99_s": 1.2, "not_visible": 0}
    assert met(row, driver_late_s=0.7)
    assert not met(row, driver_late_s=48.1), "the load it names was not applied"
    assert not met({"exposure_p99_s": 5.1, "not_visible": 0}, driver_late_s=0.0)
    assert not met({"exposure_p99_s": 1.2, "not_visible": 1}, driver_late_s=0.0)


def test_an_unknown_load_is_refused_with_the_ones_there_are() -> None:
    with pytest.raises(SystemExit, match="unknown load 'huge': one of full, at-the-budget"):
        main(["huge"])


def test_one_load_alone_is_written_with_when_how_and_on_what(tmp_path) -> None:
    path = report.write_one(
        "stock-latency-quick",
        {"figures": []},
        tmp_path,
        command="python -m bench.stock_latency quick",
        machine={"cores": 2},
    )
    document = orjson.loads(path.read_bytes())
    assert path.name == "stock-latency-quick.json"
    assert (document["command"], document["machine"], document["figures"]) == (
        "python -m bench.stock_latency quick",
        {"cores": 2},
        [],
    )
    assert document["at"]

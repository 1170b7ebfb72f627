"""A server under benchmark, in its own process on a free loopback port.

The load comes from another process, so the server's figures (requests/s, its own CPU time)
are not bent by the load generator sharing its GIL."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far; None where /proc is missing.

    A server's CPU per request is the figure a busy machine bends least, so the benchmarks
    report it beside requests/s."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running(
    what: str,
    command: Sequence[str],
    port: int,
    env: Mapping[str, str] | None = None,
    ready: str = "/health",
) -> Iterator[tuple[str, int]]:
    """Starts `command` (a server that will listen on `port`), waits until it answers 200 at
    `ready` and yields its base URL and process id; stops it on the way out. A server that
    exits early or does not answer within 60 s is an error that carries the tail of its
    output."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"{what} exited ({process.returncode}):\n{tail}")
                try:
                    if httpx.get(f"{base}{ready}", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{what} did not answer {ready} within 60 s")
                time.sleep(0.2)
            yield base, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

"""Tools the Ray tests send to Ray workers (importable there: the repository is on their path)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from orchestra import ToolSet, tool


@tool(num_cpus=0.5)
def square(n: int) -> str:
    """Square a number."""
    return f"{n}^2 = {n * n}"


@tool(num_cpus=0)
def whereami() -> int:
    """The id of the process the call runs in."""
    return os.getpid()


@tool(num_cpus=0.5)
async def slow_step(n: int, log: str) -> str:
    """A step that takes a while; notes its start and its end in the file ``log``."""
    _note(log, f"start {n}")
    await asyncio.sleep(3)
    _note(log, f"end {n}")
    return f"step {n} done"


def _note(log: str, line: str) -> None:
    with Path(log).open("a") as out:
        out.write(line + "\n")


class Tally(ToolSet):
    """A session: a running total and the process that keeps it."""

    def __init__(self) -> None:
        self.total = 0

    @ToolSet.method(stateful=True, num_cpus=0)
    def add(self, k: int) -> str:
        """Add ``k`` to the total."""
        self.total += k
        return f"total {self.total} in {os.getpid()}"

    @ToolSet.method(stateful=True, num_cpus=0)
    def read(self) -> str:
        """The total so far."""
        return f"total {self.total} in {os.getpid()}"


def _crash_once(marker: str) -> str:
    """Kill the worker process on the first call (noted in ``marker``); answer after that."""
    path = Path(marker)
    if not path.exists():
        path.write_text("crashed once\n")
        os._exit(1)  # the worker dies mid-call, as on a lost node
    return f"ok in {os.getpid()}"


@tool(num_cpus=0)
def idempotent_lookup(marker: str) -> str:
    """A lookup without side effects; its first worker dies."""
    return _crash_once(marker)


@tool(num_cpus=0, side_effects=True)
def send_once(marker: str) -> str:
    """A call with side effects; its first worker dies."""
    return _crash_once(marker)


@tool(num_cpus=1)
def sleepy(seconds: float, log: str) -> str:
    """A sync tool that sleeps (noting its start and end in ``log``)."""
    import time

    _note(log, "start")
    time.sleep(seconds)
    _note(log, "end")
    return "slept"

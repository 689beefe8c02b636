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

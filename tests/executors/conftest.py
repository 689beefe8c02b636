"""A real local Ray for the executor tests: started in this process once per session.

In-process ``ray.init(num_cpus=2)`` (never a ``ray start`` head), usage statistics off.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from orchestra.executors import RayExecutor

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def ray_executor() -> Iterator[RayExecutor]:
    """The session's executor on a local Ray instance with 2 CPUs."""
    pytest.importorskip("ray", reason="the ray extra is not installed")
    executor = RayExecutor(num_cpus=2)
    executor.connect()
    try:
        yield executor
    finally:
        executor.shutdown()

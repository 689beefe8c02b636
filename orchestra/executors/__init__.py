"""Executors: where a team's tool calls run (see :mod:`orchestra.tools.dispatch`).

``Team(executor=...)`` takes a :class:`~orchestra.tools.dispatch.ToolExecutor`, ``"local"``
or ``"ray"``; without one, the environment decides: ``ORCHESTRA_EXECUTOR`` (``local`` or
``ray``), else ``RAY_ADDRESS`` (set: Ray at that address), else in-process.
"""

from __future__ import annotations

import os
from typing import Literal

from orchestra.core.errors import ConfigError
from orchestra.executors.ray import RayExecutor
from orchestra.executors.remote_model import RemoteModel
from orchestra.tools.dispatch import LocalExecutor, ToolExecutor

__all__ = [
    "EXECUTOR_ENV",
    "ExecutorSpec",
    "LocalExecutor",
    "RayExecutor",
    "RemoteModel",
    "ToolExecutor",
    "resolve_executor",
]

EXECUTOR_ENV = "ORCHESTRA_EXECUTOR"
"""Environment variable choosing the executor of teams that name none."""

ExecutorSpec = ToolExecutor | Literal["local", "ray"] | None
"""What ``Team(executor=...)`` accepts."""


def resolve_executor(spec: ExecutorSpec) -> ToolExecutor:
    """The executor ``spec`` names, or the environment's choice for None.

    Raises:
        ConfigError: an unknown name (in ``spec`` or ``ORCHESTRA_EXECUTOR``).
    """
    if spec is not None and not isinstance(spec, str):
        return spec
    name = spec or os.environ.get(EXECUTOR_ENV, "").strip().lower()
    if not name:
        name = "ray" if os.environ.get("RAY_ADDRESS", "").strip() else "local"
    if name in ("local", "asyncio"):
        return LocalExecutor()
    if name == "ray":
        return RayExecutor()
    source = "executor" if spec else EXECUTOR_ENV
    raise ConfigError(f"unknown {source} {name!r}: use 'local' or 'ray'")

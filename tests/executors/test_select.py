"""Choosing the executor, and what a tool's options ask of Ray (no Ray instance needed)."""

from __future__ import annotations

import pytest

from orchestra import ConfigError, tool
from orchestra.executors import LocalExecutor, RayExecutor, resolve_executor
from orchestra.executors.ray import _RayRunner
from orchestra.tools.options import options_of
from tests.conftest import make_team


@pytest.fixture(autouse=True)
def _no_executor_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHESTRA_EXECUTOR", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def test_the_default_executor_runs_calls_in_this_process():
    assert isinstance(resolve_executor(None), LocalExecutor)
    team, _ = make_team({}, checkpointer="memory")
    assert isinstance(team.executor, LocalExecutor)


def test_the_environment_chooses_ray(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ORCHESTRA_EXECUTOR", "ray")
    assert isinstance(resolve_executor(None), RayExecutor)
    monkeypatch.setenv("ORCHESTRA_EXECUTOR", "local")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert isinstance(resolve_executor(None), LocalExecutor)  # an explicit choice wins
    monkeypatch.delenv("ORCHESTRA_EXECUTOR")
    assert isinstance(resolve_executor(None), RayExecutor)  # RAY_ADDRESS alone: Ray


def test_a_team_on_ray_connects_only_when_a_run_starts(monkeypatch: pytest.MonkeyPatch):
    def no_connection(self: RayExecutor) -> None:
        raise AssertionError("connected while building the team")

    monkeypatch.setattr(RayExecutor, "connect", no_connection)
    team, _ = make_team({}, checkpointer="memory", executor="ray")
    assert isinstance(team.executor, RayExecutor)


def test_unknown_executors_are_config_errors(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(ConfigError, match="'dask'"):
        resolve_executor("dask")  # type: ignore[arg-type]
    monkeypatch.setenv("ORCHESTRA_EXECUTOR", "spark")
    with pytest.raises(ConfigError, match="ORCHESTRA_EXECUTOR"):
        make_team({}, checkpointer="memory")
    with pytest.raises(ConfigError, match="max_retries"):
        RayExecutor(max_retries=-1)


@tool(num_cpus=0.25, num_gpus=1, resources={"browser": 1})
def browse(url: str) -> str:
    """Open a page."""
    return url


@tool(side_effects=True)
def pay(amount: int) -> str:
    """Pay an amount."""
    return str(amount)


def test_ray_tasks_ask_for_the_tools_resources_and_retry_only_safe_calls():
    runner = _RayRunner(RayExecutor(default_num_cpus=0.5, max_retries=2), {})
    assert runner._task_options(options_of(browse)) == {
        "num_cpus": 0.25,
        "num_gpus": 1,
        "resources": {"browser": 1},
        "max_retries": 2,
        "retry_exceptions": False,
    }
    assert runner._task_options(options_of(pay)) == {
        "num_cpus": 0.5,
        "max_retries": 0,  # a worker that died after paying must not pay again
        "retry_exceptions": False,
    }


def test_memory_and_mcp_tools_stay_in_the_teams_process():
    from orchestra import mcp_server
    from orchestra.tools.memory_tools import memory_tools

    assert mcp_server("python server.py").options.in_process
    made = memory_tools(
        memory=None,  # type: ignore[arg-type]
        team="t",
        run_id="r",
        task_id="x",
        role="w",
        read=("run",),
        write=("run",),
    )
    assert all(options_of(t).in_process for t in made)


def test_a_remote_model_is_built_lazily_and_says_what_it_cannot_do():
    from orchestra.executors import RemoteModel
    from orchestra.testing import ScriptedChatModel

    remote = RemoteModel(ScriptedChatModel, num_gpus=1, native_tools=False)
    assert remote.factory is ScriptedChatModel and remote._actor is None  # no Ray yet
    with pytest.raises(NotImplementedError):  # executors then use JSON actions
        remote.bind_tools([browse])

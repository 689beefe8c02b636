"""Shared fixtures: tools and helpers for building scripted teams."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from orchestra import Event, Team, tool
from orchestra.testing import ScriptedChatModel
from tests.forked_cli import ForkedCli
from tests.postgres_server import PostgresServer, PostgresUnavailable, postgres_server

ROOT = Path(__file__).resolve().parents[1]

GUARD_S = 10.0
"""Upper bound for waits on in-test events; reaching it means the engine serialized work."""


@tool
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


def make_team(script: dict[str, Any], **kwargs: Any) -> tuple[Team, ScriptedChatModel]:
    """A team on a scripted model; ``native_tools`` goes to the model, the rest to Team."""
    native = kwargs.pop("native_tools", True)
    model = ScriptedChatModel(script, native_tools=native)
    kwargs.setdefault("tools", [word_count])
    return Team(model, **kwargs), model


async def run_collect(team: Team, goal: str = "a goal") -> tuple[Any, list[Event]]:
    """Run ``goal`` and return the result and every event, in order."""
    events: list[Event] = []
    result = await team.arun(goal, on_event=events.append)
    return result, events


def index_of(events: list[Event], kind: str, **match: Any) -> int:
    """Position of the first event of ``kind`` whose fields equal ``match``."""
    for i, e in enumerate(events):
        if e.type == kind and all(getattr(e, k) == v for k, v in match.items()):
            return i
    raise AssertionError(f"no {kind} event with {match}")


def gate() -> tuple[asyncio.Event, Callable[[], Any]]:
    """An event and a coroutine factory that waits for it, bounded by GUARD_S."""
    ev = asyncio.Event()

    async def wait() -> None:
        await asyncio.wait_for(ev.wait(), GUARD_S)

    return ev, wait


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def background_server(
    command: list[str], ready: str, *, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """Run a local server for a test; enter once its output matches ``ready``."""
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        if not wait_for_line(proc.stdout, ready):
            pytest.fail(f"{command[0]} did not start (no line matching {ready!r})")
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def wait_for_line(stream: Any, pattern: str) -> bool:
    """Read a server's output until a line matches ``pattern``; keep draining it after.

    Waiting for the server's own "listening" line is exact where a timer guesses; the
    drain thread stops the server from blocking once its pipe buffer fills with logs.
    """
    import re
    import threading

    found = False
    for line in stream:
        if re.search(pattern, line):
            found = True
            break
    threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()
    return found


def run_cli(
    *args: str,
    timeout: float = 600,
    cwd: Path = ROOT,
    env_extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``orchestra ARGS`` in a subprocess (from the repository root by default), as a user would.

    ``ORCHESTRA_MODEL`` is removed, so a team without a model gets the embedded one.
    """
    env = {k: v for k, v in os.environ.items() if k != "ORCHESTRA_MODEL"} | (env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "orchestra.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class StartedCli:
    """``orchestra ARGS`` started in a subprocess; :meth:`wait` gives what :func:`run_cli` does.

    Its output goes to files, not pipes, so a run nobody reads yet never blocks on a full
    pipe. For slow runs that can go side by side with other work (the embedded model
    decodes on one thread).
    """

    def __init__(
        self,
        *args: str,
        output: Path,
        cwd: Path = ROOT,
        env_extra: dict[str, str] | None = None,
    ) -> None:
        env = {k: v for k, v in os.environ.items() if k != "ORCHESTRA_MODEL"} | (env_extra or {})
        output.mkdir(parents=True, exist_ok=True)
        self.args = [sys.executable, "-m", "orchestra.cli", *args]
        self._stdout, self._stderr = output / "stdout.txt", output / "stderr.txt"
        with self._stdout.open("w") as out, self._stderr.open("w") as err:
            self.proc = subprocess.Popen(self.args, cwd=cwd, env=env, stdout=out, stderr=err)

    def wait(self, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Wait for the run (killed after ``timeout`` seconds, as run_cli's is)."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        return subprocess.CompletedProcess(
            self.args, code, self._stdout.read_text(), self._stderr.read_text()
        )

    def stop(self) -> None:
        """Kill the run if it still goes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


_LOCAL = ("127.", "::1", "localhost")


def _is_local(host: object) -> bool:
    return isinstance(host, str) and host.startswith(_LOCAL)


@pytest.fixture(autouse=True)
def _orchestra_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test keeps its run history (and anything else orchestra writes) to itself."""
    home = tmp_path / "orchestra-home"
    monkeypatch.setenv("ORCHESTRA_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that tries to reach beyond this machine (DNS included)."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_local(host):
            raise OSError(f"tests must not reach the network (looked up {host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    def guard(address: Any) -> None:
        if isinstance(address, tuple) and not _is_local(address[0]):
            raise OSError(f"tests must not reach the network (connect to {address!r})")

    def connect(self: socket.socket, address: Any) -> None:
        guard(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test session on 127.0.0.1 (see tests/postgres_server.py)."""
    try:
        with postgres_server(free_port()) as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")


@pytest.fixture(scope="session")
def forked_cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkedCli]:
    """``orchestra`` command lines, each a process forked from one that imported the CLI.

    What :func:`run_cli` gives without two seconds of imports per command line; see
    tests/forked_cli.py for what it keeps and when to use :func:`run_cli` instead.
    """
    with ForkedCli(tmp_path_factory.mktemp("forked-cli")) as server:
        yield server

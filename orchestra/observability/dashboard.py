"""``orchestra dashboard``: a local Arize Phoenix that the team's runs are traced to.

Phoenix runs offline and on loopback only: no telemetry, no external resources, its
assistant agent (and its server-side bash, web and GitHub tools) off, its gRPC receiver
off (see :mod:`orchestra.observability.phoenix_server`). While it runs, a small file in
``$ORCHESTRA_HOME`` tells teams in other processes where it is, so runs go there over
OTLP HTTP without further set-up (unless the user configured tracing in code or with the
``OTEL_*`` variables). A file left behind by a dashboard that did not stop cleanly (its
Phoenix gone, or no longer answering) is noticed and removed by whoever reads it next.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from pydantic import BaseModel

from orchestra.core.errors import ConfigError
from orchestra.core.home import orchestra_home
from orchestra.observability import phoenix_server
from orchestra.observability.phoenix_server import PARENT_ENV

__all__ = [
    "DashboardInfo",
    "DashboardStopped",
    "PhoenixProcess",
    "phoenix_environment",
    "running_dashboard",
    "start_phoenix",
    "stop_on_signals",
]

DEFAULT_PORT = 6006
READY_LINE = "Uvicorn running on"
_RUN_SERVER = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"
"""Run phoenix_server.py as a script: ``-m`` would import all of orchestra first (seconds)."""
PROBE_TIMEOUT_S = 1.0
"""How long to wait for a dashboard's port to accept a connection (it is on loopback)."""


class DashboardInfo(BaseModel):
    """Where a running dashboard listens (written to ``$ORCHESTRA_HOME/dashboard.json``)."""

    url: str
    pid: int

    @property
    def traces_endpoint(self) -> str:
        """The OTLP HTTP endpoint for spans."""
        return f"{self.url}/v1/traces"


def _info_path() -> Path:
    return orchestra_home() / "dashboard.json"


def running_dashboard() -> DashboardInfo | None:
    """The dashboard started by ``orchestra dashboard`` for this home, if it still serves.

    A ``dashboard.json`` whose Phoenix has exited, or whose port no longer accepts
    connections, is stale: it is removed and None returned.
    """
    path = _info_path()
    try:
        text = path.read_text()
    except OSError:
        return None
    try:
        info = DashboardInfo.model_validate_json(text)
    except ValueError:
        _forget(path, text)
        return None
    if not (_alive(info.pid) and _answers(info.url)):
        _forget(path, text)
        return None
    return info


def _forget(path: Path, stale: str) -> None:
    """Remove a stale ``dashboard.json``, unless a new dashboard wrote it meanwhile."""
    with suppress(OSError):
        if path.read_text() == stale:
            path.unlink()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: trust the signal
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _answers(url: str) -> bool:
    """Whether something accepts connections at ``url``'s host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 80), timeout=PROBE_TIMEOUT_S
        ):
            return True
    except OSError:
        return False


class DashboardStopped(Exception):  # noqa: N818 (a request to stop, not an error)
    """``orchestra dashboard`` received SIGTERM or SIGHUP (see :func:`stop_on_signals`)."""


@contextmanager
def stop_on_signals(
    signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGHUP),
) -> Iterator[None]:
    """Raise :class:`DashboardStopped` in the main thread at the first of ``signals``.

    So a dashboard stopped by a service manager, ``kill`` or a closed terminal stops its
    Phoenix as Ctrl-C does (their default is to end the process at once, leaving Phoenix
    running). Later signals are ignored while the block stops what it started. Use it
    in the main thread only (where Python runs signal handlers).
    """
    stopping = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise DashboardStopped(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def phoenix_environment(port: int, working_dir: Path) -> dict[str, str]:
    """The environment that keeps Phoenix on loopback, offline and quiet."""
    return {
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_WORKING_DIR": str(working_dir),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
        "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
        "PHOENIX_AGENTS_DISABLE_BASH": "true",
        "PHOENIX_AGENTS_DISABLE_WEB_ACCESS": "true",
        "PHOENIX_AGENTS_DISABLE_GITHUB": "true",
    }


@dataclass
class PhoenixProcess:
    """A started Phoenix server."""

    process: subprocess.Popen[str]
    info: DashboardInfo

    def stop(self, timeout_s: float = 20) -> None:
        """Stop the server (killed if it has not exited after ``timeout_s``) and forget it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if running_dashboard() in (None, self.info):
            _info_path().unlink(missing_ok=True)


def start_phoenix(
    port: int = DEFAULT_PORT, working_dir: Path | None = None, *, log: Path | None = None
) -> PhoenixProcess:
    """Start Phoenix, wait until it serves, and record where it is.

    If anything interrupts the wait (Ctrl-C, :class:`DashboardStopped`), Phoenix is
    stopped before the exception goes on.

    Raises:
        ConfigError: Phoenix is not installed (``pip install 'orchestra-teams[dashboard]'``),
            a dashboard of this home already serves, the port is taken, or Phoenix exited
            before it was ready.
    """
    if importlib.util.find_spec("phoenix.server") is None:
        raise ConfigError(
            "the dashboard needs Arize Phoenix: pip install 'orchestra-teams[dashboard]'"
        )
    running = running_dashboard()  # also forgets a stale one
    if running is not None:
        raise ConfigError(
            f"a dashboard of {orchestra_home()} already runs at {running.url}"
            f" (Phoenix pid {running.pid}); use it, or stop it with: kill {running.pid}"
        )
    if _answers(f"http://127.0.0.1:{port}"):
        raise ConfigError(f"port {port} on 127.0.0.1 is already in use; choose another with --port")
    home = orchestra_home()
    home.mkdir(parents=True, exist_ok=True)
    working_dir = working_dir or home / "phoenix"
    working_dir.mkdir(parents=True, exist_ok=True)
    log = log or home / "phoenix.log"
    env = os.environ | phoenix_environment(port, working_dir) | {PARENT_ENV: str(os.getpid())}
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN_SERVER, phoenix_server.__file__],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    info = DashboardInfo(url=f"http://127.0.0.1:{port}", pid=process.pid)
    started = PhoenixProcess(process, info)
    try:
        _wait_until_ready(process, log)
    except BaseException:
        started.stop()
        raise
    _drain(process, log)
    _info_path().write_text(info.model_dump_json())
    return started


def _wait_until_ready(process: subprocess.Popen[str], log: Path) -> None:
    assert process.stdout is not None
    with log.open("w") as sink:
        for line in process.stdout:
            sink.write(line)
            if READY_LINE in line:
                return
    process.wait()
    raise ConfigError(f"Phoenix exited ({process.returncode}) before it was ready; see {log}")


def _drain(process: subprocess.Popen[str], log: Path) -> None:
    """Keep reading Phoenix's output into the log so its pipe never fills up."""

    def copy() -> None:
        assert process.stdout is not None
        with log.open("a") as sink:
            for line in process.stdout:
                sink.write(line)
                sink.flush()

    threading.Thread(target=copy, daemon=True).start()

"""``orchestra dashboard``: a local Arize Phoenix that the team's runs are traced to.

Phoenix runs offline and on loopback only: no telemetry, no external resources, its
assistant agent (and its server-side bash, web and GitHub tools) off, its gRPC receiver
off (see :mod:`orchestra.observability.phoenix_server`). While it runs, a small file in
``$ORCHESTRA_HOME`` tells teams in other processes where it is, so runs go there over
OTLP HTTP without further set-up (unless ``OTEL_TRACES_EXPORTER`` says otherwise).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from orchestra.core.errors import ConfigError
from orchestra.core.home import orchestra_home

__all__ = [
    "DashboardInfo",
    "PhoenixProcess",
    "phoenix_environment",
    "running_dashboard",
    "start_phoenix",
]

DEFAULT_PORT = 6006
READY_LINE = "Uvicorn running on"


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
    """The dashboard started by ``orchestra dashboard`` for this home, if still alive."""
    path = _info_path()
    try:
        info = DashboardInfo.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by someone else
    return info


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
        """Stop the server and forget it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if running_dashboard() is None or running_dashboard() == self.info:
            _info_path().unlink(missing_ok=True)


def start_phoenix(
    port: int = DEFAULT_PORT, working_dir: Path | None = None, *, log: Path | None = None
) -> PhoenixProcess:
    """Start Phoenix, wait until it serves, and record where it is.

    Raises:
        ConfigError: Phoenix is not installed (``pip install 'orchestra-teams[dashboard]'``)
            or it exited before it was ready.
    """
    if importlib.util.find_spec("phoenix.server") is None:
        raise ConfigError(
            "the dashboard needs Arize Phoenix: pip install 'orchestra-teams[dashboard]'"
        )
    home = orchestra_home()
    home.mkdir(parents=True, exist_ok=True)
    working_dir = working_dir or home / "phoenix"
    working_dir.mkdir(parents=True, exist_ok=True)
    log = log or home / "phoenix.log"
    env = os.environ | phoenix_environment(port, working_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestra.observability.phoenix_server"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    with log.open("w") as sink:
        for line in process.stdout:
            sink.write(line)
            if READY_LINE in line:
                break
        else:
            process.wait()
            raise ConfigError(
                f"Phoenix exited ({process.returncode}) before it was ready; see {log}"
            )
    _drain(process, log)
    info = DashboardInfo(url=f"http://127.0.0.1:{port}", pid=process.pid)
    _info_path().write_text(info.model_dump_json())
    return PhoenixProcess(process, info)


def _drain(process: subprocess.Popen[str], log: Path) -> None:
    """Keep reading Phoenix's output into the log so its pipe never fills up."""

    def copy() -> None:
        assert process.stdout is not None
        with log.open("a") as sink:
            for line in process.stdout:
                sink.write(line)
                sink.flush()

    threading.Thread(target=copy, daemon=True).start()

"""``orchestra dashboard`` stops its Phoenix however it is stopped, and forgets stale ones.

The Phoenix here is a stand-in (``fake_phoenix/`` on ``PYTHONPATH``): the real start-up path
(``orchestra.observability.phoenix_server`` in a child process, its ready line, the
``dashboard.json``) with a tiny HTTP server in place of Phoenix, so the signals are real and
the test is cheap. ``test_phoenix.py`` runs the real Phoenix.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra.cli.main import app
from orchestra.observability.dashboard import DashboardInfo, running_dashboard
from tests.conftest import GUARD_S, ROOT, free_port

FAKE_PHOENIX = Path(__file__).parent / "fake_phoenix"


@pytest.fixture
def home(_orchestra_home: Path) -> Path:
    _orchestra_home.mkdir(parents=True, exist_ok=True)
    return _orchestra_home


def _info_file(home: Path) -> Path:
    return home / "dashboard.json"


@pytest.fixture
def dashboard(home: Path) -> Iterator[Callable[[int], subprocess.Popen[str]]]:
    """Start ``orchestra dashboard --port PORT`` (fake Phoenix) in a child process.

    Returns once it says Phoenix runs; whatever a failing test leaves running is killed.
    """
    started: list[tuple[subprocess.Popen[str], int]] = []

    def start(port: int) -> subprocess.Popen[str]:
        env = os.environ | {"PYTHONPATH": os.pathsep.join([str(FAKE_PHOENIX), str(ROOT)])}
        cli = subprocess.Popen(
            [sys.executable, "-m", "orchestra.cli", "dashboard", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        assert cli.stderr is not None
        said = cli.stderr.readline()  # blocks until the CLI speaks (or exits: "")
        info = running_dashboard()
        started.append((cli, info.pid if info else -1))
        if "Phoenix is running at" not in said:
            pytest.fail(f"orchestra dashboard did not start: {said}")
        return cli

    yield start
    for cli, phoenix_pid in started:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        if phoenix_pid > 0:
            with suppress(ProcessLookupError):
                os.kill(phoenix_pid, signal.SIGKILL)


def _wait_for_exit(pid: int) -> None:
    """Wait until process ``pid`` (not necessarily a child of ours) has exited."""
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], GUARD_S)
        assert ready, f"process {pid} is still running"
    finally:
        os.close(fd)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=GUARD_S):
            return True
    except OSError:
        return False


def _stop_and_check(cli: subprocess.Popen[str], sig: signal.Signals, home: Path) -> None:
    info = running_dashboard()
    assert info is not None
    assert info.pid != cli.pid  # Phoenix is the dashboard's child
    cli.send_signal(sig)
    _, err = cli.communicate(timeout=GUARD_S)
    assert cli.returncode == 0, err
    assert f"stopping Phoenix ({sig.name})" in err and "Traceback" not in err
    with pytest.raises(ProcessLookupError):  # stopped, and reaped by the dashboard
        os.kill(info.pid, 0)
    assert not _info_file(home).exists()
    assert not _answers(int(info.url.rsplit(":", 1)[1]))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_the_dashboard_stops_its_phoenix_on_sigterm_and_sighup(
    dashboard: Callable[[int], subprocess.Popen[str]], home: Path, sig: signal.Signals
):
    port = free_port()
    cli = dashboard(port)
    info = running_dashboard()
    assert info is not None and info.url == f"http://127.0.0.1:{port}"
    _stop_and_check(cli, sig, home)


@pytest.mark.slow
def test_a_dashboard_killed_outright_takes_its_phoenix_along_and_the_next_starts(
    dashboard: Callable[[int], subprocess.Popen[str]], home: Path
):
    port = free_port()
    cli = dashboard(port)
    info = running_dashboard()
    assert info is not None

    cli.kill()  # SIGKILL: no chance to stop Phoenix itself
    cli.wait(GUARD_S)
    _wait_for_exit(info.pid)  # Linux ends Phoenix with its parent
    assert _info_file(home).exists()  # left behind ...
    assert running_dashboard() is None  # ... noticed as stale, and cleaned
    assert not _info_file(home).exists()

    again = dashboard(port)  # the same port is free again: starts at once
    _stop_and_check(again, signal.SIGTERM, home)


def _write_info(home: Path, info: DashboardInfo | str) -> Path:
    path = _info_file(home)
    path.write_text(info if isinstance(info, str) else info.model_dump_json())
    return path


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    probe = subprocess.Popen([sys.executable, "-c", "pass"])
    probe.wait()
    return probe.pid


def test_a_stale_dashboard_file_is_noticed_and_removed(home: Path):
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        live_url = f"http://127.0.0.1:{listening.getsockname()[1]}"
        closed_url = f"http://127.0.0.1:{free_port()}"

        for stale in (
            DashboardInfo(url=live_url, pid=_dead_pid()),  # Phoenix has exited
            DashboardInfo(url=closed_url, pid=os.getpid()),  # alive, but its port is closed
            "{not json",
        ):
            path = _write_info(home, stale)
            assert running_dashboard() is None, stale
            assert not path.exists(), stale

        alive = DashboardInfo(url=live_url, pid=os.getpid())
        path = _write_info(home, alive)
        assert running_dashboard() == alive
        assert path.exists()


def test_a_second_dashboard_of_one_home_is_refused_at_once(home: Path):
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        url = f"http://127.0.0.1:{listening.getsockname()[1]}"
        _write_info(home, DashboardInfo(url=url, pid=os.getpid()))
        result = CliRunner().invoke(app, ["dashboard", "--port", str(free_port())])
    assert result.exit_code == 2
    assert f"already runs at {url}" in result.output
    assert f"kill {os.getpid()}" in result.output


def test_a_dashboard_port_in_use_is_refused_at_once(home: Path):
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        result = CliRunner().invoke(app, ["dashboard", "--port", str(port)])
    assert result.exit_code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
    assert not _info_file(home).exists()


def test_the_dashboard_help_names_the_extra_to_install():
    result = CliRunner().invoke(app, ["dashboard", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "pip install 'orchestra-teams[dashboard]'" in result.output
    assert "SIGTERM" in result.output

"""Every user error of the CLI is one line on stderr and a documented exit code.

Each row of the table in docs/reliability.md ("When the CLI fails") runs here through
the real command line, in a process of its own, with no traceback allowed on stderr. The
processes fork from one that imported the CLI once (tests/forked_cli.py), so a row
costs its command and not two seconds of imports again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orchestra.cli.errors import EXIT_BUDGET, EXIT_FAILED, EXIT_USAGE, describe
from orchestra.core.errors import BudgetExceeded, ConfigError, PlanningError
from orchestra.observability.history import RunHistory
from tests.forked_cli import ForkedCli

PLAIN = "tests/cli/teams.py:plain"


@dataclass(frozen=True)
class Row:
    """One user error: the command, the home it runs in, what stderr must say, the code."""

    name: str
    args: tuple[str, ...]
    says: str
    code: int = EXIT_USAGE
    home: str = "ok"
    env: dict[str, str] = field(default_factory=dict)


ROWS = [
    Row("no such team file", ("run", "nope.py:team", "g"), "no such file: nope.py"),
    Row("target without :name", ("run", "no-colon", "g"), "target must look like"),
    Row("no such team in the file", ("run", "tests/cli/teams.py:nope", "g"), "no attribute"),
    Row("not a team", ("run", "tests/cli/teams.py:HOSTILE", "g"), "not an orchestra Team"),
    Row("empty goal", ("run", PLAIN, ""), "the goal must be a non-empty string"),
    Row(
        "--run-id of an existing run",
        ("run", PLAIN, "g", "--run-id", "done-run"),
        "run 'done-run' already exists: continue it with `orchestra resume",
    ),
    Row(
        "MCP server that cannot start",
        ("run", "tests/cli/teams.py:missing_server", "g", "--no-live"),
        "/nonexistent/mcp-server",
    ),
    Row(
        "budget spent (before a plan)",
        ("run", PLAIN, "g", "--max-model-calls", "0", "--json"),
        "",
        EXIT_BUDGET,
    ),
    Row("resume an unknown run", ("resume", PLAIN, "nope"), "no checkpointed run"),
    Row("approve an unknown run", ("approve", PLAIN, "nope"), "no checkpointed run"),
    Row("reject an unknown run", ("reject", PLAIN, "nope", "--reason", "x"), "no checkpointed"),
    Row("show an unknown run", ("runs", "show", "nope"), "no run 'nope'"),
    Row("report an unknown run", ("report", "nope"), "no run 'nope'"),
    Row("report a run with no record", ("report", "no-record"), "has no run record yet"),
    Row(
        "report into a missing folder",
        ("report", "done-run", "-o", "/nonexistent/dir/run.html"),
        "cannot use /nonexistent/dir/run.html",
    ),
    Row("graph of a missing team", ("graph", "nope.py:team"), "no such file"),
    Row("eval without its file", ("eval", "plan", "--dags", "/nope.jsonl"), "/nope.jsonl"),
    Row("bench without its file", ("bench", "replay", "--dags", "/nope.jsonl"), "/nope.jsonl"),
    Row(
        "bench with a bad latency",
        ("bench", "replay", "--dags", "/nope.jsonl", "--tool-latency", "zz"),
        "latency 'zz'",
    ),
    Row(
        "memory store path is a file",
        ("memory", "search", "q", "--path", "{home}/runs.db"),
        "cannot use",
    ),
]
# The broken run store, for every command that uses it.
_STORE_COMMANDS = {
    "run": ("run", PLAIN, "g", "--no-live"),
    "resume": ("resume", PLAIN, "done-run"),
    "runs list": ("runs", "list"),
    "runs show": ("runs", "show", "done-run"),
    "report": ("report", "done-run", "-o", "{tmp}/run.html"),
}
ROWS += [
    Row(f"runs.db is not a database: {c}", a, "is not a usable SQLite database", home="garbage")
    for c, a in _STORE_COMMANDS.items()
]
ROWS += [
    Row(f"ORCHESTRA_HOME is a file: {c}", a, "is a file, not a folder", home="file")
    for c, a in _STORE_COMMANDS.items()
]
ROWS += [
    Row(f"read-only ORCHESTRA_HOME: {c}", a, "cannot write the run store", home="read-only")
    for c, a in _STORE_COMMANDS.items()
    if c in ("run", "resume")
]


@pytest.fixture(scope="module")
def homes(
    tmp_path_factory: pytest.TempPathFactory, forked_cli: ForkedCli
) -> Iterator[dict[str, Path]]:
    """A home with a finished run, a garbage runs.db, a file, and a read-only home."""
    base = tmp_path_factory.mktemp("homes")
    ok = base / "ok"
    done = forked_cli.run("run", PLAIN, "g", "--json", "--run-id", "done-run", env_extra=_env(ok))
    assert done.returncode == 0, done.stderr
    RunHistory(ok / "runs.db").started("no-record", team="plain", goal="g")
    garbage = base / "garbage"
    garbage.mkdir()
    (garbage / "runs.db").write_bytes(b"this is not a database, it only says it is\n")
    (base / "file").write_text("a file where a folder should be\n")
    read_only = base / "read-only"
    shutil.copytree(ok, read_only)
    unmount = _make_read_only(read_only)
    try:
        yield {"ok": ok, "garbage": garbage, "file": base / "file", "read-only": read_only}
    finally:
        unmount()


def _make_read_only(folder: Path) -> object:
    """``folder`` read-only for this process: chmod, or as root a read-only bind mount."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    mount = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True, check=False
    )
    if mount.returncode != 0 or os.access(folder, os.W_OK):
        pytest.skip(f"cannot make a folder read-only as root here: {mount.stderr!r}")
    return lambda: subprocess.run(["umount", str(folder)], check=False)


def _env(home: Path) -> dict[str, str]:
    return {"ORCHESTRA_HOME": str(home), "ORCHESTRA_DEBUG": "", "COLUMNS": "200"}


def _call(row: Row, homes: dict[str, Path]) -> tuple[tuple[str, ...], dict[str, str]]:
    home = homes[row.home]
    args = tuple(a.format(home=home, tmp=home.parent) for a in row.args)
    return args, _env(home) | row.env


def test_each_user_error_is_one_line_and_its_exit_code(
    homes: dict[str, Path], forked_cli: ForkedCli
):
    garbage_before = (homes["garbage"] / "runs.db").read_bytes()
    procs = forked_cli.run_many([_call(row, homes) for row in ROWS], timeout=120)
    problems = []
    for row, proc in zip(ROWS, procs, strict=True):
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        if (
            proc.returncode != row.code
            or "Traceback" in proc.stderr
            or len(errors) != (1 if row.says else len(errors))
            or (row.says and row.says not in errors[0])
        ):
            problems.append(f"{row.name}: exit {proc.returncode}\n{proc.stderr[-1500:]}")
    assert not problems, "\n\n".join(problems)
    # nothing else was touched
    assert sorted(p.name for p in homes["garbage"].iterdir()) == ["runs.db"]
    assert (homes["garbage"] / "runs.db").read_bytes() == garbage_before
    assert homes["file"].is_file()


def test_a_read_only_home_can_still_be_read(homes: dict[str, Path], forked_cli: ForkedCli):
    env = _env(homes["read-only"])
    listed = forked_cli.run("runs", "list", env_extra=env)
    assert listed.returncode == 0 and "done-run" in listed.stdout, listed.stderr
    shown = forked_cli.run("runs", "show", "done-run", "--json", env_extra=env)
    assert shown.returncode == 0 and '"succeeded"' in shown.stdout, shown.stderr


def test_debug_shows_the_traceback(homes: dict[str, Path], forked_cli: ForkedCli):
    env = _env(homes["garbage"])
    flag = forked_cli.run("--debug", "runs", "list", env_extra=env)
    assert flag.returncode != 0 and "Traceback" in flag.stderr
    assert "is not a usable SQLite database" in flag.stderr
    variable = forked_cli.run("runs", "list", env_extra=env | {"ORCHESTRA_DEBUG": "1"})
    assert variable.returncode != 0 and "Traceback" in variable.stderr


def test_exit_codes_of_exceptions_also_inside_groups():
    assert describe(ConfigError("mcp server 'x' did not start")).code == EXIT_USAGE
    grouped = ExceptionGroup("task group", [RuntimeError("cancelled"), ConfigError("srv")])
    assert describe(grouped) == describe(ConfigError("srv"))
    assert describe(BaseExceptionGroup("g", [BudgetExceeded("tokens")])).code == EXIT_BUDGET
    planning = describe(PlanningError("no plan", agent="planner", raw_outputs=[], errors=[]))
    assert planning.code == EXIT_FAILED and planning.line.startswith("PlanningError: no plan")
    assert describe(PermissionError(13, "Permission denied", "/x")).line == (
        "cannot use /x: Permission denied (check its permissions)"
    )
    import httpx

    down = describe(httpx.ConnectError("All connection attempts failed"))
    assert down.code == EXIT_USAGE and down.line.startswith("a server failed: ConnectError")
    bug = describe(KeyError("oops"))
    assert bug.code == EXIT_FAILED and "--debug" in bug.line

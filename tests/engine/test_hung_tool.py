"""A sync tool hung past its timeout never keeps the process from returning (issue 19.18)."""

from __future__ import annotations

import json
import textwrap
import threading
from pathlib import Path

from orchestra import RunStatus, tool
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from tests.conftest import make_team, run_cli

RETURN_BOUND_S = 120.0
"""How long the tests wait for a run to return before calling it hung (a guard only: the
run returns as soon as the tool's 0.2 s timeout has passed)."""

SCRIPT = {
    "planner": [plan(subtask("a"))],
    "role_designer": role_spec("waiter", "Wait.", ["hang"]),
    "executor": [tool_call("hang", {}), "gave up waiting"],
    "critic": verdict("pass"),
    "synthesizer": "answer",
}


def test_team_run_returns_while_a_hung_sync_tool_keeps_its_thread():
    never = threading.Event()

    @tool(timeout=0.2)
    def hang() -> str:
        """Wait for something that never comes."""
        never.wait()
        return "never"

    team, _ = make_team(dict(SCRIPT), tools=[hang], checkpointer="memory")
    results: list[object] = []
    runner = threading.Thread(target=lambda: results.append(team.run("wait")), daemon=True)
    try:
        runner.start()
        runner.join(RETURN_BOUND_S)
        assert not runner.is_alive(), "Team.run() did not return: the hung tool blocked it"
    finally:
        never.set()  # let the abandoned call end, so the test leaves no thread behind
    [result] = results
    assert result.status is RunStatus.SUCCEEDED  # type: ignore[attr-defined]
    [call] = result.tool_calls  # type: ignore[attr-defined]
    assert not call.ok and "timed out after 0.2 s" in (call.error or "")


TEAM_FILE = """
    import threading

    from orchestra import Team, tool
    from orchestra.testing import ScriptedChatModel, plan, role_spec, subtask, tool_call, verdict

    NEVER = threading.Event()


    @tool(timeout=0.2)
    def hang() -> str:
        \"\"\"Wait for something that never comes.\"\"\"
        NEVER.wait()
        return "never"


    team = Team(
        ScriptedChatModel(
            {
                "planner": [plan(subtask("a"))],
                "role_designer": role_spec("waiter", "Wait.", ["hang"]),
                "executor": [tool_call("hang", {}), "gave up waiting"],
                "critic": verdict("pass"),
                "synthesizer": "answer",
            }
        ),
        tools=[hang],
    )
"""


def test_orchestra_run_exits_while_a_hung_sync_tool_keeps_its_thread(tmp_path: Path):
    team_file = tmp_path / "hung_team.py"
    team_file.write_text(textwrap.dedent(TEAM_FILE))
    # a hang shows as subprocess.TimeoutExpired
    done = run_cli(
        "run",
        f"{team_file}:team",
        "wait for it",
        "--json",
        timeout=RETURN_BOUND_S,
        env_extra={"ORCHESTRA_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "succeeded" and record["output"] == "answer"
    assert "timed out after 0.2 s" in record["tool_calls"][0]["error"]

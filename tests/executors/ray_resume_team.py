"""A team on Ray with Postgres checkpoints, run in a child process by the resume test.

    python -m tests.executors.ray_resume_team start|resume URL RUN_ID

``start`` runs the goal; the executor of task ``c`` dies (an exception out of the run)
after its tool call, as a crashed worker would. ``resume`` continues the run in a new
process and prints the result as JSON. Every executor call is noted in
``$MODEL_CALLS_FILE`` as ``phase task``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from orchestra import Team
from orchestra.executors import RayExecutor
from orchestra.testing import (
    ScriptedCall,
    ScriptedChatModel,
    plan,
    role_spec,
    subtask,
    tool_call,
    verdict,
)
from tests.executors.ray_tools import square

NUMBERS = {"a": 3, "b": 4, "c": 5}


def _script(phase: str) -> dict[str, object]:
    def executor(call: ScriptedCall) -> object:
        task = str(call.task_id)
        with Path(os.environ["MODEL_CALLS_FILE"]).open("a") as log:
            log.write(f"{phase} {task}\n")
        results = [m for m in call.messages if m.type == "tool"]
        if not results:
            return tool_call("square", {"n": NUMBERS[task]})
        if task == "c" and phase == "start":
            raise RuntimeError("process died in c, after its tool call")
        return str(results[-1].content)

    return {
        "planner": [plan(subtask("a"), subtask("b"), subtask("c", deps=["a", "b"]))],
        "role_designer": role_spec("worker", "Do the task.", ["square"]),
        "executor": executor,
        "critic": verdict("pass"),
        "synthesizer": "squares done",
    }


def main(phase: str, url: str, run_id: str) -> int:
    executor = RayExecutor(num_cpus=2)
    team = Team(
        ScriptedChatModel(_script(phase)),
        tools=[square],
        executor=executor,
        checkpointer=url,
        history=False,
    )
    try:
        if phase == "start":
            team.run("square three numbers", run_id=run_id)
            return 0
        result = team.resume(run_id)
        print(json.dumps({"status": result.status.value, "output": result.output}))
        return 0
    finally:
        executor.shutdown()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))

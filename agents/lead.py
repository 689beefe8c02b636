"""The lead agent: answers for an inner task of the tree.

Every inner task has a lead. When the task's subtasks are done, the lead integrates their
results into the task's own result (which the critic then judges against the task's
acceptance criteria, like any executor's result).
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from orchestra.agents.calls import AgentCall, ask, message_text
from orchestra.agents.context import DEFAULT_MAX_DEPENDENCY_CHARS, describe_task
from orchestra.agents.prompts import render
from orchestra.core.errors import ModelBehaviorError
from orchestra.core.roles import RoleSpec
from orchestra.core.tree import TaskStatus, TaskTree

__all__ = ["LEAD_AGENT", "MAX_CHILD_RESULT_CHARS", "children_digest", "integrate"]

LEAD_AGENT = "lead"
"""The agent name of leads' model calls (``"lead@<task_id>"`` in a scripted model)."""

MAX_CHILD_RESULT_CHARS = 6000
"""How much of each subtask's result the lead sees (longer ones are cut with a marker)."""


def children_digest(tree: TaskTree, task_id: str) -> str:
    """The live subtasks of ``task_id``: title, id, status and result (cut when long)."""
    sections = []
    for child in tree.children(task_id, live_only=True):
        result = child.result if child.status is TaskStatus.DONE else None
        if result is None:
            body = f"(not done: {child.status.value}{': ' + child.reason if child.reason else ''})"
        elif len(result) > MAX_CHILD_RESULT_CHARS:
            cut = len(result) - MAX_CHILD_RESULT_CHARS
            body = f"{result[:MAX_CHILD_RESULT_CHARS]}\n[... {cut} more characters cut]"
        else:
            body = result
        sections.append(f"### {child.title} ({child.id})\n{body}")
    return "\n\n".join(sections)


async def integrate(
    model: BaseChatModel,
    tree: TaskTree,
    task_id: str,
    *,
    role: RoleSpec,
    feedback: str | None = None,
    max_repairs: int = 2,
    max_input_chars: int | None = DEFAULT_MAX_DEPENDENCY_CHARS,
) -> str:
    """The lead's result for inner task ``task_id``, written from its subtasks' results.

    The prompt holds the goal, the task's path from the goal, its description and
    acceptance criteria, its prerequisites' results (each cut to ``max_input_chars``),
    each live subtask's result and, on a re-integration, the critic's feedback on the
    last one.

    Raises:
        ModelBehaviorError: the reply stayed empty after ``max_repairs`` reminders.
    """
    task = tree.get(task_id)
    human = (
        f"{describe_task(tree, task, max_input_chars=max_input_chars)}\n\n"
        f"Results of your subtasks:\n\n{children_digest(tree, task_id)}"
    )
    if feedback:
        human += f"\n\nYour last result was sent back by the critic: {feedback}\nFix that."
    human += f"\n\nNow write the result of: {task.title}"
    messages: list[BaseMessage] = [
        SystemMessage(content=render("lead_integrate", instructions=role.instructions)),
        HumanMessage(content=human),
    ]
    call = AgentCall(agent=LEAD_AGENT, task_id=task_id, role=role.name)
    raw: list[str] = []
    for _ in range(max_repairs + 1):
        answer = message_text(await ask(model, messages, call)).strip()
        raw.append(answer)
        if answer:
            return answer
        messages += [
            AIMessage(content=""),
            HumanMessage(content=f"Your reply was empty. Write the result of: {task.title}"),
        ]
    raise ModelBehaviorError(
        f"lead {role.name!r} gave no result for {task_id!r}",
        agent=LEAD_AGENT,
        raw_outputs=raw,
        errors=[f"empty reply after {max_repairs} reminder(s)"],
    )

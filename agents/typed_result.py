"""Typed results: a task's result as a value of its role's ``output_type``."""

from __future__ import annotations

from typing import TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from orchestra.agents.calls import AgentCall, ask_structured, structured_runnable
from orchestra.agents.context import describe_task
from orchestra.core.output_types import OutputSpec
from orchestra.core.tree import TaskTree

__all__ = ["typed_result"]

T = TypeVar("T")

_SYSTEM = (
    "You turn a task's result into JSON under a schema. Keep every fact of the result;"
    " invent nothing; leave out what the result does not say unless the schema needs it."
)


async def typed_result(
    model: BaseChatModel,
    tree: TaskTree,
    task_id: str,
    text: str,
    output: OutputSpec[T],
    *,
    role: str | None = None,
    max_repairs: int = 2,
) -> T:
    """``text``, the executor's result for ``task_id``, as a value of ``output``'s type.

    A result already written as valid JSON of the type costs no model call; otherwise the
    model rewrites it under the type's schema (grammar-constrained on the embedded
    model), validated and repaired up to ``max_repairs`` times.

    Raises:
        ModelBehaviorError: the rewrite stayed invalid; it carries every raw reply.
    """
    value = output.parse_text(text)
    if value is not None:
        return value
    task = tree.get(task_id)
    constrained = structured_runnable(model, output.json_schema) is not None
    human = (
        f"{describe_task(tree, task, with_inputs=False)}\n\nThe result:\n{text}\n\n"
        f"{output.instructions(constrained=constrained)}"
    )
    reply = await ask_structured(
        model,
        [SystemMessage(content=_SYSTEM), HumanMessage(content=human)],
        output.reply_model,
        AgentCall(agent="executor", task_id=task_id, role=role),
        max_repairs=max_repairs,
    )
    return output.value_of(reply)

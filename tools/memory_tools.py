"""``remember`` and ``recall``: the memory as tools, with the role's scope permissions."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

from langchain_core.tools import BaseTool

from orchestra.memory import Memory, MemoryHit, MemorySource
from orchestra.tools.decorator import tool

__all__ = ["MEMORY_TOOL_NAMES", "format_hit", "memory_tools"]

MEMORY_TOOL_NAMES = ("remember", "recall")


def memory_tools(
    memory: Memory,
    *,
    team: str,
    run_id: str,
    task_id: str,
    role: str,
    read: Sequence[str],
    write: Sequence[str],
    k: int = 5,
) -> list[BaseTool]:
    """The memory tools for one attempt: they know who calls them and what it may touch."""

    @tool(side_effects=True, timeout=30, in_process=True)
    async def remember(text: str, scope: Literal["run", "team", "global"] = "run") -> str:
        """Keep a note in the team's shared memory (scope: run, team or global)."""
        if scope not in write:
            raise PermissionError(
                f"refused: role {role!r} may not write {scope!r} memories (allowed: {list(write)})"
            )
        record = await asyncio.to_thread(
            memory.add,
            text,
            team=team,
            scope=scope,
            source=MemorySource.NOTE,
            run_id=run_id,
            task_id=task_id,
            role=role,
        )
        return f"remembered as {record.id[:12]} ({scope})"

    @tool(timeout=30, in_process=True)
    async def recall(query: str) -> str:
        """Search the team's shared memory for notes and results relevant to a query."""
        hits = await asyncio.to_thread(
            memory.search, query, team=team, run_id=run_id, scopes=read, k=k
        )
        return "\n".join(format_hit(h) for h in hits) or "(nothing relevant remembered)"

    return [remember, recall]


def format_hit(hit: MemoryHit) -> str:
    """One memory with its provenance, for a prompt."""
    r = hit.record
    origin = [r.source.value]
    if r.task_id:
        origin.append(f"task {r.task_id}")
    if r.role:
        origin.append(f"role {r.role}")
    if r.run_id:
        origin.append(f"run {r.run_id[:8]}")
    if r.title:
        origin.append(f"'{r.title}'")
    return f"- [{', '.join(origin)}; score {hit.score:.2f}] {r.text}"

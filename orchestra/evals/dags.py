"""Gold task graphs in JSONL: one record a line (see ``../shared/eval/README.md``).

Each record has an ``id``, a ``goal``, the ``tools`` (name, description, JSON-schema
``parameters``, optional ``returns``) and the gold ``nodes`` (``id``, ``tool``, ``args``,
``deps``). Other fields are kept but not needed. Arguments may refer to earlier outputs as
``${nJ}`` or ``${nJ.field}``. Loading checks what the replay and the planner evaluation
rely on and names the line of every problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestra.core.errors import InputError

__all__ = [
    "DagNode",
    "DagRecord",
    "DagTool",
    "critical_path_s",
    "load_dags",
    "transitive_reduction",
]


class DagTool(BaseModel):
    """A tool a record's goal may use."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    returns: list[dict[str, Any]] = Field(default_factory=list)


class DagNode(BaseModel):
    """One gold tool call."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    tool: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)
    deps: list[str] = Field(default_factory=list)


class DagRecord(BaseModel):
    """A goal and its gold decomposition into a DAG of tool calls."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    goal: str = Field(min_length=1)
    tools: list[DagTool] = Field(default_factory=list)
    nodes: list[DagNode] = Field(min_length=1)

    def node(self, node_id: str) -> DagNode:
        """The node with ``node_id``."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(f"no node {node_id!r} in record {self.id!r}")

    def edges(self) -> list[tuple[str, str]]:
        """Dependency pairs ``(dep, node)`` as given."""
        return [(dep, node.id) for node in self.nodes for dep in node.deps]

    def problems(self) -> list[str]:
        """What makes the record unusable: duplicate ids, unknown deps, cycles."""
        ids = [n.id for n in self.nodes]
        found = [f"node id {i!r} appears twice" for i in sorted(set(ids)) if ids.count(i) > 1]
        known = set(ids)
        for node in self.nodes:
            unknown = [d for d in node.deps if d not in known]
            found += [f"node {node.id!r} depends on unknown {d!r}" for d in unknown]
            if node.id in node.deps:
                found.append(f"node {node.id!r} depends on itself")
        if not found and _order(self) is None:
            found.append("the dependencies have a cycle")
        return found

    def order(self) -> list[str]:
        """Node ids in a dependency order (deps first, then source order)."""
        ordered = _order(self)
        assert ordered is not None, "validated records have no cycles"
        return ordered


def _order(record: DagRecord) -> list[str] | None:
    deps = {n.id: [d for d in n.deps if d != n.id] for n in record.nodes}
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(deps):
        ready = [i for i in deps if i not in placed and all(d in placed for d in deps[i])]
        if not ready:
            return None
        done.extend(ready)
        placed.update(ready)
    return done


def load_dags(path: str | Path, *, limit: int | None = None) -> list[DagRecord]:
    """The records of a JSONL file (blank lines skipped), the first ``limit`` of them.

    Raises:
        InputError: the file cannot be read, or a line is not a valid record (the message
            names the line and what is wrong).
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    return _parse(lines, str(path), limit)


def _parse(lines: Iterable[str], where: str, limit: int | None) -> list[DagRecord]:
    records: list[DagRecord] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if limit is not None and len(records) >= limit:
            break
        try:
            record = DagRecord.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise InputError(f"{where}:{number}: not a task-graph record: {exc}") from exc
        problems = record.problems()
        if record.id in seen:
            problems.append(f"record id {record.id!r} appears twice in the file")
        if problems:
            raise InputError(f"{where}:{number} ({record.id}): {'; '.join(problems)}")
        seen.add(record.id)
        records.append(record)
    if not records:
        raise InputError(f"{where}: no records")
    return records


def critical_path_s(record: DagRecord, latency: Mapping[str, float]) -> float:
    """The longest dependency chain, summing each node's own latency."""
    finish: dict[str, float] = {}
    for node_id in record.order():
        node = record.node(node_id)
        start = max((finish[d] for d in node.deps), default=0.0)
        finish[node_id] = start + latency[node_id]
    return max(finish.values())


def transitive_reduction(edges: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """``edges`` without those implied by a longer path (of a DAG)."""
    pairs = set(edges)
    succ: dict[str, set[str]] = {}
    for a, b in pairs:
        succ.setdefault(a, set()).add(b)

    def reachable(start: str, skip: tuple[str, str]) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            here = stack.pop()
            for nxt in succ.get(here, ()):
                if (here, nxt) == skip or nxt in seen:
                    continue
                seen.add(nxt)
                stack.append(nxt)
        return seen

    return {(a, b) for a, b in pairs if b not in reachable(a, (a, b))}

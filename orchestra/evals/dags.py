"""Gold task graphs in JSONL: one record a line (see ``../shared/eval/README.md``).

Each record has an ``id``, a ``goal``, the ``tools`` (name, description, JSON-schema
``parameters``, optional ``returns``) and the gold ``nodes`` (``id``, ``tool``, ``args``,
``deps``). Other fields are kept but not needed. Arguments may refer to earlier outputs as
``${nJ}`` or ``${nJ.field}``; a node referred to must be one the node depends on.
Loading checks what the replay and the planner evaluation rely on and names the line of
every problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from orchestra.core.errors import InputError
from orchestra.evals.jsonl import parse_line, read_lines, validation_problems

__all__ = [
    "DagNode",
    "DagRecord",
    "DagTool",
    "critical_path_s",
    "load_dags",
    "transitive_reduction",
]

_REFERENCE = re.compile(r"\$\{([^}]*)\}")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Name = Annotated[str, Field(min_length=1), AfterValidator(_not_blank)]
"""An id, a goal or a tool name: a string with something besides white space."""


class DagTool(BaseModel):
    """A tool a record's goal may use."""

    model_config = ConfigDict(extra="allow")

    name: Name
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    returns: list[dict[str, Any]] = Field(default_factory=list)


class DagNode(BaseModel):
    """One gold tool call."""

    model_config = ConfigDict(extra="allow")

    id: Name
    tool: Name
    args: dict[str, Any] = Field(default_factory=dict)
    deps: list[str] = Field(default_factory=list)


class DagRecord(BaseModel):
    """A goal and its gold decomposition into a DAG of tool calls."""

    model_config = ConfigDict(extra="allow")

    id: Name
    goal: Name
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
        """What makes the record unusable: duplicate ids, unknown deps, cycles, references.

        A reference (``${nJ}``, ``${nJ.field}``) naming a node of the record must name a
        node it depends on (in ``deps``, or further up): otherwise the output it needs may
        not exist yet. A reference naming no node is left as text.
        """
        ids = [n.id for n in self.nodes]
        found = [f"node id {i!r} appears twice" for i in sorted(set(ids)) if ids.count(i) > 1]
        known = set(ids)
        for node in self.nodes:
            unknown = [d for d in node.deps if d not in known]
            found += [f"node {node.id!r} depends on unknown {d!r}" for d in unknown]
            if node.id in node.deps:
                found.append(f"node {node.id!r} depends on itself")
        if found:
            return found
        if _order(self) is None:
            return ["the dependencies have a cycle"]
        deps_of = {n.id: n.deps for n in self.nodes}
        for node in self.nodes:
            for text, referred in _references(node.args, known):
                if referred not in node.deps and not _reaches(deps_of, node.id, referred):
                    found.append(
                        f"node {node.id!r} refers to {text!r} but does not depend on {referred!r}"
                    )
        return found

    def order(self) -> list[str]:
        """Node ids in a dependency order (deps first, then source order)."""
        ordered = _order(self)
        assert ordered is not None, "validated records have no cycles"
        return ordered


def _reaches(deps_of: Mapping[str, list[str]], start: str, target: str) -> bool:
    """Whether ``start`` depends on ``target``, directly or through other nodes."""
    seen: set[str] = set()
    stack = list(deps_of[start])
    while stack:
        here = stack.pop()
        if here == target:
            return True
        if here not in seen:
            seen.add(here)
            stack.extend(deps_of[here])
    return False


def _references(value: Any, ids: set[str]) -> Iterator[tuple[str, str]]:
    """Each reference in ``value`` that names a node of ``ids``, and that node.

    Node ids may hold dots: the longest id the reference starts with (followed by a dot
    or the end) is the node.
    """
    if isinstance(value, dict):
        for item in value.values():
            yield from _references(item, ids)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item, ids)
    elif isinstance(value, str) and "${" in value:
        for match in _REFERENCE.finditer(value):
            inner = match.group(1)
            named = [i for i in ids if inner == i or inner.startswith(f"{i}.")]
            if named:
                yield match.group(0), max(named, key=len)


def _order(record: DagRecord) -> list[str] | None:
    """Node ids by ASAP level, in source order within a level; None on a cycle.

    Linear in nodes and edges (a deep chain of thousands of nodes loads at once).
    """
    deps = {n.id: {d for d in n.deps if d != n.id} for n in record.nodes}
    after: dict[str, set[str]] = {}
    for node_id, before in deps.items():
        for dep in before:
            after.setdefault(dep, set()).add(node_id)
    ordered = _topological(deps, after)
    if ordered is None:
        return None
    level: dict[str, int] = {}
    for here in ordered:
        level[here] = max((level[d] + 1 for d in deps[here]), default=0)
    position = {i: k for k, i in enumerate(deps)}
    return sorted(deps, key=lambda i: (level[i], position[i]))


def _topological(nodes: Iterable[str], succ: Mapping[str, set[str]]) -> list[str] | None:
    """``nodes`` so that each comes after every node with an edge to it; None on a cycle.

    Kahn's algorithm, linear in nodes and edges; ``succ`` maps a node to its successors.
    """
    waiting = dict.fromkeys(nodes, 0)
    for targets in succ.values():
        for target in targets:
            waiting[target] += 1
    order = [n for n, k in waiting.items() if k == 0]
    for here in order:
        for nxt in succ.get(here, ()):
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                order.append(nxt)
    return order if len(order) == len(waiting) else None


def load_dags(path: str | Path, *, limit: int | None = None) -> list[DagRecord]:
    """The records of a JSONL file (blank lines skipped), the first ``limit`` of them.

    Raises:
        InputError: the file cannot be read, or a line is not a valid record (the message
            names the line and what is wrong).
    """
    return _parse(read_lines(path), str(path), limit)


def _parse(lines: Iterable[str], where: str, limit: int | None) -> list[DagRecord]:
    records: list[DagRecord] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if limit is not None and len(records) >= limit:
            break
        data = parse_line(line, where, number, what="not a task-graph record: ")
        if not isinstance(data, dict):
            raise InputError(f"{where}:{number}: not a task-graph record: not a JSON object")
        try:
            record = DagRecord.model_validate(data)
        except ValidationError as exc:
            raise InputError(
                f"{where}:{number}: not a task-graph record: {validation_problems(exc)}"
            ) from exc
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
    """``edges`` without those implied by a longer path (of a DAG).

    Reachability sets as bit masks, built in reverse topological order: fast on dense
    graphs of hundreds of nodes. Edges with a cycle are reduced by search instead.
    """
    pairs = set(edges)
    succ: dict[str, set[str]] = {}
    for a, b in pairs:
        succ.setdefault(a, set()).add(b)
    order = _topological(dict.fromkeys(n for pair in pairs for n in pair), succ)
    if order is None:
        return _reduction_by_search(pairs, succ)
    bit = {n: 1 << i for i, n in enumerate(order)}
    reach: dict[str, int] = {}
    for here in reversed(order):
        mask = 0
        for nxt in succ.get(here, ()):
            mask |= bit[nxt] | reach[nxt]
        reach[here] = mask
    implied = {a: _union(reach[c] for c in succ[a]) for a in succ}
    return {(a, b) for a, b in pairs if not implied[a] & bit[b]}


def _union(masks: Iterable[int]) -> int:
    out = 0
    for mask in masks:
        out |= mask
    return out


def _reduction_by_search(
    pairs: set[tuple[str, str]], succ: Mapping[str, set[str]]
) -> set[tuple[str, str]]:
    """:func:`transitive_reduction` by a search per edge (any graph, slower)."""

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

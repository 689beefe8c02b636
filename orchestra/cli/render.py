"""Showing a run in the terminal with rich."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from orchestra.core.events import Event
from orchestra.core.record import RunResult
from orchestra.core.tree import ROOT_ID, TaskNode, TaskStatus, TaskTree

__all__ = ["event_line", "tree_view"]

_STYLE = {
    TaskStatus.DONE: "green",
    TaskStatus.FAILED: "red",
    TaskStatus.SKIPPED: "yellow",
    TaskStatus.RUNNING: "cyan",
}


def event_line(event: Event) -> Text:
    """One line describing ``event``."""
    at = event.at.strftime("%H:%M:%S.%f")[:-3]
    fields = event.model_dump(exclude={"run_id", "at", "type"})
    detail = " ".join(f"{k}={_short(v)}" for k, v in fields.items())
    return Text.assemble((f"{at} ", "dim"), (f"{event.type:<14}", "bold"), detail)


def _short(value: object, limit: int = 60) -> str:
    text = str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tree_view(result: RunResult) -> Tree:
    """The task tree with status, role, executions and timing per node."""
    tree = result.tree
    root = Tree(Text(f"{result.status.value}: {tree.goal}", style="bold"))
    _add_children(root, tree, ROOT_ID)
    return root


def _add_children(branch: Tree, tree: TaskTree, parent_id: str) -> None:
    for node in _display_order(tree.children(parent_id)):
        label = Text(f"{node.id} ", style="bold")
        label.append(f"[{node.status.value}]", style=_STYLE.get(node.status, ""))
        label.append(f" {node.title}")
        if node.role:
            label.append(f"  role={node.role}", style="dim")
        if node.executions:
            label.append(f" runs={node.executions}", style="dim")
        if node.started_at and node.finished_at:
            secs = (node.finished_at - node.started_at).total_seconds()
            label.append(f" {secs:.2f}s", style="dim")
        if node.depends_on:
            label.append(f" after {', '.join(node.depends_on)}", style="dim")
        if node.replaced_by:
            label.append(f" → replaced by {', '.join(node.replaced_by)}", style="magenta")
        _add_children(branch.add(label), tree, node.id)


def print_result(console: Console, result: RunResult) -> None:
    """The tree, then the answer or the reason the run failed."""
    console.print(tree_view(result))
    if result.output:
        console.rule("answer")
        console.print(result.output)
    if result.reason:
        console.print(Text(f"reason: {result.reason}", style="red"))


def _display_order(nodes: list[TaskNode]) -> list[TaskNode]:
    """Creation order, except that replacements follow the task they replaced."""
    by_replaced: dict[str, list[TaskNode]] = {}
    for node in nodes:
        if node.replaces is not None:
            by_replaced.setdefault(node.replaces, []).append(node)
    present = {n.id for n in nodes}
    out: list[TaskNode] = []

    def place(node: TaskNode) -> None:
        out.append(node)
        for replacement in by_replaced.get(node.id, []):
            place(replacement)

    for node in nodes:
        if node.replaces is None or node.replaces not in present:
            place(node)
    return out

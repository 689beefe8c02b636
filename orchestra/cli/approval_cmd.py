"""Deciding on a paused run from the command line: options, prompts and their display."""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from collections.abc import Sequence
from pathlib import Path

import click
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from orchestra.agents.calls import validation_messages
from orchestra.core.action_tree import ProposedAlternative
from orchestra.core.approval import (
    ApprovalRequest,
    Approve,
    ArgsCheck,
    Decision,
    EditArgs,
    EditPlan,
    Reject,
    unfit_args,
)
from orchestra.core.errors import InputError
from orchestra.core.plan import DraftTask, PlanDraft, walk_tasks
from orchestra.observability.terminal import clean, one_line, safe_text

__all__ = [
    "approval_decision",
    "ask_decisions",
    "decision_from_text",
    "edit_from_json",
    "edit_text",
    "plan_decision",
    "plan_text",
    "print_pending",
    "shell_word",
    "tool_decision",
]


def print_pending(console: Console, pending: Sequence[ApprovalRequest]) -> None:
    """What a paused run waits for: the plan as a tree, tool calls with their arguments."""
    for request in pending:
        console.rule(Text(f"waiting for approval: {one_line(request.id)}"))
        if request.plan is not None:
            tree = Tree(safe_text(request.summary, style="bold"))
            _plan_branch(tree, request.plan.tasks)
            console.print(tree)
            if request.alternatives:
                _print_alternatives(console, request.alternatives)
        else:
            console.print(safe_text(request.summary))
            # json.dumps writes control characters as \uXXXX escapes: nothing raw gets out
            console.print_json(json.dumps(request.args, default=str))


def _plan_branch(branch: Tree, tasks: Sequence[DraftTask]) -> None:
    for task in tasks:
        label = Text(f"{one_line(task.id)} ", style="bold")
        label.append(one_line(task.title))
        if task.depends_on:
            label.append(f"  after {one_line(', '.join(task.depends_on))}", style="dim")
        node = branch.add(label)
        node.add(safe_text(task.description, style="dim"))
        _plan_branch(node, task.subtasks)


def _print_alternatives(console: Console, alternatives: Sequence[ProposedAlternative]) -> None:
    tree = Tree(Text("alternatives, in the order they would be tried", style="bold"))
    tree.add(Text("what a task the critic sends back becomes before a new plan", style="dim"))
    for n, proposal in enumerate(alternatives, 1):
        branch = tree.add(Text(f"{n}. instead of {one_line(proposal.instead_of)}"))
        _plan_branch(branch, proposal.tasks)
    console.print(tree)


def edit_from_json(text: str, shown: PlanDraft | None = None) -> EditPlan:
    """An :class:`EditPlan` from a plan as JSON, as :func:`plan_text` shows it.

    ``{"tasks": [...]}``, with the alternatives to keep under ``"alternatives"`` (left
    out: those of the tasks left as they were; ``[]``: none). ``shown``: the plan the
    person edited; the alternatives of its tasks the edit removed go with them (an
    alternative naming a task no plan had stays, to be refused as a typo).

    Raises:
        InputError: the JSON is not an object, or not a plan (each problem as
            ``where: what``).
        ValueError: not JSON.
    """
    data = json.loads(text)
    if not isinstance(data, dict):
        raise InputError('a plan is a JSON object with its tasks under "tasks"')
    unknown = sorted(set(data) - {"tasks", "keep", "alternatives"})
    if unknown:
        raise InputError(
            f'unknown key(s) {unknown}: a plan has "tasks" (and "keep"), with its'
            ' alternatives under "alternatives"'
        )
    given = data.pop("alternatives", None)
    try:
        edit = EditPlan.model_validate({"plan": data, "alternatives": given})
    except ValidationError as exc:
        raise InputError("; ".join(validation_messages(exc))) from exc
    if shown is None or not edit.alternatives:
        return edit
    kept = _without_removed(edit.alternatives, shown, edit.plan)
    return edit.model_copy(update={"alternatives": kept})


def _without_removed(
    alternatives: Sequence[ProposedAlternative], shown: PlanDraft, edited: PlanDraft
) -> list[ProposedAlternative]:
    """``alternatives`` but those of tasks ``shown`` had and ``edited`` no longer has.

    One naming a task neither has stays, to be refused as a typo.
    """
    had = {t.id for t in walk_tasks(shown.tasks)}
    has = {t.id for t in walk_tasks(edited.tasks)}
    return [a for a in alternatives if a.instead_of in has or a.instead_of not in had]


def plan_text(request: ApprovalRequest) -> str:
    """The plan of a plan request as JSON to edit, with its alternatives if it keeps any."""
    assert request.plan is not None
    data = request.plan.model_dump(mode="json", exclude_none=True)
    if request.alternatives is not None:
        data["alternatives"] = [a.model_dump(mode="json") for a in request.alternatives]
    return json.dumps(data, indent=2)


def plan_decision(
    plan: PlanDraft,
    *,
    plan_file: Path | None = None,
    drop: Sequence[str] = (),
    reword: Sequence[str] = (),
    add: Sequence[str] = (),
) -> Decision:
    """Approve, or an :class:`EditPlan` built from a plan file and/or edit options.

    ``reword`` items are ``ID=NEW TITLE``; ``add`` items are ``ID=TITLE`` (a new top-level
    task whose description is its title; use a plan file for more).

    Raises:
        InputError: an unreadable plan file, a malformed option or an unknown task id.
    """
    if plan_file is None and not (drop or reword or add):
        return Approve()
    alternatives: list[ProposedAlternative] | None = None
    if plan_file is not None:
        try:
            edit = edit_from_json(plan_file.read_text(), shown=plan)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot use {plan_file} as a plan: {exc}") from exc
        plan, alternatives = edit.plan, edit.alternatives
    try:
        before_drops = plan
        for task_id in drop:
            plan = plan.without(task_id)
        if alternatives is not None:  # a dropped task's alternatives go with it
            alternatives = _without_removed(alternatives, before_drops, plan)
        for item in reword:
            task_id, title = _pair(item, "--reword")
            plan = plan.reworded(task_id, title=title)
        for item in add:
            task_id, title = _pair(item, "--add")
            plan = plan.with_task(DraftTask(id=task_id, title=title, description=title))
    except KeyError as exc:
        raise InputError(str(exc.args[0])) from exc
    except ValidationError as exc:
        raise InputError("cannot add that task: " + "; ".join(validation_messages(exc))) from exc
    return EditPlan(plan=plan, alternatives=alternatives)


def approval_decision(
    pending: ApprovalRequest,
    *,
    in_editor: bool = False,
    plan_file: Path | None = None,
    drop: Sequence[str] = (),
    reword: Sequence[str] = (),
    add: Sequence[str] = (),
    args_json: str | None = None,
    check_args: ArgsCheck | None = None,
) -> Decision:
    """The decision ``orchestra approve``'s options make for ``pending``.

    ``in_editor`` opens the plan (with its alternatives) or the arguments in ``$EDITOR``
    and takes no other edit option; plan options are for the plan, ``args_json`` for a
    tool call: the wrong kind is refused, never taken as an approval. Arguments edited
    in the editor that ``check_args`` (the team's) refuses are kept like any unusable
    edit; ones given with ``args_json`` are on the command line to fix.

    Raises:
        InputError: options of the wrong kind, an unusable edit (kept in a file the
            message names, to fix), or the editor closed without saving.
    """
    plan_edits = [
        name
        for name, given in (("--plan", plan_file), ("--drop", drop), ("--reword", reword))
        if given
    ] + (["--add"] if add else [])
    if in_editor:
        if plan_edits or args_json is not None:
            raise InputError("--edit takes no other edit option: make every change there")
        text = click.edit(edit_text(pending), extension=".json")
        if text is None:
            raise InputError("the editor was closed without saving: nothing was decided")
        try:
            decision = decision_from_text(pending, text)
            problem = unfit_args(pending, decision, check_args)
            if problem is not None:
                raise ValueError(problem)
            return decision
        except ValueError as exc:  # not JSON, or not a plan (pydantic's errors too)
            kept = _keep_edit(text)
            again = (
                f"--plan {shell_word(kept)}"
                if pending.plan is not None
                else f'--args "$(cat {shell_word(kept)})"'
            )
            raise InputError(
                f"the edit is not usable: {exc}. It is kept in {kept}: fix it and"
                f" approve with {again}"
            ) from exc
    if pending.plan is not None:
        if args_json is not None:
            raise InputError(
                f"--args is for a waiting tool call; request {pending.id!r} is the plan"
                " (edit it with --plan, --drop, --reword or --add)"
            )
        return plan_decision(pending.plan, plan_file=plan_file, drop=drop, reword=reword, add=add)
    if plan_edits:
        raise InputError(
            f"{', '.join(plan_edits)}: plan options; request {pending.id!r} is a call of"
            f" {pending.tool!r} (edit its arguments with --args)"
        )
    return tool_decision(args_json)


def shell_word(text: str) -> str:
    """``text`` as one shell word, safe to paste (no control characters)."""
    return shlex.quote(clean(text))


def _keep_edit(text: str) -> str:
    """Save a person's refused edit where they can fix it; its path."""
    fd, path = tempfile.mkstemp(prefix="orchestra-edit-", suffix=".json")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return path


def tool_decision(args_json: str | None, source: str = "--args") -> Decision:
    """Approve, or :class:`EditArgs` from a JSON object (``source`` names it in errors).

    Raises:
        InputError: the arguments are not a JSON object.
    """
    if args_json is None:
        return Approve()
    try:
        args = json.loads(args_json)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source} is not JSON: {exc}") from exc
    if not isinstance(args, dict):
        raise InputError(f"{source} must be a JSON object")
    return EditArgs(args=args)


def _pair(item: str, option: str) -> tuple[str, str]:
    task_id, sep, text = item.partition("=")
    if not sep or not task_id.strip() or not text.strip():
        raise InputError(f"{option} takes ID=TEXT, got {item!r}")
    return task_id.strip(), text.strip()


def ask_decisions(
    console: Console, pending: Sequence[ApprovalRequest], check_args: ArgsCheck | None = None
) -> dict[str, Decision]:
    """Ask a person at the terminal for a decision on each request.

    Plans: approve, reject (with a reason) or edit (the plan opens in ``$EDITOR`` as
    JSON; an invalid edit is shown and asked again). Tool calls: approve, reject or edit
    the arguments as JSON (ones ``check_args`` refuses are shown and asked again).
    """
    decisions: dict[str, Decision] = {}
    for request in pending:
        decisions[request.id] = _ask_one(console, request, check_args)
    return decisions


def _ask_one(console: Console, request: ApprovalRequest, check_args: ArgsCheck | None) -> Decision:
    draft = plan_text(request) if request.plan is not None else json.dumps(request.args)
    while True:
        question = f"{one_line(request.id)}: [a]pprove, [r]eject or [e]dit?"
        choice = typer.prompt(question, default="a").strip()[:1]
        if choice == "a":
            return Approve()
        if choice == "r":
            return Reject(reason=typer.prompt("reason").strip() or "rejected")
        if choice != "e":
            continue
        if request.plan is None:
            draft = typer.prompt("arguments (JSON)", default=draft)
        else:
            edited = click.edit(draft, extension=".json")
            if edited is None:
                console.print(safe_text("the editor was closed without saving", style="red"))
                continue
            draft = edited  # [e]dit again opens this, not the plan as first shown
        try:
            decision = decision_from_text(request, draft)
        except (InputError, ValidationError, json.JSONDecodeError) as exc:
            console.print(safe_text(f"not usable: {exc}", style="red"))
            continue
        problem = unfit_args(request, decision, check_args)
        if problem is None:
            return decision
        console.print(safe_text(f"not usable: {problem}", style="red"))


def decision_from_text(request: ApprovalRequest, text: str) -> Decision:
    """The decision a person's edit of ``request`` (as :func:`edit_text` shows it) makes.

    Raises:
        InputError, ValueError: the text is not a usable plan or arguments.
    """
    if request.plan is not None:
        return edit_from_json(text, shown=request.plan)
    return tool_decision(text, source="the edited arguments")


def edit_text(request: ApprovalRequest) -> str:
    """What a person edits for ``request``: the plan (:func:`plan_text`) or the arguments."""
    if request.plan is not None:
        return plan_text(request)
    return json.dumps(request.args, indent=2)

"""Workflow search: MCTS over an executor's trajectory (``Team(search=WorkflowSearch())``).

Instead of one attempt, the executor's next step is searched for. A node of the search
tree is a partial trajectory; an action is one executor step, the model's reply (tool
calls, or a final answer) sampled with a sample index of its own. Candidates are checked
like any model output before they count: an empty answer, a tool the role may not use,
invalid arguments, or a tool with side effects or one that needs approval (every branch
would make that call again) is rejected with the reason and never scored. A tool step's
calls run through the run's normal tool runner (and are logged and evented like any call).
A final answer is scored by the scorer given, else by the critic (pass 1, retry 0.4,
replan 0; with ``judgments`` above 1 the mean of that many sampled verdicts, the majority
kept); a partial trajectory by a greedy rollout to a final answer. Each time the model
proposes an answer counts as a vote for it (self-consistency): the result is the
best-scored answer, the most proposed among equals. When the critic scored it, its verdict
in the search is the attempt's verdict (asking it the same question again adds nothing);
with a user's scorer the critic judges the result as usual.

With ``WorkflowSearch(roles=N)`` the first action chooses who works on the task (HALO's
choice among designed agents): the task's role, and N - 1 roles the role designer proposes
when sampled again (a failed or clashing design is rejected with the reason); every step
below runs as that role (its model, tools and prompt), and the task takes the role whose
trajectory gave the chosen answer.

Bounded by the search's budget (evaluations, depth, seconds, tokens) inside the run's own.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool

from orchestra.agents.attempt_context import AttemptContext
from orchestra.agents.calls import AgentCall, ask, message_text
from orchestra.agents.critic import judge
from orchestra.core.errors import ModelBehaviorError
from orchestra.core.parsing import JSONBoundError, check_json_bounds
from orchestra.core.roles import RoleSpec
from orchestra.core.search_options import Scorer, WorkflowSearch
from orchestra.core.search_tree import (
    SearchBudget,
    SearchError,
    SearchNode,
    SearchResult,
    TreeSearch,
)
from orchestra.core.tree import Verdict
from orchestra.observability.spans import clear_cut
from orchestra.tools.invoke import ToolOutcome, argument_errors, call_tool, idempotency_key
from orchestra.tools.options import options_of

__all__ = [
    "MoreRoles",
    "RoleSetup",
    "Scorer",
    "SearchBudget",
    "SearchOutcome",
    "SearchProgress",
    "Step",
    "WorkflowSearch",
    "search_task",
]

VERDICT_SCORES = {"pass": 1.0, "retry": 0.4, "replan": 0.0}
"""How the critic's verdict on a searched answer becomes a score."""


@dataclass(frozen=True)
class RoleSetup:
    """What a role's executor steps need: the role, its model, tools and first messages."""

    role: RoleSpec
    model: BaseChatModel | Runnable[Any, BaseMessage]
    """The role's model with its tools bound natively."""
    tools: Mapping[str, BaseTool]
    """The tools the role is offered, by name."""
    messages: list[BaseMessage]
    """The messages that open an attempt by this role."""


ResultChecks = Callable[[str, Sequence[str]], Awaitable[Verdict | None]]
"""The attempt's checks on an answer, given the outputs of the tool calls made: the
verdict of the first check it fails, or None (see :mod:`orchestra.core.checks`)."""

MoreRoles = Callable[[int], Awaitable[RoleSetup | str]]
"""Sample ``n`` (from 1) of the role designer for the task: a role, or why its design
failed (the search rejects it with that reason, as the step "role: no valid design")."""


@dataclass(frozen=True)
class Step:
    """One step of a trajectory: an executor's reply (tool calls, or a final answer).

    When the search chooses roles, a trajectory's first step is the role working on it.
    """

    text: str
    calls: tuple[tuple[str, str], ...]
    """(tool, JSON arguments) of each tool call, for telling steps apart."""
    message: AIMessage | None = field(compare=False)
    index: int = field(compare=False)
    role: RoleSpec | None = None
    """The role this step chooses (a role step has no message)."""
    problem: str | None = field(default=None, compare=False)
    """Why this step cannot be explored (a role design that failed)."""

    @property
    def final(self) -> bool:
        """Whether this step is a final answer."""
        return not self.calls and self.role is None and self.problem is None

    def summary(self) -> str:
        """One line for traces."""
        if self.role is not None:
            return f"role {self.role.name}"
        if self.problem is not None:
            return "role: no valid design"
        if self.final:
            return f"answer: {clear_cut(self.text, 120)}"
        return "; ".join(f"{name}({clear_cut(args, 80)})" for name, args in self.calls)


def majority(verdicts: Sequence[Verdict]) -> Verdict:
    """The most common verdict (of a tie, the stricter one), first given of its kind."""
    counts = Counter(v.verdict for v in verdicts)
    kind = max(counts, key=lambda k: (counts[k], -VERDICT_SCORES[k]))
    return next(v for v in verdicts if v.verdict == kind)


@dataclass(frozen=True)
class SearchProgress:
    """One more trajectory scored: what a live view shows of a running search."""

    evaluations: int
    max_evaluations: int
    action: str
    """The scored step, one line (:meth:`Step.summary`)."""
    score: float
    best: float
    """The best score so far."""


def _path_key(path: Sequence[Step]) -> tuple[int, ...]:
    """What identifies a path: the indices of its steps."""
    return tuple(step.index for step in path)


@dataclass(kw_only=True)
class _Searcher:
    """The callbacks :class:`TreeSearch` needs, for one attempt."""

    setup: RoleSetup
    """The task's role, whose steps the search explores (besides those of ``more_roles``)."""
    more_roles: MoreRoles | None
    ctx: AttemptContext
    """The attempt searched (its task, limits, tool runner and observers)."""
    options: WorkflowSearch
    critic: BaseChatModel
    max_repairs: int
    on_scored: Callable[[SearchProgress], None] | None
    checks: ResultChecks | None = None
    outcomes: list[ToolOutcome] = field(default_factory=list)
    answers: dict[str, float] = field(default_factory=dict)
    """Every answer scored, with its score."""
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    """The critic's verdict on each answer it scored."""
    votes: Counter[str] = field(default_factory=Counter)
    """How often the model proposed each answer (in expansions and rollouts)."""
    drawn: Counter[tuple[int, ...]] = field(default_factory=Counter)
    """Samples drawn after each path, so a widening asks for new ones."""
    evaluated: dict[tuple[int, ...], str] = field(default_factory=dict)
    """The answer each evaluated path led to (itself, or its rollout's)."""
    fallbacks: bool = False
    notices: list[str] = field(default_factory=list)
    """What the search fell back on (with ``fallbacks``)."""
    states: dict[tuple[int, ...], list[BaseMessage]] = field(default_factory=dict)
    """The conversation after each explored path, built once per path."""
    roles: dict[str, RoleSetup] = field(default_factory=dict)
    """The roles proposed so far, by name."""
    _steps: int = 0
    _calls: int = 0
    _scored: int = 0
    _best: float = 0.0

    @property
    def chooses_roles(self) -> bool:
        """Whether the first step of a trajectory is the choice of a role."""
        return self.options.roles > 1 and self.more_roles is not None

    def working(self, path: Sequence[Step]) -> RoleSetup:
        """The role working on ``path``: the one its role step chose, else the task's."""
        if path and path[0].role is not None:
            return self.roles[path[0].role.name]
        return self.setup

    async def messages(self, path: Sequence[Step]) -> list[BaseMessage]:
        """The conversation after ``path`` (its tool calls made, once per path)."""
        if not path or path[-1].message is None:  # the start, or a role just chosen
            return list(self.working(path).messages)
        key = _path_key(path)
        if key not in self.states:
            message = path[-1].message
            history = [*await self.messages(path[:-1]), message]
            await self.run_calls(path, message, history)
            self.states[key] = history
        return list(self.states[key])

    async def run_calls(
        self, path: Sequence[Step], message: AIMessage, into: list[BaseMessage]
    ) -> None:
        """Make a step's tool calls through the run's runner; their results go ``into``."""
        setup = self.working(path)
        for call in message.tool_calls:
            self._calls += 1
            key = idempotency_key(self.ctx.key_scope, self._calls, call["name"], call["args"])
            if self.ctx.on_tool_start is not None:
                self.ctx.on_tool_start(call["name"], key)
            outcome = await call_tool(
                call["name"],
                call["args"],
                available=setup.tools,
                allowed=set(setup.role.tools),
                role=setup.role.name,
                key=key,
                call_id=call.get("id"),
                runner=self.ctx.runner,
            )
            self.outcomes.append(outcome)
            if self.ctx.on_tool_call is not None:
                maybe = self.ctx.on_tool_call(outcome)
                if maybe is not None:
                    await maybe
            into.append(ToolMessage(content=outcome.output, tool_call_id=call.get("id") or key))

    def as_step(self, reply: AIMessage) -> Step:
        """The reply as a step of a trajectory."""
        self._steps += 1
        calls = tuple(
            (c["name"], json.dumps(c["args"], sort_keys=True, default=str))
            for c in reply.tool_calls
        )
        return Step(message_text(reply).strip(), calls, reply, self._steps)

    def _call(self, path: Sequence[Step], sample: int = 0) -> AgentCall:
        role = self.working(path).role.name
        return AgentCall(agent="executor", task_id=self.ctx.task_id, role=role, sample=sample)

    async def propose(self, path: Sequence[Step], k: int) -> list[Step]:
        """``k`` next steps, sampled (each with a sample index of its own)."""
        if not path and self.chooses_roles:
            return await self.propose_roles(k)
        history = await self.messages(path)
        key = _path_key(path)
        first = self.drawn[key] + 1
        self.drawn[key] += k
        model = self.working(path).model
        replies = await asyncio.gather(
            *(ask(model, history, self._call(path, first + n)) for n in range(k))
        )
        steps = [self.as_step(reply) for reply in replies]
        self.votes.update(step.text for step in steps if step.final and step.text)
        return steps

    async def propose_roles(self, k: int) -> list[Step]:
        """The roles to start from.

        The task's and ``roles - 1`` designer samples first; ``k`` more samples each time
        the root is widened.
        """
        assert self.more_roles is not None
        steps: list[Step] = []
        if not self.drawn[()]:
            steps.append(self._role_step(self.setup))
            k = self.options.roles - 1
        first = self.drawn[()] + 1
        self.drawn[()] += k
        found = await asyncio.gather(*(self.more_roles(first + n) for n in range(k)))
        for setup in found:
            if isinstance(setup, str):
                self._steps += 1
                steps.append(Step("", (), None, self._steps, problem=setup))
            else:
                steps.append(self._role_step(setup))
        return steps

    def _role_step(self, setup: RoleSetup) -> Step:
        self.roles.setdefault(setup.role.name, setup)
        self._steps += 1
        return Step("", (), None, self._steps, role=setup.role)

    def check(self, path: Sequence[Step], step: Step) -> str | None:
        """Why ``step`` cannot be explored, or None."""
        if step.problem is not None:
            return step.problem
        if step.role is not None:
            known = self.roles.get(step.role.name)
            if known is not None and known.role != step.role:
                return f"another role is already called {step.role.name!r}"
            return None
        if step.final:
            return None if step.text else "an empty answer"
        assert step.message is not None
        setup = self.working(path)
        for call in step.message.tool_calls:
            tool = setup.tools.get(call["name"])
            if tool is None or call["name"] not in setup.role.tools:
                return f"tool {call['name']!r} is not available to role {setup.role.name!r}"
            opts = options_of(tool)
            if opts.side_effects or opts.requires_approval:
                return f"{call['name']} has side effects or needs approval: not explored"
            try:  # a provider parses arguments without a bound
                check_json_bounds(call["args"])
            except JSONBoundError as exc:
                return str(exc)
            problem = argument_errors(tool, call["args"])
            if problem:
                return problem
        return None

    @staticmethod
    def is_terminal(path: Sequence[Step]) -> bool:
        return bool(path) and path[-1].final

    async def score(self, answer: str) -> float:
        """The answer's score: the user's scorer, else the critic's verdict.

        Raises:
            SearchError: the scorer gave something other than a number.
            ModelBehaviorError: the critic's verdict stayed invalid (without fallbacks;
                with them the answer scores 0 and a notice says so).
        """
        if answer not in self.answers:
            failed = await self._checked(answer)
            if failed is not None:  # no scorer, no critic: the answer is out
                self.verdicts[answer] = failed
                self.answers[answer] = 0.0
            elif self.options.scorer is not None:
                value = self.options.scorer(answer)
                value = await value if inspect.isawaitable(value) else value
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise SearchError(f"the scorer gave {value!r}, not a number in [0, 1]")
                self.answers[answer] = float(value)
            else:
                self.answers[answer] = await self._judged(answer)
        return self.answers[answer]

    async def _checked(self, answer: str) -> Verdict | None:
        """The verdict of the first check ``answer`` fails, or None (or no checks)."""
        if self.checks is None:
            return None
        return await self.checks(answer, [o.output for o in self.outcomes if o.ok])

    async def _judged(self, answer: str) -> float:
        """The mean score of the critic's ``judgments`` verdicts; the majority is kept."""
        try:
            verdicts = await asyncio.gather(
                *(
                    judge(
                        self.critic,
                        self.ctx.tree,
                        self.ctx.task_id,
                        answer,
                        max_repairs=self.max_repairs,
                        sample=n,
                    )
                    for n in range(self.options.judgments)
                )
            )
        except ModelBehaviorError as err:
            if not self.fallbacks:
                raise
            self.notices.append(
                f"no valid verdict on a searched answer ({'; '.join(err.errors)}); scored 0"
            )
            return 0.0
        self.verdicts[answer] = majority(verdicts)
        return sum(VERDICT_SCORES[v.verdict] for v in verdicts) / len(verdicts)

    async def rollout(self, path: Sequence[Step]) -> str:
        """A greedy continuation of ``path`` to a final answer ("" if none in the steps)."""
        history = await self.messages(path)
        setup = self.working(path)
        taken = sum(1 for step in path if step.role is None)
        for _ in range(max(0, self.ctx.max_steps - taken)):
            reply = await ask(setup.model, history, self._call(path))
            step = self.as_step(reply)
            if step.final:
                if step.text:
                    self.votes[step.text] += 1
                return step.text
            if self.check(path, step) is not None:
                return ""  # a rollout never makes a call the search would not make
            history.append(reply)
            await self.run_calls(path, reply, history)
        return ""

    async def evaluate(self, path: Sequence[Step]) -> float:
        answer = path[-1].text if self.is_terminal(path) else await self.rollout(path)
        self.evaluated[_path_key(path)] = answer
        value = await self.score(answer) if answer else 0.0
        self._scored += 1
        self._best = max(self._best, value)
        if self.on_scored is not None:
            self.on_scored(
                SearchProgress(
                    evaluations=self._scored,
                    max_evaluations=self.options.budget.max_nodes,
                    action=path[-1].summary(),
                    score=value,
                    best=self._best,
                )
            )
        return value

    def reached(self, node: SearchNode[Step], answer: str | None) -> bool:
        """Whether evaluating ``node`` led to ``answer``."""
        return answer is not None and self.evaluated.get(_path_key(node.path())) == answer

    def best_answer(self) -> str | None:
        """The best-scored answer, the most proposed among equals, the first among those."""
        order = {answer: n for n, answer in enumerate(self.answers)}
        return max(
            self.answers,
            key=lambda a: (self.answers[a], self.votes[a], -order[a]),
            default=None,
        )


@dataclass(frozen=True)
class SearchOutcome:
    """What a workflow search produced for an attempt."""

    answer: str | None
    """The chosen answer; None when no trajectory reached one."""
    role: RoleSpec
    """The role whose trajectory reached ``answer`` (the task's, unless roles were chosen)."""
    node: SearchNode[Step] | None
    """The first node whose evaluation reached ``answer``."""
    verdict: Verdict | None
    """The critic's verdict on ``answer`` from the search (None with a user's scorer)."""
    votes: int
    """Times the model proposed ``answer``."""
    tool_calls: list[ToolOutcome]
    """Every tool call the search made."""
    result: SearchResult[Step]
    notices: list[str]
    """What the search fell back on (with ``fallbacks``)."""


async def search_task(
    setup: RoleSetup,
    ctx: AttemptContext,
    *,
    options: WorkflowSearch,
    more_roles: MoreRoles | None = None,
    critic: BaseChatModel,
    tokens: Callable[[], int],
    max_repairs: int = 2,
    on_scored: Callable[[SearchProgress], None] | None = None,
    fallbacks: bool = False,
    checks: ResultChecks | None = None,
) -> SearchOutcome:
    """Search for the attempt's answer: the answer chosen, its verdict, the calls and the tree.

    ``setup`` is the task's role (its model with tools bound natively, the messages that
    open the attempt); ``ctx`` the attempt (task, step limit, tool runner, idempotency
    key scope, and observers: ``on_tool_start`` hears of each tool call before it is
    made, ``on_tool_call`` of its outcome). With ``options.roles`` above 1,
    ``more_roles`` samples other roles for the first step. ``tokens`` tells what the
    attempt has spent (for the budget's token limit); ``on_scored`` hears of each
    trajectory scored. ``checks`` run on every answer before the scorer or the critic: an
    answer failing one scores 0, and costs no model call.
    """
    searcher = _Searcher(
        setup=setup,
        more_roles=more_roles,
        ctx=ctx,
        options=options,
        critic=critic,
        max_repairs=max_repairs,
        on_scored=on_scored,
        fallbacks=fallbacks,
        checks=checks,
    )
    max_steps = ctx.max_steps
    depth = min(options.budget.max_depth, max_steps) + (1 if searcher.chooses_roles else 0)
    search = TreeSearch(
        propose=searcher.propose,
        check=searcher.check,
        evaluate=searcher.evaluate,
        is_terminal=searcher.is_terminal,
        budget=options.budget.model_copy(update={"max_depth": depth}),
        seed=options.seed,
        tokens=tokens,
    )
    result = await search.run()
    answer = searcher.best_answer()
    node = next((n for n in result.nodes if searcher.reached(n, answer)), None)
    return SearchOutcome(
        answer=answer,
        role=searcher.working(node.path() if node is not None else []).role,
        node=node,
        verdict=searcher.verdicts.get(answer) if answer is not None else None,
        votes=searcher.votes[answer] if answer is not None else 0,
        tool_calls=searcher.outcomes,
        result=result,
        notices=searcher.notices,
    )

"""Everything a run needs that is not run state: models, tools, roles and limits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from pydantic import BaseModel, ConfigDict, Field

from orchestra.agents.context import DEFAULT_MAX_DEPENDENCY_CHARS
from orchestra.agents.plan_sampling import PlanChoiceMode, PlanSamplingMode
from orchestra.core.approval import Decision
from orchestra.core.checks import Check
from orchestra.core.errors import ConfigError
from orchestra.core.events import EventBase
from orchestra.core.output_types import OutputSpec
from orchestra.core.record import RunResult
from orchestra.core.roles import Role, RoleSpec
from orchestra.core.search_options import WorkflowSearch
from orchestra.core.tree import TaskNode
from orchestra.core.usage import DEFAULT_PRICES, Price
from orchestra.memory import Memory
from orchestra.memory.embeddings import shared_embedder
from orchestra.tools.dispatch import LOCAL_RUNNER, ToolRunner
from orchestra.tools.invoke import CallLog, approved_argument_errors
from orchestra.tools.registry import (
    BM25ToolRetriever,
    EmbeddingToolRetriever,
    HybridToolRetriever,
    ToolRegistry,
    ToolRetriever,
)

__all__ = [
    "DecomposeMode",
    "FailurePolicy",
    "Limits",
    "SubTeam",
    "TeamRuntime",
    "ToolRetrieval",
]

DecomposeMode = Literal["upfront", "on_demand"]
"""How the tree is made: all of it by the first plan (``upfront``), or one or two levels
first, with tasks marked to be decomposed by their leads when they are ready (``on_demand``)."""

FailurePolicy = Literal["continue", "stop"]
"""What a branch given up for good does to the run: independent branches run on and the
run ends ``partial`` (``continue``), or every running job is cancelled (``stop``)."""


class SubTeam(Protocol):
    """A team that runs tasks delegated to it (``Role(team=...)``): ``orchestra.Team``."""

    @property
    def name(self) -> str:
        """The team's name."""
        ...

    async def run_nested(
        self,
        goal: str,
        *,
        run_id: str,
        saver: BaseCheckpointSaver[Any] | None,
        decisions: Mapping[str, Decision] | None,
        sink: Callable[[EventBase], None],
    ) -> RunResult[Any]:
        """Run (or go on with) ``goal`` as run ``run_id`` inside another team's run.

        The run is checkpointed on ``saver`` (the delegating run's), so a resumed
        delegating run resumes it where it was; ``decisions`` answer the approvals it
        paused for; its events go to ``sink``. Its model calls count toward the budget
        in force where it is called.
        """
        ...


class Limits(BaseModel):
    """The bounds of a run. Every loop in the engine is bounded by one of these."""

    model_config = ConfigDict(frozen=True)

    max_depth: int = Field(default=3, ge=1, le=8)
    """Deepest level of the task tree (the goal's subtasks are level 1)."""
    max_tasks_per_level: int = Field(default=8, ge=1, le=64)
    """The most subtasks a plan may give one node (more must be grouped under parents)."""
    max_parallel: int = Field(default=4, ge=1)
    """Executor attempts running at the same time."""
    max_attempts: int = Field(default=2, ge=1)
    """Attempts per task, counting the first (the critic's ``retry`` uses the rest)."""
    max_replans_per_node: int = Field(default=1, ge=0)
    """Re-plans along one line of replacements of a task."""
    max_replans: int = Field(default=3, ge=0)
    """Re-plans in the whole run."""
    max_steps: int = Field(default=8, ge=1)
    """Model calls per executor attempt."""
    max_repairs: int = Field(default=2, ge=0)
    """Repair rounds for invalid planner, role designer or critic output."""
    max_identical_tool_calls: int = Field(default=3, ge=1)
    """The most times one task makes the same tool call (same arguments), over all its
    attempts; one more stops the task with the reason (a loop guard)."""
    max_idle_jobs: int = Field(default=30, ge=1)
    """Jobs (attempts, re-plans, role designs, budget stops) that may finish in a row
    without any task finishing; one more stops the run as stalled (a guard against loops
    no other limit names). A wide run may take more: twice the tasks that can run at once,
    when that is larger. Counted within one invocation (a run or a resume)."""
    max_escalations: int = Field(default=2, ge=0, le=8)
    """Levels a failure may climb (parent, grandparent, ...) before its branch is given up."""
    max_dependency_chars: int | None = Field(default=DEFAULT_MAX_DEPENDENCY_CHARS, ge=100)
    """The most of each prerequisite's result an executor's prompt shows; a longer one is
    cut with a marker saying how much was cut and where the whole is (None: never cut)."""


ToolRetrieval = Literal["bm25", "embeddings", "hybrid"]


def _retriever_factory(kind: ToolRetrieval) -> Callable[[Mapping[str, str]], ToolRetriever]:
    if kind == "bm25":
        return BM25ToolRetriever
    embed = shared_embedder().embed
    if kind == "embeddings":
        return lambda docs: EmbeddingToolRetriever(docs, embed)
    return lambda docs: HybridToolRetriever(
        BM25ToolRetriever(docs), EmbeddingToolRetriever(docs, embed)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamRuntime:
    """The fixed parts of a team, shared by all its runs (nothing here changes per run)."""

    model: BaseChatModel
    tools: Mapping[str, BaseTool]
    roles: Mapping[str, Role]
    models: Mapping[str, BaseChatModel] = field(default_factory=dict)
    """Named models: agent overrides (``planner``, ``role_designer``, ``critic``,
    ``synthesizer``) and models a designed role may name."""
    role_models: Mapping[str, BaseChatModel] = field(default_factory=dict)
    """Models of user roles that have their own."""
    limits: Limits = field(default_factory=Limits)
    critic: bool = True
    decompose: DecomposeMode = "on_demand"
    """Decompose tasks up front or on demand (see :data:`DecomposeMode`)."""
    leads: bool = True
    """Inner tasks have leads who integrate their subtasks' results (judged by the critic);
    False joins the results unjudged (fewer model calls)."""
    on_failure: FailurePolicy = "continue"
    """Isolate a failed branch or stop the run (see :data:`FailurePolicy`)."""
    refine_goal: bool = False
    """Refine the raw request into a task statement before planning."""
    plan_samples: int = 1
    """Plans sampled for the goal; above 1 one is chosen among them (``plan_choice``)."""
    plan_sampling: PlanSamplingMode = "parallel"
    """How the samples are drawn: parallel planner calls, or one call writing them all."""
    plan_choice: PlanChoiceMode = "critic"
    """Who chooses among the samples: the plan critic, or votes (no model call)."""
    search: WorkflowSearch | None = None
    """Workflow search for executor attempts (MCTS over their steps); None: one trajectory.
    A user role's own ``search`` takes precedence (see :meth:`search_for`)."""
    approve_plan: bool = False
    """Pause after planning until a person approves, edits or rejects the plan."""
    fallbacks: bool = False
    """Fall back to documented defaults (salvaged or single-task plans, a generic role,
    unchecked acceptance) instead of raising when model output stays invalid."""
    checks: tuple[Check, ...] = ()
    """Checks every result must pass before the critic judges it (see ``checks_for``)."""
    output: OutputSpec[Any] | None = None
    """The type of the team's answer (``Team(output_type=...)``), if it has one."""
    role_outputs: dict[str, OutputSpec[Any]] = field(default_factory=dict)
    """The types of user roles' results (``Role(output_type=...)``), by role name."""
    prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    """USD per million tokens by model-name prefix."""
    tool_top_k: int = 8
    """How many tools an agent is shown when the team has more."""
    tool_retrieval: ToolRetrieval = "bm25"
    """How the most relevant tools are found: ``bm25``, ``embeddings`` or ``hybrid``."""
    team_name: str = "orchestra-team"
    call_log: CallLog | None = None
    """Where side-effecting tool calls are logged, so resumed runs do not repeat them."""
    finished_jobs: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    """Results of jobs a resumed run found finished in its checkpoint, by job name."""
    tool_runner: ToolRunner = LOCAL_RUNNER
    """Where this run's tool calls run: the runner the team's executor opened for it."""
    memory: Memory | None = None
    """The shared memory; None runs without one."""
    memory_k: int = 4
    """Memories an executor receives automatically for its task."""
    memory_min_score: float = 0.3
    """Similarity below which a memory is not worth showing."""
    sub_teams: Mapping[str, SubTeam] = field(default_factory=dict)
    """Teams that run the tasks of roles made with ``Role(team=...)``, by role name."""
    saver: BaseCheckpointSaver[Any] | None = None
    """This run's checkpoint saver, which sub-teams' runs are checkpointed on too."""
    tool_registry: ToolRegistry | None = field(default=None, repr=False, compare=False)
    """The index over ``tools``; built from them when None or made for other tools (the
    runtime of each run is a copy of the team's: with the same tools it shares this)."""

    def __post_init__(self) -> None:
        known = self.tool_registry
        if known is None or known.source is not self.tools or known.top_k != self.tool_top_k:
            registry = ToolRegistry(
                self.tools,
                top_k=self.tool_top_k,
                retriever=_retriever_factory(self.tool_retrieval),
            )
            if len(self.tools) > self.tool_top_k:
                _ = registry.retriever  # needed by every run: indexed with the team, once
            object.__setattr__(self, "tool_registry", registry)

    @property
    def registry(self) -> ToolRegistry:
        """The index over the team's tools (see ``tool_registry``)."""
        assert self.tool_registry is not None  # set in __post_init__
        return self.tool_registry

    def tools_for(self, text: str, *, among: Iterable[str] | None = None) -> dict[str, str]:
        """The tools most relevant to ``text`` (name to description), for prompts."""
        return self.registry.descriptions(self.registry.relevant(text, among=among))

    def approved_args_problem(self, tool: str, args: Mapping[str, Any], key: str) -> str | None:
        """Why arguments a person gave for a call of ``tool`` do not fit its schema.

        None when they fit, or when the team has no tool of that name (the call is then
        refused when it is made, as any call of an unknown tool). ``key``: the call's
        idempotency key, the approval request's id.
        """
        known = self.tools.get(tool)
        return None if known is None else approved_argument_errors(known, args, key)

    def initial_roles(self) -> dict[str, RoleSpec]:
        """The user's roles as specs: the starting point of every run's roles."""
        return {name: role.spec() for name, role in self.roles.items()}

    def output_for(self, role: str | None) -> OutputSpec[Any] | None:
        """The type of ``role``'s results, if the user's role of that name has one."""
        return self.role_outputs.get(role) if role is not None else None

    def checks_for(self, role: str | None) -> tuple[Check, ...]:
        """The checks on results of ``role``: the team's, then the user role's own."""
        user_role = self.roles.get(role) if role is not None else None
        if user_role is None or not user_role.checks:
            return self.checks
        return (*self.checks, *user_role.checks)

    def model_for_agent(self, agent: str) -> BaseChatModel:
        """The model of a team agent (``planner``, ``critic``, ...): override or default."""
        return self.models.get(agent, self.model)

    def search_for(self, role: RoleSpec, task: TaskNode, attempt: int) -> WorkflowSearch | None:
        """The workflow search for attempt ``attempt`` of ``task`` by ``role``, or None.

        A user role's own options (or its ``search=False``) take precedence over the
        team's; then the options' ``applies_to`` and ``from_attempt`` decide.
        """
        user_role = self.roles.get(role.name)
        own = user_role.search if user_role is not None else None
        options = self.search if own is None else (own or None)
        if options is None or not options.applies(task, attempt):
            return None
        return options

    def model_for(self, role: RoleSpec) -> BaseChatModel:
        """The model that runs ``role``: its own, a named team model, or the default."""
        if role.model is None:
            return self.model
        if role.model.startswith("role:"):
            own = self.role_models.get(role.model.removeprefix("role:"))
            if own is not None:
                return own
        if role.model in self.models:
            return self.models[role.model]
        raise ConfigError(f"role {role.name!r} names unknown model {role.model!r}")

"""Search on a noisy model: success rate and tokens of single-shot, plan sampling, workflow search.

    python benchmarks/search.py [--instances N] [--p 0.3,0.5,...] [--critic-accuracy Q]
                                [--noisy-roles | --action-tree]
                                [--plot docs/images/search-noisy.png]

**The task family** ("code lookup"): a goal names 2-4 items (seeded per instance) and asks
for each item's secret code; a ``lookup`` tool knows the codes. The answer is right when it
reports every item's code and nothing else.

**The noisy model** (the scripted model, every reply drawn from a seeded random stream per
goal, agent, task and sample, so the strategies see the same draws where they make the
same calls). Every model sample is right with probability ``p``:

* planner: with ``p`` the right plan (one task per item); else a plan that leaves one item
  out (a valid plan, so no validation catches it);
* executor, first step: with ``p`` it calls ``lookup`` for its item; else it answers with a
  guessed code; after the lookup: with ``p`` it reports the code looked up; else a wrong one
  (so one attempt is right with about ``p**2``);
* critic (the executor's results, and the search's scores): tells right from wrong with
  accuracy ``Q`` (default 0.8): a right result passes with ``Q``, a wrong one is sent back
  with ``Q``;
* plan critic: judges each candidate plan right or wrong with accuracy ``Q`` and chooses
  the first best-scored; the synthesizer joins the tasks' results;
* role designer: always the right role (``finder``, with ``lookup``); with
  ``--noisy-roles`` right with ``p`` per sample, else a ``guesser`` without tools, whose
  every answer is a guess (so a task given it fails, retries included, unless a search
  chooses another role).

**The strategies**, each on the same instances:

* ``single``: one plan, one trajectory per attempt, the critic's retry loop (2 attempts);
* ``plan_sampling``: ``Team(plan_samples=5)``;
* ``search``: ``Team(search=WorkflowSearch(...))`` (8 nodes, branching 3);
* ``search_3_judgments``: the same with ``judgments=3`` (three critic verdicts an answer);
* ``both``: plan sampling and workflow search (one judgment).

With ``--noisy-roles``: ``single``, ``search``, ``search_roles`` (the search with
``roles=3``: the designed role and two more designer samples to choose from) and
``search_roles_on_retry`` (the same, from the second attempt on: ``from_attempt=2``).

With ``--action-tree`` (backtracking on plan sampling's action tree,
:mod:`orchestra.core.action_tree`), the family changes so that re-planning matters: a
plan writes one task per item, each task right with ``p``: one of three phrasings that
look the item up (``Find``/``Fetch``/``Read the code of X``, naming ``lookup``) or else
one of three that answer from memory (``Recall``/``Guess``/``Derive``, no tools), whose
result is always a guess; the first phrasing of each kind is drawn 60% of the time. An
attempt at a task that looks up is right with ``p`` (it calls ``lookup``, else guesses;
what it looked up it reports right), so a sampled plan or result is good with ``p``. The
critic rejects with ``replan`` (accuracy ``Q``), so a wrong result is recovered only by
re-planning its task: the planner (asked with the failed task in its prompt) writes one
task right with ``p``, never the same phrasing as the failed one. Limits: 2 re-plans a
task, 6 a run. Strategies: ``replan`` (one plan; the planner re-plans), ``pick_best``
(``plan_samples=5``, the plan critic chooses; re-plans by the planner: the behaviour
before the action tree, measured by emptying it), ``action_tree`` (``plan_samples=5``;
a rejected task first takes the other samples' alternatives, then the planner),
``action_tree_k3`` (the same with ``plan_samples=3``), ``one_call`` and ``one_call_k3``
(the action tree with the samples written by one planner call,
``plan_sampling="one_call"``: the prompt paid once) and ``one_call_votes`` (the same,
the start plan chosen by votes with no plan critic call, ``plan_choice="votes"``),
``alternatives`` and ``alternatives_k3`` (``plan_sampling="alternatives"``: one planner
call writes its plan and, per task, the other samples' tasks where they differ, each
distinct task once; the plan runs as written, no plan critic call). Reported
too: tokens per successful run (all tokens over the runs that succeeded), re-planner
calls and grafts a run.

Reported per ``p``: success rate, mean tokens a run (the scripted model counts 4
characters a token) and both as ratios to ``single`` measured in the same run.
``--plot`` draws the curves (needs matplotlib: ``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from unittest import mock

from common import publish

from orchestra import Team, WorkflowSearch, tool
from orchestra.core.search_tree import SearchBudget
from orchestra.testing import ScriptedCall, ScriptedChatModel, role_spec, tool_call, verdict

WORDS = ("amber", "cobalt", "delta", "ember", "falcon", "garnet", "harbor", "indigo", "juniper")
STRATEGIES = ("single", "plan_sampling", "search", "search_3_judgments", "both")
ROLE_STRATEGIES = ("single", "search", "search_roles", "search_roles_on_retry")
ACTION_TREE_STRATEGIES = (
    "replan",
    "pick_best",
    "action_tree",
    "action_tree_k3",
    "one_call",
    "one_call_k3",
    "one_call_votes",
    "alternatives",
    "alternatives_k3",
)
PLAN_SAMPLES = 5
GOOD_TASKS = (  # (id verb, title, description): tasks that look the code up
    ("find", "Find the code of {item}", "Look up the secret code of {item} and report it."),
    ("fetch", "Fetch the code of {item}", "Fetch {item}'s secret code with lookup; report it."),
    ("read", "Read the code of {item}", "Read the secret code of {item} from lookup."),
)
BAD_TASKS = (  # tasks that answer from memory: their result is a guess
    ("recall", "Recall the code of {item}", "State the secret code of {item} from memory."),
    ("guess", "Guess the code of {item}", "Guess the secret code of {item} from its name."),
    ("derive", "Derive the code of {item}", "Work out {item}'s secret code from its name."),
)
_VARIANT_ID = re.compile(r"^([a-z]+)-([a-z]+-\d+)")
_CODE_OF = re.compile(r"code of ([a-z]+-\d+): ([0-9a-f]{6})")


def secret_code(item: str) -> str:
    """The code ``lookup`` knows for ``item``."""
    return hashlib.sha256(f"code:{item}".encode()).hexdigest()[:6]


@tool
def lookup(item: str) -> str:
    """The secret code of an item, e.g. lookup(item="amber-17")."""
    return f"code of {item}: {secret_code(item)}"


@dataclass(frozen=True)
class Instance:
    """One goal of the family and its right answer."""

    items: tuple[str, ...]

    @property
    def goal(self) -> str:
        return "Report the secret code of each of these items: " + ", ".join(self.items)

    @property
    def answer(self) -> set[tuple[str, str]]:
        return {(item, secret_code(item)) for item in self.items}


def instances(n: int, seed: int) -> list[Instance]:
    """``n`` goals of 2-4 distinct items each, from ``seed``."""
    rng = random.Random(seed)
    out = []
    for index in range(n):
        words = rng.sample(WORDS, rng.randint(2, 4))
        out.append(Instance(tuple(f"{word}-{index}" for word in words)))
    return out


class NoisyScript:
    """The noisy model's replies (see the module docstring), one seeded stream per call key."""

    def __init__(
        self, p: float, critic_accuracy: float, seed: int, *, noisy_roles: bool = False
    ) -> None:
        self.p = p
        self.q = critic_accuracy
        self.seed = seed
        self.noisy_roles = noisy_roles
        self._draws: dict[tuple[str, ...], int] = {}
        self._lock = threading.Lock()

    def rng(self, call: ScriptedCall, *extra: str) -> random.Random:
        """A fresh stream for this call: keyed by goal, agent, task, sample and call count."""
        key = (call.goal or "", call.agent or "", call.task_id or "", str(call.sample), *extra)
        with self._lock:
            count = self._draws.get(key, 0)
            self._draws[key] = count + 1
        digest = hashlib.sha256(repr((self.seed, key, count)).encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def script(self) -> dict[str, Any]:
        return {
            "planner": self.planner,
            "plan_critic": self.plan_critic,
            "role_designer": self.role_designer,
            "executor": self.executor,
            "critic": self.critic,
            "synthesizer": self.synthesizer,
        }

    @staticmethod
    def items_of(goal: str | None) -> list[str]:
        return [part.strip() for part in (goal or "").split(": ", 1)[-1].split(",")]

    def planner(self, call: ScriptedCall) -> dict[str, Any]:
        rng = self.rng(call)
        items = self.items_of(call.goal)
        if rng.random() >= self.p:
            items.pop(rng.randrange(len(items)))  # a plan that leaves one item out
        return {
            "tasks": [
                {
                    "id": f"code-{item}",
                    "title": f"Find the code of {item}",
                    "description": f"Look up the secret code of {item} and report it.",
                    "acceptance_criteria": [f"states the code of {item}"],
                    "depends_on": [],
                    "subtasks": [],
                }
                for item in items
            ]
        }

    def plan_critic(self, call: ScriptedCall) -> dict[str, Any]:
        items = self.items_of(call.goal)
        blocks = re.split(r"\n(?=Plan [A-H] \()", call.last)[1:]
        scores = []
        for block in blocks:
            label = block.split(" ", 2)[1]
            right = self.plan_is_right(block, items)
            seen_right = right if self.rng(call, label).random() < self.q else not right
            scores.append({"candidate": label, "score": 0.9 if seen_right else 0.2, "reason": "-"})
        best = max(s["score"] for s in scores)
        choice = next(s["candidate"] for s in scores if s["score"] == best)
        return {"scores": scores, "choice": choice, "reason": "the best-scored plan"}

    def plan_is_right(self, plan_text: str, items: list[str]) -> bool:
        """Whether a candidate plan (as the plan critic reads it) looks every item up."""
        return all(f"Find the code of {item}" in plan_text for item in items)

    def role_designer(self, call: ScriptedCall) -> dict[str, Any]:
        if not self.noisy_roles or self.rng(call).random() < self.p:
            return role_spec("finder", "Find items' codes with lookup.", ["lookup"])
        return role_spec("guesser", "Answer from what you know.", [])

    def executor(self, call: ScriptedCall) -> Any:
        rng = self.rng(call)
        item = (call.task_id or "").removeprefix("code-")
        looked_up = [m for m in call.messages if m.type == "tool"]
        right = rng.random() < self.p
        wrong = f"code of {item}: {rng.getrandbits(24):06x}"
        if call.role == "guesser":
            return wrong
        if not looked_up:
            return tool_call("lookup", {"item": item}) if right else wrong
        found = _CODE_OF.search(str(looked_up[-1].content))
        return found.group(0) if right and found else wrong

    def critic(self, call: ScriptedCall) -> dict[str, Any]:
        judged = call.prompt.rsplit("Result to judge:", 1)[-1]
        item = (call.task_id or "").removeprefix("code-")
        found = _CODE_OF.search(judged)
        right = bool(found and found.group(1) == item and found.group(2) == secret_code(item))
        seen_right = right if self.rng(call).random() < self.q else not right
        return verdict("pass") if seen_right else verdict("retry", "the code looks wrong")

    def synthesizer(self, call: ScriptedCall) -> str:
        digest = call.last.split("Results of the team's tasks:", 1)[-1]
        return "\n".join(dict.fromkeys(m.group(0) for m in _CODE_OF.finditer(digest)))


class VariantScript(NoisyScript):
    """The ``--action-tree`` family (see the module docstring): tasks phrased right or wrong."""

    @staticmethod
    def parse(task_id: str | None) -> tuple[str, str]:
        """(verb, item) of a task id such as ``fetch-amber-3`` (or ``fetch-amber-3-2``)."""
        found = _VARIANT_ID.match(task_id or "")
        return (found.group(1), found.group(2)) if found else ("", "")

    def variant(self, rng: random.Random, item: str, avoid: str = "") -> dict[str, Any]:
        """One task for ``item``: right with ``p``; the first phrasing 60% of the time."""
        kind = GOOD_TASKS if rng.random() < self.p else BAD_TASKS
        options = [v for v in kind if v[1].format(item=item) not in avoid] or list(kind)
        weights = [3 if v == kind[0] else 1 for v in options]
        verb, title, description = rng.choices(options, weights)[0]
        return {
            "id": f"{verb}-{item}",
            "title": title.format(item=item),
            "description": description.format(item=item),
            "acceptance_criteria": [f"states the code of {item}"],
            "depends_on": [],
            "tools": ["lookup"] if kind is GOOD_TASKS else [],
            "subtasks": [],
        }

    def planner(self, call: ScriptedCall) -> dict[str, Any]:
        rng = self.rng(call)
        if call.task_id not in (None, "root"):  # a re-plan of one failed task
            _, item = self.parse(call.task_id)
            failed = call.prompt.split("Why it failed", 1)[0]
            return {"tasks": [self.variant(rng, item, avoid=failed)]}
        tasks = [self.variant(rng, item) for item in self.items_of(call.goal)]
        if not call.alternatives:
            return {"tasks": tasks}
        # the other samples, written out only where they differ: each distinct task once
        alternatives: list[dict[str, Any]] = []
        seen = {t["id"] for t in tasks}
        for sample in range(1, call.alternatives):
            other = self.rng(replace(call, sample=sample))
            for main, item in zip(tasks, self.items_of(call.goal), strict=True):
                task = self.variant(other, item)
                if task["id"] not in seen:
                    seen.add(task["id"])
                    alternatives.append({"instead_of": main["id"], "tasks": [task]})
        return {"tasks": tasks, "alternatives": alternatives}

    def plan_is_right(self, plan_text: str, items: list[str]) -> bool:
        """Whether every item's task is one of the phrasings that look it up."""
        return all(
            any(title.format(item=item) in plan_text for _, title, _ in GOOD_TASKS)
            for item in items
        )

    def executor(self, call: ScriptedCall) -> Any:
        rng = self.rng(call)
        verb, item = self.parse(call.task_id)
        looked_up = [m for m in call.messages if m.type == "tool"]
        right = rng.random() < self.p
        wrong = f"code of {item}: {rng.getrandbits(24):06x}"
        if verb not in {v for v, _, _ in GOOD_TASKS}:
            return wrong
        if not looked_up:
            return tool_call("lookup", {"item": item}) if right else wrong
        found = _CODE_OF.search(str(looked_up[-1].content))
        return found.group(0) if found else wrong

    def critic(self, call: ScriptedCall) -> dict[str, Any]:
        if call.task_id in (None, "root"):  # the answer joins the results: nothing to add
            return verdict("pass")
        judged = call.prompt.rsplit("Result to judge:", 1)[-1]
        _, item = self.parse(call.task_id)
        found = _CODE_OF.search(judged)
        right = bool(found and found.group(1) == item and found.group(2) == secret_code(item))
        seen_right = right if self.rng(call).random() < self.q else not right
        return verdict("pass") if seen_right else verdict("replan", "the code looks wrong")


@contextmanager
def _without_action_tree() -> Iterator[None]:
    """Plan sampling as it was before the action tree: no alternatives kept, no grafts."""
    with mock.patch("orchestra.agents.plan_sampling.build_action_tree", return_value=None):
        yield


def team_for(strategy: str, model: ScriptedChatModel, seed: int) -> Team:
    search = WorkflowSearch(
        budget=SearchBudget(max_nodes=8, max_depth=3, branching=3, parallel=2),
        seed=seed,
        judgments=3 if strategy == "search_3_judgments" else 1,
        roles=3 if strategy.startswith("search_roles") else 1,
        from_attempt=2 if strategy.endswith("_on_retry") else 1,
    )
    if strategy in ACTION_TREE_STRATEGIES:
        return Team(
            model=model,
            tools=[lookup],
            plan_samples=1 if strategy == "replan" else 3 if strategy.endswith("k3") else 5,
            plan_sampling=(
                "one_call"
                if strategy.startswith("one_call")
                else "alternatives"
                if strategy.startswith("alternatives")
                else "parallel"
            ),
            plan_choice="votes" if "_votes" in strategy else "critic",
            max_attempts=2,
            max_replans_per_node=2,
            max_replans=6,
            fallbacks=False,
            history=False,
            checkpointer="memory",
            name=f"noisy-{strategy}",
        )
    return Team(
        model=model,
        tools=[lookup],
        plan_samples=PLAN_SAMPLES if strategy in ("plan_sampling", "both") else 1,
        search=search if strategy.startswith("search") or strategy == "both" else None,
        max_attempts=2,
        fallbacks=False,
        history=False,
        checkpointer="memory",  # runs go on in parallel; nothing here needs to survive
        name=f"noisy-{strategy}",
    )


async def run_strategy(
    strategy: str,
    goals: list[Instance],
    p: float,
    q: float,
    seed: int,
    concurrency: int,
    *,
    noisy_roles: bool = False,
) -> dict[str, float]:
    """Success rate, tokens and model calls of one strategy on ``goals`` at ``p``."""
    if strategy in ACTION_TREE_STRATEGIES:
        script = VariantScript(p, q, seed).script()
    else:
        script = NoisyScript(p, q, seed, noisy_roles=noisy_roles).script()
    model = ScriptedChatModel(script)
    team = team_for(strategy, model, seed)
    gate = asyncio.Semaphore(concurrency)

    async def one(goal: Instance) -> tuple[bool, int, int, int]:
        async with gate:
            result = await team.arun(goal.goal)
        pairs = set(_CODE_OF.findall(result.output or ""))
        return (
            result.succeeded and pairs == goal.answer,
            result.usage.total_tokens,
            result.usage.model_calls,
            sum(r.alternative is not None for r in result.replans),
        )

    baseline = _without_action_tree() if strategy == "pick_best" else nullcontext()
    with baseline:
        outcomes = await asyncio.gather(*(one(goal) for goal in goals))
    n = len(outcomes)
    stats = {
        "success": round(sum(o[0] for o in outcomes) / n, 4),
        "tokens": round(sum(o[1] for o in outcomes) / n, 1),
        "model_calls": round(sum(o[2] for o in outcomes) / n, 2),
    }
    if strategy in ACTION_TREE_STRATEGIES:
        wins = sum(o[0] for o in outcomes)
        replanner = [c for c in model.calls_for("planner") if c.task_id not in (None, "root")]
        stats |= {
            "tokens_per_success": round(sum(o[1] for o in outcomes) / wins, 1) if wins else None,
            "replanner_calls": round(len(replanner) / n, 3),
            "grafts": round(sum(o[3] for o in outcomes) / n, 3),
        }
    return stats


def run(
    n: int,
    ps: list[float],
    *,
    critic_accuracy: float = 0.8,
    seed: int = 7,
    concurrency: int = 8,
    noisy_roles: bool = False,
    action_tree: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The benchmark at each ``p`` over ``n`` instances; ratios against the first strategy."""
    goals = instances(n, seed)
    strategies = ROLE_STRATEGIES if noisy_roles else STRATEGIES
    if action_tree:
        strategies = ACTION_TREE_STRATEGIES
    by_p: dict[str, dict[str, dict[str, float]]] = {}
    for p in ps:
        row: dict[str, dict[str, float]] = {}
        for strategy in strategies:
            row[strategy] = asyncio.run(
                run_strategy(
                    strategy,
                    goals,
                    p,
                    critic_accuracy,
                    seed,
                    concurrency,
                    noisy_roles=noisy_roles,
                )
            )
            if progress:
                progress(f"p={p} {strategy}: {row[strategy]}")
        base = row[strategies[0]]
        for strategy in strategies:
            stats = row[strategy]
            stats["tokens_ratio"] = round(stats["tokens"] / base["tokens"], 2)
            stats["success_gain"] = round(stats["success"] - base["success"], 4)
        by_p[str(p)] = row
    return {
        "instances": n,
        "critic_accuracy": critic_accuracy,
        "plan_samples": PLAN_SAMPLES,
        "search": None if action_tree else {"max_nodes": 8, "branching": 3, "max_depth": 3},
        "replan_limits": {"per_task": 2, "per_run": 6} if action_tree else None,
        "noisy_roles": noisy_roles,
        "action_tree": action_tree,
        "seed": seed,
        "by_p": by_p,
    }


def plot(result: dict[str, Any], path: Path) -> None:
    """Success rate and tokens against ``p``, one curve per strategy, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps = [float(p) for p in result["by_p"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    strategies = list(next(iter(result["by_p"].values())))
    for strategy, marker in zip(strategies, "osDv^", strict=False):
        rows = [result["by_p"][p][strategy] for p in result["by_p"]]
        left.plot(ps, [r["success"] for r in rows], marker=marker, label=strategy)
        right.plot(ps, [r["tokens"] for r in rows], marker=marker, label=strategy)
    left.set(xlabel="p (a model sample is right)", ylabel="success rate", ylim=(-0.02, 1.02))
    right.set(xlabel="p (a model sample is right)", ylabel="tokens per run")
    for axes in (left, right):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    roles = ", noisy roles" if result.get("noisy_roles") else ""
    fig.suptitle(
        f"Noisy model{roles}, critic accuracy {result['critic_accuracy']}, "
        f"{result['instances']} goals per point"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def plot_action_tree(result: dict[str, Any], path: Path) -> None:
    """Success rate, and tokens per successful run as a multiple of ``replan``'s, by ``p``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps = list(result["by_p"])
    strategies = list(next(iter(result["by_p"].values())))
    base = strategies[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.6), dpi=110)
    width = 0.8 / len(strategies)
    for n, strategy in enumerate(strategies):
        rows = [result["by_p"][p] for p in ps]
        xs = [i + (n - (len(strategies) - 1) / 2) * width for i in range(len(ps))]
        left.bar(xs, [r[strategy]["success"] for r in rows], width, label=strategy)
        ratios = [
            (r[strategy]["tokens_per_success"] or 0) / (r[base]["tokens_per_success"] or 1)
            for r in rows
        ]
        right.bar(xs, ratios, width, label=strategy)
    right.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    labels = (("success rate", left), (f"tokens per successful run (x {base})", right))
    for label, axes in labels:
        axes.set_xticks(range(len(ps)), [f"p = {p}" for p in ps])
        axes.set_ylabel(label)
        axes.grid(alpha=0.3, axis="y")
    left.set_ylim(0, 1)
    handles, names = left.get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=5, fontsize=8)
    fig.suptitle(
        f"Backtracking on the action tree: critic accuracy {result['critic_accuracy']}, "
        f"{result['instances']} goals per bar"
    )
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=150)
    parser.add_argument("--p", default="0.3,0.5,0.7,0.8,0.9,1.0")
    parser.add_argument("--critic-accuracy", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--noisy-roles", action="store_true")
    parser.add_argument("--action-tree", action="store_true")
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    ps = [float(p) for p in args.p.split(",")]
    result = run(
        args.instances,
        ps,
        critic_accuracy=args.critic_accuracy,
        seed=args.seed,
        noisy_roles=args.noisy_roles,
        action_tree=args.action_tree,
        progress=lambda line: print(line, file=sys.stderr),
    )
    name = "search-roles" if args.noisy_roles else "search"
    publish("search-action-tree" if args.action_tree else name, result)
    if args.plot is not None:
        (plot_action_tree if args.action_tree else plot)(result, args.plot)


if __name__ == "__main__":
    main()

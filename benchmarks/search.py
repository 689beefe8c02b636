"""Search on a noisy model: success rate and tokens of single-shot, plan sampling, workflow search.

    python benchmarks/search.py [--instances N] [--p 0.3,0.5,...] [--critic-accuracy Q]
                                [--noisy-roles] [--plot docs/images/search-noisy.png]

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
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import publish

from orchestra import Team, WorkflowSearch, tool
from orchestra.core.search_tree import SearchBudget
from orchestra.testing import ScriptedCall, ScriptedChatModel, role_spec, tool_call, verdict

WORDS = ("amber", "cobalt", "delta", "ember", "falcon", "garnet", "harbor", "indigo", "juniper")
STRATEGIES = ("single", "plan_sampling", "search", "search_3_judgments", "both")
ROLE_STRATEGIES = ("single", "search", "search_roles", "search_roles_on_retry")
PLAN_SAMPLES = 5
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
            right = all(f"Find the code of {item}" in block for item in items)
            seen_right = right if self.rng(call, label).random() < self.q else not right
            scores.append({"candidate": label, "score": 0.9 if seen_right else 0.2, "reason": "-"})
        best = max(s["score"] for s in scores)
        choice = next(s["candidate"] for s in scores if s["score"] == best)
        return {"scores": scores, "choice": choice, "reason": "the best-scored plan"}

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


def team_for(strategy: str, model: ScriptedChatModel, seed: int) -> Team:
    search = WorkflowSearch(
        budget=SearchBudget(max_nodes=8, max_depth=3, branching=3, parallel=2),
        seed=seed,
        judgments=3 if strategy == "search_3_judgments" else 1,
        roles=3 if strategy.startswith("search_roles") else 1,
        from_attempt=2 if strategy.endswith("_on_retry") else 1,
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
    model = ScriptedChatModel(NoisyScript(p, q, seed, noisy_roles=noisy_roles).script())
    team = team_for(strategy, model, seed)
    gate = asyncio.Semaphore(concurrency)

    async def one(goal: Instance) -> tuple[bool, int, int]:
        async with gate:
            result = await team.arun(goal.goal)
        pairs = set(_CODE_OF.findall(result.output or ""))
        return (
            result.succeeded and pairs == goal.answer,
            result.usage.total_tokens,
            (result.usage.model_calls),
        )

    outcomes = await asyncio.gather(*(one(goal) for goal in goals))
    n = len(outcomes)
    return {
        "success": round(sum(ok for ok, _, _ in outcomes) / n, 4),
        "tokens": round(sum(t for _, t, _ in outcomes) / n, 1),
        "model_calls": round(sum(c for _, _, c in outcomes) / n, 2),
    }


def run(
    n: int,
    ps: list[float],
    *,
    critic_accuracy: float = 0.8,
    seed: int = 7,
    concurrency: int = 8,
    noisy_roles: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The benchmark at each ``p`` over ``n`` instances; ratios against ``single``."""
    goals = instances(n, seed)
    strategies = ROLE_STRATEGIES if noisy_roles else STRATEGIES
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
        base = row["single"]
        for strategy in strategies:
            stats = row[strategy]
            stats["tokens_ratio"] = round(stats["tokens"] / base["tokens"], 2)
            stats["success_gain"] = round(stats["success"] - base["success"], 4)
        by_p[str(p)] = row
    return {
        "instances": n,
        "critic_accuracy": critic_accuracy,
        "plan_samples": PLAN_SAMPLES,
        "search": {"max_nodes": 8, "branching": 3, "max_depth": 3},
        "noisy_roles": noisy_roles,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=150)
    parser.add_argument("--p", default="0.3,0.5,0.7,0.8,0.9,1.0")
    parser.add_argument("--critic-accuracy", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--noisy-roles", action="store_true")
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    ps = [float(p) for p in args.p.split(",")]
    result = run(
        args.instances,
        ps,
        critic_accuracy=args.critic_accuracy,
        seed=args.seed,
        noisy_roles=args.noisy_roles,
    )
    publish("search-roles" if args.noisy_roles else "search", result)
    if args.plot is not None:
        plot(result, args.plot)


if __name__ == "__main__":
    main()

"""The hierarchy on a noisy model: flat teams against led, judged, escalating, isolating ones.

    python benchmarks/hierarchy.py [--instances N] [--p 0.5,0.7,0.9] [--critic-accuracy Q]
                                   [--plot docs/images/hierarchy-noisy.png]

**The task family** ("grouped code lookup"): a goal names 2-3 groups of 2-3 items each
(seeded per instance) and asks for every item's secret code; a ``lookup`` tool knows them.
The plan (always right here: the planner is not what is measured) has one inner task per
group and one leaf per item. The answer is right when it reports every item's code and
nothing else.

**The noisy model** (the scripted model; every reply drawn from a seeded stream per goal,
agent, task and call, so both setups see the same draws where they make the same calls):

* executor: with ``p`` it looks its item up and reports the code; else it reports a guess;
* lead (integration of a group): with ``p`` it carries every subtask's code over; else it
  drops one (an inconsistent integration);
* synthesizer: joins the codes it is shown (it is not noisy);
* critic: tells a right result (leaf: its item's code; group: all its items' codes) from a
  wrong one with accuracy ``Q`` (default 0.8);
* re-planner after an escalation: plans the missing items again, one task each.

**The setups**, on the same instances:

* ``flat``: today's flat behaviour: no leads (a group's result is its subtasks' joined,
  unjudged), no escalation, the first lost branch stops the run
  (``Team(leads=False, max_escalations=0, on_failure="stop")``);
* ``hierarchy``: the defaults: leads integrate and are judged, failures escalate to the
  group's lead (its subtree re-planned, finished items kept), lost branches are isolated.

Both: ``max_attempts=2``, ``max_replans_per_node=0`` (so what saves a failed leaf is
escalation, not its own re-plan). Reported per ``p``: success rate (the right answer), the
share of runs with a usable answer (succeeded or partial), mean tokens per run and per
success, as ratios to ``flat`` measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import publish

from orchestra import RunStatus, Team, tool
from orchestra.testing import (
    ScriptedCall,
    ScriptedChatModel,
    plan,
    role_spec,
    subtask,
    tool_call,
    verdict,
)

WORDS = ("amber", "cobalt", "delta", "ember", "falcon", "garnet", "harbor", "indigo", "juniper")
SETUPS = ("flat", "hierarchy")
_CODE_OF = re.compile(r"code of ([a-z]+-\d+): ([0-9a-f]{6})")
_ITEM = re.compile(r"[a-z]+-\d+")


def secret_code(item: str) -> str:
    """The code ``lookup`` knows for ``item``."""
    return hashlib.sha256(f"code:{item}".encode()).hexdigest()[:6]


@tool
def lookup(item: str) -> str:
    """The secret code of an item, e.g. lookup(item="amber-17")."""
    return f"code of {item}: {secret_code(item)}"


@dataclass(frozen=True)
class Instance:
    """One goal: groups of items, and the right answer."""

    groups: tuple[tuple[str, ...], ...]

    @property
    def goal(self) -> str:
        return "Report the secret code of each item: " + "; ".join(
            ", ".join(group) for group in self.groups
        )

    @property
    def answer(self) -> set[tuple[str, str]]:
        return {(item, secret_code(item)) for group in self.groups for item in group}


def instances(n: int, seed: int) -> list[Instance]:
    """``n`` goals of 2-3 groups of 2-3 distinct items, from ``seed``."""
    rng = random.Random(seed)
    out = []
    for index in range(n):
        words = rng.sample(WORDS, 9)
        sizes = [rng.randint(2, 3) for _ in range(rng.randint(2, 3))]
        groups, start = [], 0
        for size in sizes:
            groups.append(tuple(f"{w}-{index}" for w in words[start : start + size]))
            start += size
        out.append(Instance(tuple(groups)))
    return out


class NoisyScript:
    """The noisy model's replies (see the module docstring)."""

    def __init__(self, p: float, critic_accuracy: float, seed: int) -> None:
        self.p, self.q, self.seed = p, critic_accuracy, seed
        self._draws: dict[tuple[str, ...], int] = {}
        self._lock = threading.Lock()

    def rng(self, call: ScriptedCall) -> random.Random:
        key = (call.goal or "", call.agent or "", call.task_id or "")
        with self._lock:
            count = self._draws.get(key, 0)
            self._draws[key] = count + 1
        digest = hashlib.sha256(repr((self.seed, key, count)).encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def script(self) -> dict[str, Any]:
        return {
            "planner": self.planner,
            "role_designer": role_spec("finder", "Find items' codes with lookup.", ["lookup"]),
            "executor": self.executor,
            "lead": self.lead,
            "critic": self.critic,
            "synthesizer": self.synthesizer,
        }

    def planner(self, call: ScriptedCall) -> dict[str, Any]:
        if call.task_id not in (None, "root"):  # a group's subtree, after an escalation
            failed = re.findall(r"Subtask '([^']+)' failed for good", call.prompt)
            items = [i for f in failed for i in _ITEM.findall(f)]
            return plan(
                *(
                    subtask(
                        f"again-{item}",
                        f"Look {item} up again",
                        f"Call lookup for {item} and report exactly the code it returns.",
                        criteria=[f"states the code of {item}"],
                    )
                    for item in items
                )
            )
        groups = (call.goal or "").split(": ", 1)[-1].split("; ")
        return plan(
            *(
                subtask(
                    f"group{g}",
                    f"Codes of group {g}",
                    f"Look up the codes of: {group}",
                    criteria=[f"states the codes of {group}"],
                    subtasks=[self._leaf(item) for item in group.split(", ")],
                )
                for g, group in enumerate(groups)
            )
        )

    @staticmethod
    def _leaf(item: str) -> dict[str, Any]:
        return subtask(
            f"code-{item}",
            f"Find the code of {item}",
            f"Look up the secret code of {item} and report it.",
            criteria=[f"states the code of {item}"],
        )

    def executor(self, call: ScriptedCall) -> Any:
        item = _ITEM.findall(call.task_id or "")[-1]
        looked_up = [m for m in call.messages if m.type == "tool"]
        if self.rng(call).random() >= self.p:
            return f"code of {item}: {random.Random(call.prompt).getrandbits(24):06x}"
        if not looked_up:
            return tool_call("lookup", {"item": item})
        found = _CODE_OF.search(str(looked_up[-1].content))
        return found.group(0) if found else "no code"

    def lead(self, call: ScriptedCall) -> str:
        digest = call.prompt.split("Results of your subtasks:", 1)[-1]
        codes = list(dict.fromkeys(m.group(0) for m in _CODE_OF.finditer(digest)))
        if len(codes) > 1 and self.rng(call).random() >= self.p:
            codes.pop(self.rng(call).randrange(len(codes)))  # an inconsistent integration
        return "\n".join(codes)

    def critic(self, call: ScriptedCall) -> dict[str, Any]:
        # a task's result, or the team's final answer (judged against the goal)
        marker = "Result to judge:" if "Result to judge:" in call.prompt else "to judge:"
        task_part, judged = call.prompt.rsplit(marker, 1)
        wanted = set(_ITEM.findall(task_part.split("Acceptance criteria:", 1)[-1]))
        found = {(m.group(1), m.group(2)) for m in _CODE_OF.finditer(judged)}
        right = bool(wanted) and found == {(i, secret_code(i)) for i in wanted}
        seen_right = right if self.rng(call).random() < self.q else not right
        return verdict("pass") if seen_right else verdict("retry", "the codes look wrong")

    def synthesizer(self, call: ScriptedCall) -> str:
        digest = call.last.split("Results of the team's tasks:", 1)[-1]
        return "\n".join(dict.fromkeys(m.group(0) for m in _CODE_OF.finditer(digest)))


def team_for(setup: str, model: ScriptedChatModel) -> Team:
    flat = setup == "flat"
    return Team(
        model,
        tools=[lookup],
        leads=not flat,
        max_escalations=0 if flat else 2,
        on_failure="stop" if flat else "continue",
        decompose="upfront",
        max_attempts=2,
        max_replans_per_node=0,
        max_replans=6,
        fallbacks=False,
        history=False,
        checkpointer="memory",
        name=f"hierarchy-{setup}",
    )


async def run_setup(
    setup: str, goals: list[Instance], p: float, q: float, seed: int, concurrency: int
) -> dict[str, float]:
    """Success rate, usable answers and tokens of one setup on ``goals`` at ``p``."""
    team = team_for(setup, ScriptedChatModel(NoisyScript(p, q, seed).script()))
    gate = asyncio.Semaphore(concurrency)

    async def one(goal: Instance) -> tuple[bool, bool, int]:
        async with gate:
            result = await team.arun(goal.goal)
        pairs = set(_CODE_OF.findall(result.output or ""))
        usable = result.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
        return result.succeeded and pairs == goal.answer, usable, result.usage.total_tokens

    outcomes = await asyncio.gather(*(one(goal) for goal in goals))
    n = len(outcomes)
    successes = sum(ok for ok, _, _ in outcomes)
    tokens = sum(t for _, _, t in outcomes)
    return {
        "success": round(successes / n, 4),
        "usable": round(sum(u for _, u, _ in outcomes) / n, 4),
        "tokens": round(tokens / n, 1),
        "tokens_per_success": round(tokens / successes, 1) if successes else float("inf"),
    }


def run(
    n: int, ps: list[float], *, critic_accuracy: float = 0.8, seed: int = 11, concurrency: int = 8
) -> dict[str, Any]:
    """The benchmark at each ``p`` over ``n`` instances; ratios against ``flat``."""
    goals = instances(n, seed)
    by_p: dict[str, dict[str, dict[str, float]]] = {}
    for p in ps:
        row = {
            setup: asyncio.run(run_setup(setup, goals, p, critic_accuracy, seed, concurrency))
            for setup in SETUPS
        }
        base = row["flat"]
        for stats in row.values():
            stats["tokens_ratio"] = round(stats["tokens"] / base["tokens"], 2)
            stats["success_gain"] = round(stats["success"] - base["success"], 4)
        by_p[str(p)] = row
        print(f"p={p}: {row}", flush=True)
    return {"instances": n, "critic_accuracy": critic_accuracy, "seed": seed, "by_p": by_p}


def plot(result: dict[str, Any], path: Path) -> None:
    """Success rate and tokens per success against ``p``, one curve per setup, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps = [float(p) for p in result["by_p"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    for setup, marker in zip(SETUPS, "os", strict=True):
        rows = [result["by_p"][p][setup] for p in result["by_p"]]
        left.plot(ps, [r["success"] for r in rows], marker=marker, label=setup)
        right.plot(ps, [r["tokens_per_success"] for r in rows], marker=marker, label=setup)
    left.set(xlabel="p (a model sample is right)", ylabel="success rate", ylim=(-0.02, 1.02))
    right.set(xlabel="p (a model sample is right)", ylabel="tokens per success")
    for axes in (left, right):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    fig.suptitle(
        f"Grouped lookups on a noisy model, critic accuracy {result['critic_accuracy']},"
        f" {result['instances']} goals per point"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--p", default="0.5,0.7,0.9")
    parser.add_argument("--critic-accuracy", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    result = run(
        args.instances,
        [float(p) for p in args.p.split(",")],
        critic_accuracy=args.critic_accuracy,
        seed=args.seed,
    )
    publish("hierarchy", result)
    if args.plot is not None:
        plot(result, args.plot)


if __name__ == "__main__":
    main()

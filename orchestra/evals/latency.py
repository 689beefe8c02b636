"""Tool latencies for replays: a fixed time, or times drawn per node from a seeded law.

Real tools differ, and a dispatcher that waits for unrelated siblings only shows its
cost when they do; so a replay can give every node its own latency, drawn from a
distribution under a seed (the same seed, record and node always give the same time).

Forms of a spec: ``0.05`` (seconds, every node), ``uniform:LOW:HIGH``, ``exp:MEAN``
(exponential, capped at 20 times the mean) and ``lognormal:MEDIAN:SIGMA``.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from typing import Literal

from orchestra.core.errors import InputError

__all__ = ["LatencySpec"]

Law = Literal["fixed", "uniform", "exp", "lognormal"]


@dataclass(frozen=True, slots=True)
class LatencySpec:
    """How long each stub tool takes; see the module docstring for the forms."""

    law: Law
    a: float
    b: float = 0.0

    @classmethod
    def parse(cls, text: str) -> LatencySpec:
        """Read a spec such as ``0.05`` or ``uniform:0.01:0.3``.

        Raises:
            InputError: an unknown form, a negative time or an empty range.
        """
        law, *params = text.strip().split(":")
        try:
            numbers = [float(p) for p in params] if params else [float(law)]
        except ValueError:
            raise InputError(f"latency {text!r}: the numbers are not numbers") from None
        arity = {"uniform": 2, "exp": 1, "lognormal": 2}
        if not params:
            spec = cls("fixed", numbers[0])
        elif law in arity and len(numbers) == arity[law]:
            spec = cls(law, *numbers)  # type: ignore[arg-type]
        else:
            raise InputError(
                f"latency {text!r}: use SECONDS, uniform:LOW:HIGH, exp:MEAN or"
                " lognormal:MEDIAN:SIGMA"
            )
        if min(numbers) < 0 or not all(math.isfinite(n) for n in numbers):
            raise InputError(f"latency {text!r}: times must be finite and not negative")
        if spec.law == "uniform" and spec.b < spec.a:
            raise InputError(f"latency {text!r}: HIGH is below LOW")
        return spec

    def draw(self, seed: int, record_id: str, node_id: str) -> float:
        """The latency of one node: the same for the same seed, record and node.

        Raises:
            InputError: a lognormal SIGMA so large that a drawn time is beyond a float.
        """
        if self.law == "fixed":
            return self.a
        digest = hashlib.sha256(f"{seed}\0{record_id}\0{node_id}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        if self.law == "uniform":
            return rng.uniform(self.a, self.b)
        if self.law == "exp":
            return min(rng.expovariate(1 / self.a), 20 * self.a) if self.a else 0.0
        try:
            return self.a * math.exp(rng.gauss(0.0, self.b))
        except OverflowError:
            raise InputError(
                f"latency {self}: a drawn time is beyond any float; use a smaller SIGMA"
            ) from None

    def __str__(self) -> str:
        if self.law == "fixed":
            return f"{self.a:g}"
        if self.law == "exp":
            return f"exp:{self.a:g}"
        return f"{self.law}:{self.a:g}:{self.b:g}"

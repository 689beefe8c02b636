"""Token usage and cost, per model call, per task node and per run."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_PRICES", "Price", "Usage", "price_for"]


class Price(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)


DEFAULT_PRICES: dict[str, Price] = {
    # Longest matching prefix of the model name wins. List prices as published by the
    # providers; pass Team(prices={...}) to add or override.
    "gpt-4.1-nano": Price(input=0.10, output=0.40),
    "gpt-4.1-mini": Price(input=0.40, output=1.60),
    "gpt-4.1": Price(input=2.00, output=8.00),
    "gpt-4o-mini": Price(input=0.15, output=0.60),
    "gpt-4o": Price(input=2.50, output=10.00),
    "o4-mini": Price(input=1.10, output=4.40),
    "claude-3-5-haiku": Price(input=0.80, output=4.00),
    "claude-haiku-4": Price(input=1.00, output=5.00),
    "claude-sonnet-4": Price(input=3.00, output=15.00),
    "claude-opus-4": Price(input=15.00, output=75.00),
    "embedded": Price(input=0.0, output=0.0),
    "scripted": Price(input=0.0, output=0.0),
}


def price_for(model_name: str, prices: Mapping[str, Price]) -> Price | None:
    """The price of ``model_name`` (longest matching prefix), or None when unknown."""
    name = model_name.lower().split("/")[-1]
    best = max((p for p in prices if name.startswith(p.lower())), key=len, default=None)
    return prices[best] if best is not None else None


class Usage(BaseModel):
    """Tokens and cost of some model calls."""

    input_tokens: int = 0
    output_tokens: int = 0
    model_calls: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    """Calls to models with no known price (their cost is not in ``cost_usd``)."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            model_calls=self.model_calls + other.model_calls,
            cost_usd=round(self.cost_usd + other.cost_usd, 8),
            unpriced_calls=self.unpriced_calls + other.unpriced_calls,
        )

    @classmethod
    def of_call(
        cls, model_name: str, input_tokens: int, output_tokens: int, prices: Mapping[str, Price]
    ) -> Usage:
        """The usage of one call, priced from ``prices``."""
        price = price_for(model_name, prices)
        cost = (input_tokens * price.input + output_tokens * price.output) / 1e6 if price else 0.0
        return cls(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model_calls=1,
            cost_usd=round(cost, 8),
            unpriced_calls=0 if price else 1,
        )

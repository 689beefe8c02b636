"""Token usage and cost, per model call, per task node and per run."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_PRICES", "AgentUsage", "Price", "Usage", "price_for"]


class Price(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    """Input tokens read from the provider's prompt cache; None: the ``input`` price."""
    cache_write: float | None = Field(default=None, ge=0)
    """Input tokens written to the prompt cache (Anthropic charges extra for them); None:
    the ``input`` price."""

    def cost(
        self, input_tokens: int, output_tokens: int, *, cached: int = 0, written: int = 0
    ) -> float:
        """USD for one call: ``input_tokens`` counts the ``cached`` and ``written`` ones."""
        read_rate = self.input if self.cached_input is None else self.cached_input
        write_rate = self.input if self.cache_write is None else self.cache_write
        plain = max(0, input_tokens - cached - written)
        return (
            plain * self.input
            + cached * read_rate
            + written * write_rate
            + output_tokens * self.output
        ) / 1e6


def _anthropic(input: float, output: float) -> Price:
    """Anthropic's prices: cache reads at 10% of the input price, writes at 125%."""
    return Price(input=input, output=output, cached_input=input * 0.1, cache_write=input * 1.25)


DEFAULT_PRICES: dict[str, Price] = {
    # Longest matching prefix of the model name wins. List prices as published by the
    # providers; pass Team(prices={...}) to add or override. OpenAI caches prompt
    # prefixes by itself and charges nothing extra to write them.
    "gpt-4.1-nano": Price(input=0.10, output=0.40, cached_input=0.025),
    "gpt-4.1-mini": Price(input=0.40, output=1.60, cached_input=0.10),
    "gpt-4.1": Price(input=2.00, output=8.00, cached_input=0.50),
    "gpt-4o-mini": Price(input=0.15, output=0.60, cached_input=0.075),
    "gpt-4o": Price(input=2.50, output=10.00, cached_input=1.25),
    "o4-mini": Price(input=1.10, output=4.40, cached_input=0.275),
    "claude-3-5-haiku": _anthropic(0.80, 4.00),
    "claude-haiku-4": _anthropic(1.00, 5.00),
    "claude-sonnet-4": _anthropic(3.00, 15.00),
    "claude-opus-4": _anthropic(15.00, 75.00),
    "embedded": Price(input=0.0, output=0.0, cached_input=0.0),
    "scripted": Price(input=0.0, output=0.0, cached_input=0.0),
}


def price_for(model_name: str, prices: Mapping[str, Price]) -> Price | None:
    """The price of ``model_name`` (longest matching prefix), or None when unknown."""
    name = model_name.lower().split("/")[-1]
    best = max((p for p in prices if name.startswith(p.lower())), key=len, default=None)
    return prices[best] if best is not None else None


class AgentUsage(BaseModel):
    """One agent's share of some model calls: how many, and their tokens."""

    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: AgentUsage) -> AgentUsage:
        return AgentUsage(
            model_calls=self.model_calls + other.model_calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


def _merge_agents(
    a: Mapping[str, AgentUsage], b: Mapping[str, AgentUsage]
) -> dict[str, AgentUsage]:
    if not b:
        return dict(a)
    if not a:
        return dict(b)
    out = dict(a)
    for agent, share in b.items():
        out[agent] = out[agent] + share if agent in out else share
    return out


class Usage(BaseModel):
    """Tokens and cost of some model calls."""

    input_tokens: int = 0
    """All input tokens, those read from or written to a prompt cache included."""
    output_tokens: int = 0
    model_calls: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    """Calls to models with no known price (their cost is not in ``cost_usd``)."""
    cached_input_tokens: int = 0
    """Input tokens the provider read from its prompt cache (priced at the cached rate)."""
    cache_write_tokens: int = 0
    """Input tokens the provider wrote to its prompt cache (Anthropic's cache breakpoints)."""
    by_agent: dict[str, AgentUsage] = Field(default_factory=dict)
    """The same calls by the agent that made them (``planner``, ``role_designer``,
    ``executor``, ``critic``, ``lead``, ``synthesizer``, ...): where the calls go."""

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
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            by_agent=_merge_agents(self.by_agent, other.by_agent),
        )

    @classmethod
    def of_call(
        cls,
        model_name: str,
        input_tokens: int,
        output_tokens: int,
        prices: Mapping[str, Price],
        *,
        agent: str | None = None,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> Usage:
        """The usage of one call, priced from ``prices``; ``agent``: who made it.

        ``input_tokens`` counts every input token; ``cached_input_tokens`` of them were
        read from the provider's prompt cache and ``cache_write_tokens`` written to it,
        each priced at its own rate (:meth:`Price.cost`).
        """
        price = price_for(model_name, prices)
        cost = (
            price.cost(
                input_tokens, output_tokens, cached=cached_input_tokens, written=cache_write_tokens
            )
            if price
            else 0.0
        )
        return cls(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model_calls=1,
            cost_usd=round(cost, 8),
            unpriced_calls=0 if price else 1,
            cached_input_tokens=cached_input_tokens,
            cache_write_tokens=cache_write_tokens,
            by_agent=(
                {
                    agent: AgentUsage(
                        model_calls=1, input_tokens=input_tokens, output_tokens=output_tokens
                    )
                }
                if agent
                else {}
            ),
        )

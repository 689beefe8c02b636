"""Finding the right tools among many: a registry with pluggable retrieval.

With hundreds of tools a prompt cannot hold them all (TaskMatrix, TPTU-v2): the planner,
the role designer and the executors see the ``top_k`` tools most relevant to their goal or
subtask. Retrieval sits behind :class:`ToolRetriever`; lexical BM25 (``bm25s``) is the
default, and an embedding retriever can take its place.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import bm25s
from langchain_core.tools import BaseTool

__all__ = [
    "BM25ToolRetriever",
    "EmbeddingToolRetriever",
    "HybridToolRetriever",
    "ToolRegistry",
    "ToolRetriever",
    "tool_document",
]

_WORD = re.compile(r"[A-Za-z][a-z]+|[A-Z]+(?![a-z])|\d+")
_BM25_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s.tokenize's default pattern


def tool_document(tool: BaseTool) -> str:
    """The text a tool is found by: its name split into words, description, argument names."""
    name_words = " ".join(_WORD.findall(tool.name.replace("_", " ").replace("-", " ")))
    args = " ".join(tool.args)
    return f"{name_words} {tool.description} {args}"


class ToolRetriever(Protocol):
    """Ranks tools by relevance to a text."""

    def rank(self, query: str, k: int) -> list[str]:
        """Names of the ``k`` most relevant tools, best first."""
        ...


class BM25ToolRetriever:
    """Lexical BM25 over :func:`tool_document` texts."""

    def __init__(self, documents: Mapping[str, str]) -> None:
        self._names = list(documents)
        self._index = bm25s.BM25()
        self._postings: dict[int, list[tuple[int, float]]] = {}
        if self._names:
            tokens = bm25s.tokenize(
                [_split(documents[n]) for n in self._names], stopwords="en", show_progress=False
            )
            self._index.index(tokens, show_progress=False)

    def rank(self, query: str, k: int) -> list[str]:
        """Names of up to ``k`` tools sharing words with ``query``, best first.

        Tools with no word in common are left out rather than ranked arbitrarily.
        """
        k = min(k, len(self._names))
        if k == 0:
            return []
        # The index's own word pattern; stopwords and unknown words score nothing (they are
        # not in the vocabulary). Scoring directly, not through `retrieve`, spares two
        # (disabled) progress bars and a tokenizer object per query: 2x faster.
        ids = self._index.get_tokens_ids(_BM25_TOKEN.findall(_split(query)))
        if not ids:
            return []
        scores = self._scores(ids)
        order = sorted(range(len(self._names)), key=lambda i: (-float(scores[i]), i))
        return [self._names[i] for i in order[:k] if scores[i] > 0]

    def _scores(self, ids: list[int]) -> Sequence[float]:
        """Each tool's score for the query's token ids: ``get_scores_from_ids``'s, exactly.

        bm25s adds each token's float32 scores into a float32 array, a numpy call per
        token (most of a query's cost on a small index). The same additions, in the same
        order, into an ``array("f")``: each sum is done in float64 and stored rounded to
        float32, which gives float32 addition's result exactly (double rounding through a
        format of at least 2 * 24 + 2 bits cannot change it), so ties break as before.
        """
        if self._index.nonoccurrence_array is not None:  # other BM25 variants: bm25s's own
            return list(self._index.get_scores_from_ids(ids))
        scores = array("f", bytes(4 * len(self._names)))
        for token in ids:
            for doc, value in self._posting(token):
                scores[doc] += value
        return scores

    def _posting(self, token: int) -> list[tuple[int, float]]:
        """The documents holding ``token`` and its score in each, in the index's order."""
        found = self._postings.get(token)
        if found is None:
            index = self._index.scores
            start, end = int(index["indptr"][token]), int(index["indptr"][token + 1])
            found = list(
                zip(
                    index["indices"][start:end].tolist(),
                    index["data"][start:end].tolist(),
                    strict=True,
                )
            )
            self._postings[token] = found
        return found


class EmbeddingToolRetriever:
    """Cosine similarity between the query's and each tool document's embedding.

    ``embed`` maps texts to unit vectors (e.g. ``orchestra.memory.MiniLMEmbedder().embed``).
    """

    def __init__(self, documents: Mapping[str, str], embed: Callable[[Sequence[str]], Any]) -> None:
        self._names = list(documents)
        self._embed = embed
        self._vectors = embed([documents[n] for n in self._names]) if self._names else None

    def rank(self, query: str, k: int) -> list[str]:
        """Names of the ``k`` tools closest to ``query``."""
        k = min(k, len(self._names))
        if k == 0 or self._vectors is None:
            return []
        scores = self._vectors @ self._embed([query])[0]
        order = sorted(range(len(self._names)), key=lambda i: (-float(scores[i]), i))
        return [self._names[i] for i in order[:k]]


class HybridToolRetriever:
    """Reciprocal-rank fusion of several retrievers (e.g. BM25 and embeddings)."""

    def __init__(self, *retrievers: ToolRetriever, depth: int = 60) -> None:
        self._retrievers = retrievers
        self._depth = depth

    def rank(self, query: str, k: int) -> list[str]:
        """Names ranked by the sum of 1 / (60 + rank) over the retrievers."""
        scores: dict[str, float] = {}
        for retriever in self._retrievers:
            for position, name in enumerate(retriever.rank(query, max(k, self._depth))):
                scores[name] = scores.get(name, 0.0) + 1.0 / (60 + position)
        return sorted(scores, key=lambda n: -scores[n])[:k]


def _split(text: str) -> str:
    return " ".join(_WORD.findall(text.replace("_", " "))).lower()


class ToolRegistry:
    """The team's tools, and the most relevant of them for a given text."""

    def __init__(
        self,
        tools: Mapping[str, BaseTool],
        *,
        top_k: int = 8,
        retriever: Callable[[Mapping[str, str]], ToolRetriever] = BM25ToolRetriever,
    ) -> None:
        self.tools = dict(tools)
        self.source = tools
        """The mapping this registry was built from (a runtime copied with other tools
        builds a new registry; one copied with the same tools shares this one)."""
        self.top_k = top_k
        self._make_retriever = retriever
        self._retriever: ToolRetriever | None = None

    @property
    def retriever(self) -> ToolRetriever:
        """The index over the tools, built the first time a list is too long to show.

        A team with no more than ``top_k`` tools never builds one.
        """
        if self._retriever is None:
            docs = {name: tool_document(t) for name, t in self.tools.items()}
            self._retriever = self._make_retriever(docs)
        return self._retriever

    def relevant(self, query: str, *, among: Iterable[str] | None = None) -> list[str]:
        """Up to ``top_k`` tool names for ``query``, restricted to ``among`` when given.

        When there are no more candidates than ``top_k`` all of them are returned, in their
        own order: retrieval only ever narrows a list that would not fit.
        """
        candidates: Sequence[str] = (
            [n for n in among if n in self.tools] if among is not None else list(self.tools)
        )
        if len(candidates) <= self.top_k:
            return list(candidates)
        allowed = set(candidates)
        ranked = [n for n in self.retriever.rank(query, len(self.tools)) if n in allowed]
        # Too few matches: fill up with the other candidates, in their own order.
        seen = set(ranked)
        ranked += [n for n in candidates if n not in seen]
        return ranked[: self.top_k]

    def descriptions(self, names: Iterable[str]) -> dict[str, str]:
        """Name to description for ``names``, for prompts."""
        return {n: self.tools[n].description for n in names}

"""BM25 ranking scores queries itself: the same float32 scores as bm25s, bit for bit."""

from __future__ import annotations

import random
import re
import struct
from pathlib import Path

import pytest

from orchestra.evals.dags import load_dags
from orchestra.tools.registry import _BM25_TOKEN, BM25ToolRetriever, _split

DAGS = Path(__file__).resolve().parents[3] / "shared" / "eval" / "sample-dags.jsonl"


def _documents() -> list[dict[str, str]]:
    """Tool documents of each sample record, and of all of them together."""
    records = load_dags(DAGS)
    corpora = [
        {t.name: f"{t.name} {t.description} {' '.join(t.parameters)}" for t in r.tools}
        for r in records
    ]
    return [*corpora, {name: doc for corpus in corpora for name, doc in corpus.items()}]


def _bits(values: object) -> list[bytes]:
    return [struct.pack("f", float(v)) for v in values]  # type: ignore[attr-defined]


@pytest.mark.skipif(not DAGS.exists(), reason="needs the shared sample task graphs")
def test_scores_and_rankings_match_bm25s() -> None:
    rng = random.Random(0)
    checked = 0
    for docs in _documents():
        retriever = BM25ToolRetriever(docs)
        words = re.findall(r"\w+", " ".join(docs.values()))
        for _ in range(30):
            query = " ".join(rng.choices(words, k=rng.randint(1, 25)))
            ids = retriever._index.get_tokens_ids(_BM25_TOKEN.findall(_split(query)))
            if not ids:
                continue
            expected = retriever._index.get_scores_from_ids(ids)
            assert _bits(retriever._scores(ids)) == _bits(expected)
            ranked = sorted(range(len(docs)), key=lambda i: (-float(expected[i]), i))
            names = list(docs)
            assert retriever.rank(query, len(docs)) == [names[i] for i in ranked if expected[i] > 0]
            checked += 1
    assert checked > 1000

"""BM25 ranking scores queries itself: the same float32 scores as bm25s, bit for bit."""

from __future__ import annotations

import random
import re
import struct
from pathlib import Path

from orchestra.evals.dags import load_dags
from orchestra.tools.registry import _BM25_TOKEN, BM25ToolRetriever, _split

DAGS = Path(__file__).resolve().parents[3] / "shared" / "eval" / "sample-dags.jsonl"


def _documents() -> list[dict[str, str]]:
    """Tool documents: seeded made-up tool sets, and the sample records' tools when present.

    Each list of corpora ends with all of its tools together (a larger index).
    """
    rng = random.Random(1)
    syllables = ["ka", "lo", "mi", "ren", "sto", "vu", "pel", "dra", "xi", "nor", "tam", "qu"]
    vocabulary = ["".join(rng.choices(syllables, k=rng.randint(1, 3))) for _ in range(400)]
    corpora = [
        {
            f"tool_{n}_{t}": " ".join(rng.choices(vocabulary, k=rng.randint(3, 40)))
            for t in range(rng.randint(2, 40))
        }
        for n in range(40)
    ]
    if DAGS.exists():
        corpora += [
            {t.name: f"{t.name} {t.description} {' '.join(t.parameters)}" for t in r.tools}
            for r in load_dags(DAGS)
        ]
    return [*corpora, {name: doc for corpus in corpora for name, doc in corpus.items()}]


def _bits(values: object) -> list[bytes]:
    return [struct.pack("f", float(v)) for v in values]  # type: ignore[attr-defined]


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

"""Memory: embedding throughput, query latency at scale, memory growth per 10k entries.

    python benchmarks/memory.py [--entries N] [--embed-texts N] [--json]
                                                           (BENCH_SIZE=full: 100k entries)

* Embedding: texts/s of the offline MiniLM embedder on one thread (2000 texts unless
  ``--embed-texts``), padding each batch to its longest text, against the same model
  padding every text to 256 tokens (what chromadb's own ONNX class does), measured in the
  same run. Target: >= 250 texts/s.
* Query: p50/p95 of ``Memory.search`` (embedding the query included) with N entries in a
  local store, against the same at 1k entries. Target: p95 <= 20 ms at 100k. Entries are
  stored with precomputed unit vectors (embedding 100k texts would take minutes and measure
  the embedder, not the store).
* Growth: resident memory added per 10k entries.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Any

import numpy as np
from common import publish, rss_mb

from orchestra.memory import Memory, MemoryScope
from orchestra.memory.embeddings import MiniLMEmbedder

SENTENCES = [
    "The quarterly report shows revenue growth in the northern region.",
    "Our office cat sleeps on the printer every afternoon.",
    "Rotate database credentials every ninety days.",
    "The offsite will be held in Lisbon in June.",
    "Customers asked for an export button on the dashboard.",
]


def embedding_speed(n: int) -> dict[str, float]:
    texts = [f"{SENTENCES[i % 5]} Item {i}." for i in range(n)]
    embedder = MiniLMEmbedder(threads=1)
    embedder.embed(texts[:8])  # load the model outside the timing
    start = time.perf_counter()
    embedder.embed(texts)
    per_batch = n / (time.perf_counter() - start)
    _, tokenizer = embedder._load()
    tokenizer.enable_padding(length=256)  # the baseline: pad every text to 256 tokens
    start = time.perf_counter()
    embedder.embed(texts[: max(64, n // 8)])
    padded = max(64, n // 8) / (time.perf_counter() - start)
    return {
        "texts_per_s": round(per_batch, 1),
        "padded_256_texts_per_s": round(padded, 1),
        "ratio": round(per_batch / padded, 1),
    }


def fill(memory: Memory, count: int, start: int, rng: np.random.Generator) -> None:
    # The team's collection, written directly with precomputed vectors (see the docstring).
    collection = memory._collection(memory._name(MemoryScope.TEAM, "bench"), create=True)
    assert collection is not None
    for offset in range(0, count, 5000):
        size = min(5000, count - offset)
        vectors = rng.standard_normal((size, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = [f"bench-{start + offset + i}" for i in range(size)]
        collection.add(
            ids=ids,
            embeddings=list(vectors),
            documents=[f"{SENTENCES[i % 5]} #{start + offset + i}" for i in range(size)],
            metadatas=[
                {
                    "scope": "team",
                    "team": "bench",
                    "source": "note",
                    "created_at": "2026-11-28T00:00:00+00:00",
                    "content_hash": ids[i],
                }
                for i in range(size)
            ],
        )


def query_latency(memory: Memory, queries: int = 200) -> dict[str, float]:
    timings = []
    for i in range(queries):
        start = time.perf_counter()
        memory.search(f"{SENTENCES[i % 5]} question {i}", team="bench", k=5)
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[int(0.95 * len(timings)) - 1], 2),
    }


def run(entries: int, embed_texts: int = 2000) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    result: dict[str, Any] = {"entries": entries, "embedding": embedding_speed(embed_texts)}
    with tempfile.TemporaryDirectory() as folder:
        memory = Memory.local(folder)
        memory.search("warm up", team="bench")
        fill(memory, 1000, 0, rng)
        small = query_latency(memory)
        growth = []
        filled = 1000
        while filled < entries:
            step = min(10_000, entries - filled)
            before = rss_mb()
            fill(memory, step, filled, rng)
            filled += step
            growth.append(round((rss_mb() - before) * 10_000 / step, 1))
        large = query_latency(memory)
    result["query_at_1k"] = small
    result[f"query_at_{entries // 1000}k"] = large
    result["p95_ratio_vs_1k"] = round(large["p95_ms"] / small["p95_ms"], 2)
    result["rss_mb_per_10k_entries"] = growth
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = 100_000 if os.environ.get("BENCH_SIZE") == "full" else 10_000
    parser.add_argument("--entries", type=int, default=default)
    parser.add_argument("--embed-texts", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(max(args.entries, 1000), embed_texts=max(args.embed_texts, 64))
    publish("memory", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

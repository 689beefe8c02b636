"""Shared memory for teams: a chromadb store with offline embeddings, provenance and scopes."""

from orchestra.memory.embeddings import MiniLMEmbedder
from orchestra.memory.records import MemoryHit, MemoryRecord, MemoryScope, MemorySource
from orchestra.memory.store import Memory

__all__ = [
    "Memory",
    "MemoryHit",
    "MemoryRecord",
    "MemoryScope",
    "MemorySource",
    "MiniLMEmbedder",
]

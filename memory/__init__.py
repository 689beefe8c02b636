"""Shared memory for teams: offline embeddings now; the chromadb store comes with issue 6."""

from orchestra.memory.embeddings import MiniLMEmbedder

__all__ = ["MiniLMEmbedder"]

"""The offline MiniLM embedder as a chromadb embedding function.

Registered under ``orchestra-minilm-int8``, so a collection created with it records that
name and reopens with it, without passing the function again.
"""

from __future__ import annotations

from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from orchestra.memory.embeddings import MiniLMEmbedder

__all__ = ["MiniLMEmbeddingFunction"]


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """all-MiniLM-L6-v2 (int8 ONNX), offline, 384 dimensions, cosine space."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._embedder = MiniLMEmbedder(threads=threads)

    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002 (chromadb's name)
        """Embed the documents."""
        return list(self._embedder.embed(list(input)))

    @staticmethod
    def name() -> str:
        """The registered name."""
        return "orchestra-minilm-int8"

    def default_space(self) -> Space:
        """Cosine: the vectors are unit length."""
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        """Spaces that make sense for unit vectors."""
        return ["cosine", "ip", "l2"]

    def get_config(self) -> dict[str, Any]:
        """What chromadb stores to rebuild the function."""
        return {"threads": self.threads}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        """Rebuild from :meth:`get_config`."""
        return MiniLMEmbeddingFunction(threads=int(config.get("threads", 1)))

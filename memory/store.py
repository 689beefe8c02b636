"""The shared memory: a chromadb collection of texts with provenance, scoped by team and run."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import chromadb
from chromadb.config import Settings

from orchestra.core.errors import ConfigError
from orchestra.memory.chroma_embedding import MiniLMEmbeddingFunction
from orchestra.memory.records import (
    MemoryHit,
    MemoryRecord,
    MemoryScope,
    MemorySource,
    content_hash,
)

__all__ = ["DEFAULT_PATH", "MEMORY_URL_ENV", "Memory"]

DEFAULT_PATH = Path(".orchestra/memory")
MEMORY_URL_ENV = "ORCHESTRA_MEMORY_URL"
"""Set to a chromadb server URL (``http://127.0.0.1:8000``) to share memory between machines."""
COLLECTION = "orchestra_memory"


def _settings() -> Settings:
    # chromadb's anonymized telemetry is on by default: nothing leaves the machine here.
    return Settings(anonymized_telemetry=False)


class Memory:
    """Texts with provenance that every agent of a team can search and add to.

    ``Memory.local(path)`` keeps the store in a folder (chromadb embedded);
    ``Memory.connect(url)`` uses a chromadb server; ``Memory.from_env()`` picks the server in
    ``ORCHESTRA_MEMORY_URL`` or else ``.orchestra/memory``. Embeddings are computed offline
    (all-MiniLM-L6-v2); equal texts in the same scope are stored once.
    """

    def __init__(self, client: Any, *, collection: str = COLLECTION) -> None:
        self.client = client
        self.collection = client.get_or_create_collection(
            collection,
            embedding_function=MiniLMEmbeddingFunction(),
            configuration={"hnsw": {"space": "cosine"}},
        )

    @classmethod
    def local(cls, path: str | Path = DEFAULT_PATH, *, collection: str = COLLECTION) -> Memory:
        """A store in a local folder (created if needed)."""
        folder = Path(path).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(folder), settings=_settings())
        return cls(client, collection=collection)

    @classmethod
    def connect(cls, url: str, *, collection: str = COLLECTION) -> Memory:
        """A store on a chromadb server, e.g. ``Memory.connect("http://127.0.0.1:8000")``."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"memory server URL must be http(s)://host:port, not {url!r}")
        client = chromadb.HttpClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            settings=_settings(),
        )
        return cls(client, collection=collection)

    @classmethod
    def from_env(cls) -> Memory:
        """The server in ``ORCHESTRA_MEMORY_URL``, else the local default folder."""
        url = os.environ.get(MEMORY_URL_ENV, "").strip()
        return cls.connect(url) if url else cls.local()

    # -- writing -------------------------------------------------------------------------

    def add(
        self,
        text: str,
        *,
        team: str,
        scope: MemoryScope | str = MemoryScope.TEAM,
        source: MemorySource | str = MemorySource.NOTE,
        run_id: str | None = None,
        task_id: str | None = None,
        role: str | None = None,
        tool: str | None = None,
        title: str | None = None,
    ) -> MemoryRecord:
        """Store ``text`` (once per scope) and return its record.

        Raises:
            ValueError: an empty text, or a run-scoped memory without a run id.
        """
        scope, source = MemoryScope(scope), MemorySource(source)
        if not text.strip():
            raise ValueError("a memory needs some text")
        if scope is MemoryScope.RUN and not run_id:
            raise ValueError("a run-scoped memory needs the run id")
        digest = content_hash(text)
        owner = {"run": run_id or "", "team": team, "global": ""}[scope.value]
        memory_id = hashlib.sha256(f"{scope}|{owner}|{digest}".encode()).hexdigest()[:32]
        existing = self.collection.get(ids=[memory_id], include=["documents", "metadatas"])
        if existing["ids"]:
            return _record(memory_id, existing["documents"][0], existing["metadatas"][0])
        record = MemoryRecord(
            id=memory_id,
            text=text,
            scope=scope,
            source=source,
            team=team,
            run_id=run_id,
            task_id=task_id,
            role=role,
            tool=tool,
            created_at=datetime.now(UTC),
            content_hash=digest,
            title=title,
        )
        self.collection.add(ids=[memory_id], documents=[text], metadatas=[_metadata(record)])
        return record

    def add_documents(
        self,
        documents: Mapping[str, str] | Iterable[str | Path],
        *,
        team: str,
        scope: MemoryScope | str = MemoryScope.TEAM,
        chunk_chars: int = 1200,
    ) -> list[MemoryRecord]:
        """Load documents, cut into chunks of about ``chunk_chars`` at paragraph ends.

        ``documents`` maps titles to texts, or lists file paths (read as UTF-8 text).
        """
        items: list[tuple[str, str]]
        if isinstance(documents, Mapping):
            items = list(documents.items())
        else:
            items = [(str(p), Path(p).read_text("utf-8")) for p in documents]
        records = []
        for title, text in items:
            for chunk in chunk_text(text, chunk_chars):
                records.append(
                    self.add(
                        chunk, team=team, scope=scope, source=MemorySource.DOCUMENT, title=title
                    )
                )
        return records

    # -- reading -------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        team: str,
        run_id: str | None = None,
        scopes: Iterable[MemoryScope | str] = tuple(MemoryScope),
        k: int = 5,
        min_score: float = 0.0,
    ) -> list[MemoryHit]:
        """The ``k`` memories most similar to ``query`` that the caller may see.

        Run-scoped memories are visible only to ``run_id``, team-scoped ones only to ``team``.
        """
        where = _visibility(team, run_id, {MemoryScope(s) for s in scopes})
        if where is None or k < 1 or self.collection.count() == 0:
            return []
        found = self.collection.query(
            query_texts=[query],
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for memory_id, text, meta, distance in zip(
            found["ids"][0],
            found["documents"][0],
            found["metadatas"][0],
            found["distances"][0],
            strict=True,
        ):
            score = max(-1.0, min(1.0, 1.0 - float(distance)))
            if score >= min_score:
                hits.append(MemoryHit(record=_record(memory_id, text, meta), score=score))
        return hits

    def get(self, ids: Sequence[str]) -> list[MemoryRecord]:
        """The records with these ids (unknown ids are skipped)."""
        found = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        return [
            _record(i, d, m)
            for i, d, m in zip(found["ids"], found["documents"], found["metadatas"], strict=True)
        ]

    def count(self) -> int:
        """How many memories the store holds."""
        return int(self.collection.count())

    # -- forgetting ----------------------------------------------------------------------

    def forget(
        self,
        *,
        ids: Sequence[str] | None = None,
        run_id: str | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> int:
        """Delete memories by id, by run, or by a chromadb metadata filter; how many went."""
        if ids is None and run_id is None and where is None:
            raise ValueError("say what to forget: ids, run_id or where")
        conditions: list[dict[str, Any]] = []
        if run_id is not None:
            conditions.append({"run_id": run_id})
        if where is not None:
            conditions.append(dict(where))
        filter_: dict[str, Any] | None = (
            None
            if not conditions
            else conditions[0]
            if len(conditions) == 1
            else {"$and": conditions}
        )
        found = self.collection.get(ids=list(ids) if ids is not None else None, where=filter_)
        if found["ids"]:
            self.collection.delete(ids=found["ids"])
        return len(found["ids"])


def chunk_text(text: str, chunk_chars: int) -> list[str]:
    """``text`` in chunks of at most about ``chunk_chars``, cut at paragraph or sentence ends."""
    pieces = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        while len(piece) > chunk_chars:  # a long paragraph: cut at a sentence end
            cut = piece.rfind(". ", 0, chunk_chars)
            cut = cut + 1 if cut > chunk_chars // 2 else chunk_chars
            chunks.append(piece[:cut].strip())
            piece = piece[cut:].strip()
        if current and len(current) + len(piece) + 2 > chunk_chars:
            chunks.append(current)
            current = piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


def _visibility(team: str, run_id: str | None, scopes: set[MemoryScope]) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if MemoryScope.RUN in scopes and run_id:
        clauses.append({"$and": [{"scope": "run"}, {"run_id": run_id}]})
    if MemoryScope.TEAM in scopes:
        clauses.append({"$and": [{"scope": "team"}, {"team": team}]})
    if MemoryScope.GLOBAL in scopes:
        clauses.append({"scope": "global"})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def _metadata(record: MemoryRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json", exclude={"id", "text"})
    return {k: v for k, v in data.items() if v is not None}  # chromadb stores no nulls


def _record(memory_id: str, text: str | None, meta: Mapping[str, Any] | None) -> MemoryRecord:
    return MemoryRecord.model_validate({**(meta or {}), "id": memory_id, "text": text or ""})

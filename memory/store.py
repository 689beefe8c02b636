"""The shared memory: chromadb collections of texts with provenance, scoped by team and run."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from orchestra.core.errors import ConfigError
from orchestra.memory.records import (
    MemoryHit,
    MemoryRecord,
    MemoryScope,
    MemorySource,
    content_hash,
)
from orchestra.observability.redact import url_without_password

__all__ = ["DEFAULT_PATH", "MEMORY_URL_ENV", "Memory"]

DEFAULT_PATH = Path(".orchestra/memory")
MEMORY_URL_ENV = "ORCHESTRA_MEMORY_URL"
"""Set to a chromadb server URL (``http://127.0.0.1:8000``) to share memory between machines."""
COLLECTION = "orchestra_memory"
MISS_TTL_S = 5.0


if TYPE_CHECKING:
    from chromadb.config import Settings

# chromadb (about 0.3 s to import) is imported when a store is made, not with orchestra:
# runs, the CLI and the checks that never touch memory do not pay for it.


def _settings() -> Settings:
    from chromadb.config import Settings

    # chromadb's anonymized telemetry is on by default: nothing leaves the machine here.
    return Settings(anonymized_telemetry=False)


class Memory:
    """Texts with provenance that every agent of a team can search and add to.

    ``Memory.local(path)`` keeps the store in a folder (chromadb embedded);
    ``Memory.connect(url)`` uses a chromadb server; ``Memory.from_env()`` picks the server in
    ``ORCHESTRA_MEMORY_URL`` or else ``.orchestra/memory``. Embeddings are computed offline
    (all-MiniLM-L6-v2); equal texts in the same scope are stored once.

    Each visibility domain is a collection of its own (``<prefix>-g`` for global memories,
    ``<prefix>-t-<team>`` per team, ``<prefix>-r-<run>`` per run), so a search reads at most
    three collections without a metadata filter: chromadb's filters cost time linear in the
    collection (measured: 30 ms at 11k entries against 1.5 ms unfiltered).
    """

    def __init__(self, client: Any, *, collection: str = COLLECTION) -> None:
        self.client = client
        from orchestra.memory.chroma_embedding import MiniLMEmbeddingFunction

        self.prefix = _slug(collection)
        self._function = MiniLMEmbeddingFunction()
        self._open: dict[str, Any] = {}
        self._missing: dict[str, float] = {}

    @classmethod
    def local(cls, path: str | Path = DEFAULT_PATH, *, collection: str = COLLECTION) -> Memory:
        """A store in a local folder (created if needed)."""
        folder = Path(path).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        import chromadb

        client = chromadb.PersistentClient(path=str(folder), settings=_settings())
        return cls(client, collection=collection)

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        collection: str = COLLECTION,
        headers: Mapping[str, str] | None = None,
    ) -> Memory:
        """A store on a chromadb server, e.g. ``Memory.connect("http://127.0.0.1:8000")``.

        ``url`` is ``http(s)://host[:port]`` and nothing more: credentials go in
        ``headers`` (e.g. ``{"Authorization": "Bearer ..."}`` or ``{"X-Chroma-Token":
        ...}``, as the server's auth expects), never in the URL, where they would be
        dropped (chromadb's client takes a host and a port) and shown in errors.

        Raises:
            ConfigError: the URL is not of that form, or no server answers there.
        """
        parts = urlsplit(url)
        shown = url_without_password(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"memory server URL must be http(s)://host:port, not {shown!r}")
        if parts.username is not None or parts.password is not None:
            raise ConfigError(
                f"memory server URL {shown!r} holds credentials, which would not be sent:"
                " give them as headers (Memory.connect(url, headers={...}))"
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(
                f"memory server URL must be http(s)://host:port with no path, not {shown!r}"
                " (a chromadb server answers at its root)"
            )
        import chromadb

        try:
            client = chromadb.HttpClient(
                host=parts.hostname,
                port=parts.port or (443 if parts.scheme == "https" else 8000),
                ssl=parts.scheme == "https",
                headers=dict(headers or {}),
                settings=_settings(),
            )
        except ValueError as exc:  # chromadb's way of saying nobody answered
            raise ConfigError(f"no chromadb server answers at {shown}: {exc}") from exc
        return cls(client, collection=collection)

    @classmethod
    def from_env(cls) -> Memory:
        """The server in ``ORCHESTRA_MEMORY_URL``, else the local default folder."""
        url = os.environ.get(MEMORY_URL_ENV, "").strip()
        return cls.connect(url) if url else cls.local()

    # -- collections ---------------------------------------------------------------------

    def _name(self, scope: MemoryScope, owner: str) -> str:
        if scope is MemoryScope.GLOBAL:
            return f"{self.prefix}-g"
        return f"{self.prefix}-{scope.value[0]}-{_slug(owner)}"

    def _collection(self, name: str, *, create: bool) -> Any | None:
        found = self._open.get(name)
        if found is not None:
            return found
        if create:
            found = self.client.get_or_create_collection(
                name,
                embedding_function=self._function,
                configuration={"hnsw": {"space": "cosine"}},
            )
        else:
            # A miss is remembered briefly: a search must not pay a failed lookup each time,
            # yet a collection another process creates shows up within seconds.
            if time.monotonic() - self._missing.get(name, -MISS_TTL_S) < MISS_TTL_S:
                return None
            try:
                found = self.client.get_collection(name, embedding_function=self._function)
            except Exception:  # chromadb raises NotFoundError or ValueError by version
                self._missing[name] = time.monotonic()
                return None
        self._missing.pop(name, None)
        self._open[name] = found
        return found

    def _all_collections(self) -> list[Any]:
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        found = [
            self._collection(n, create=False) for n in names if n.startswith(f"{self.prefix}-")
        ]
        return [c for c in found if c is not None]

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
        collection = self._collection(self._name(scope, owner), create=True)
        assert collection is not None  # create=True always returns one
        memory_id = hashlib.sha256(f"{scope}|{owner}|{digest}".encode()).hexdigest()[:32]
        existing = collection.get(ids=[memory_id], include=["documents", "metadatas"])
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
        collection.add(ids=[memory_id], documents=[text], metadatas=[_metadata(record)])
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
        return [
            self.add(chunk, team=team, scope=scope, source=MemorySource.DOCUMENT, title=title)
            for title, text in items
            for chunk in chunk_text(text, chunk_chars)
        ]

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
        wanted = {MemoryScope(s) for s in scopes}
        names = []
        if MemoryScope.RUN in wanted and run_id:
            names.append(self._name(MemoryScope.RUN, run_id))
        if MemoryScope.TEAM in wanted:
            names.append(self._name(MemoryScope.TEAM, team))
        if MemoryScope.GLOBAL in wanted:
            names.append(self._name(MemoryScope.GLOBAL, ""))
        collections = [c for c in (self._collection(n, create=False) for n in names) if c]
        if k < 1 or not collections:
            return []
        vector = self._function([query])  # embedded once for every collection
        hits: list[MemoryHit] = []
        for collection in collections:
            found = collection.query(
                query_embeddings=vector,
                n_results=k,
                include=["documents", "metadatas", "distances"],
            )
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
        hits.sort(key=lambda h: -h.score)
        return hits[:k]

    def get(self, ids: Sequence[str]) -> list[MemoryRecord]:
        """The records with these ids (unknown ids are skipped)."""
        out = []
        for collection in self._all_collections():
            found = collection.get(ids=list(ids), include=["documents", "metadatas"])
            out += [
                _record(i, d, m)
                for i, d, m in zip(
                    found["ids"], found["documents"], found["metadatas"], strict=True
                )
            ]
        order = {i: n for n, i in enumerate(ids)}
        return sorted(out, key=lambda r: order.get(r.id, 0))

    def count(self) -> int:
        """How many memories the store holds."""
        return sum(int(c.count()) for c in self._all_collections())

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
        gone = 0
        for collection in self._all_collections():
            found = collection.get(ids=list(ids) if ids is not None else None, where=filter_)
            if found["ids"]:
                collection.delete(ids=found["ids"])
                gone += len(found["ids"])
        return gone


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


def _slug(text: str) -> str:
    """A collection-name-safe form of ``text`` (chromadb allows [a-zA-Z0-9._-])."""
    clean = re.sub(r"[^a-zA-Z0-9._-]+", "-", text).strip("-._")[:40] or "x"
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{clean}-{digest}"


def _metadata(record: MemoryRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json", exclude={"id", "text"})
    return {k: v for k, v in data.items() if v is not None}  # chromadb stores no nulls


def _record(memory_id: str, text: str | None, meta: Mapping[str, Any] | None) -> MemoryRecord:
    return MemoryRecord.model_validate({**(meta or {}), "id": memory_id, "text": text or ""})

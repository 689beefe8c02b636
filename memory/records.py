"""What a memory is: text plus where it came from."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

__all__ = ["MemoryHit", "MemoryRecord", "MemoryScope", "MemorySource", "content_hash"]


class MemoryScope(StrEnum):
    """Who can see a memory."""

    RUN = "run"
    """Only the run that wrote it."""
    TEAM = "team"
    """Every run of the same team."""
    GLOBAL = "global"
    """Every team using this store."""


class MemorySource(StrEnum):
    """How a memory came to be."""

    TOOL_RESULT = "tool_result"
    TASK_RESULT = "task_result"
    DOCUMENT = "document"
    NOTE = "note"


def content_hash(text: str) -> str:
    """sha256 of the text with whitespace normalized (equal content, equal hash)."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


class MemoryRecord(BaseModel):
    """One memory with its provenance."""

    id: str
    text: str
    scope: MemoryScope
    source: MemorySource
    team: str
    run_id: str | None = None
    task_id: str | None = None
    role: str | None = None
    tool: str | None = None
    created_at: datetime
    content_hash: str
    title: str | None = None
    """For documents: the document's name; chunks share it."""


class MemoryHit(BaseModel):
    """A memory found by a search, with its similarity (1 is identical)."""

    record: MemoryRecord
    score: float = Field(ge=-1.0, le=1.0)

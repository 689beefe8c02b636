"""Workspace file tools confined to one directory, never following a symbolic link."""

from __future__ import annotations

import codecs
import fnmatch
import os
from pathlib import Path
from typing import BinaryIO

from langchain_core.tools import BaseTool

from orchestra.core.errors import ConfigError
from orchestra.tools.builtin.confined import ConfinedRoot, PathEscapeError, open_in, supported
from orchestra.tools.decorator import ToolSet

__all__ = ["PathEscapeError", "Workspace"]

MAX_LISTED = 500
MAX_HITS = 200
LINE_PIECE = 64 * 1024
"""``search_files`` reads a line at most this many bytes at a time (long lines in pieces)."""


class Workspace(ToolSet):
    """``read_file``, ``write_file``, ``list_files`` and ``search_files`` inside ``root``.

    Paths are relative to the workspace (``..`` may not climb out of it). Every file and
    folder is opened relative to its parent's descriptor without following symbolic links,
    so a path through a link is refused, even one that a local process swaps in while a
    call runs. Reads stop at ``max_read_bytes`` and search reads line by line, so a huge
    file is never loaded whole. ``writable=False`` leaves out ``write_file``.

    Example:
        ``Team(tools=[Workspace("./work")])``
    """

    def __init__(
        self, root: str | Path, *, writable: bool = True, max_read_bytes: int = 200_000
    ) -> None:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise ConfigError(f"workspace {path} is not a directory")
        if not supported():
            raise ConfigError("Workspace needs O_NOFOLLOW and openat (Linux, macOS, BSD)")
        self.root = path.resolve()
        self.writable = writable
        self.max_read_bytes = max_read_bytes
        self._fs = ConfinedRoot(self.root)

    def tools(self) -> list[BaseTool]:
        """The workspace's tools (without ``write_file`` when read-only)."""
        found = super().tools()
        return [t for t in found if self.writable or t.name != "write_file"]

    @ToolSet.method
    def read_file(self, path: str) -> str:
        """Read a text file of the workspace."""
        with os.fdopen(self._fs.open_file(self._fs.parts(path)), "rb", buffering=0) as file:
            size = os.fstat(file.fileno()).st_size
            data = _read_at_most(file, self.max_read_bytes)
        cut = len(data) == self.max_read_bytes and size > len(data)
        text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=not cut)
        if cut:
            text += f"\n[... cut at {len(data)} bytes: the file has {size} bytes]"
        return text

    @ToolSet.method(side_effects=True)
    def write_file(self, path: str, content: str) -> str:
        """Write a text file in the workspace (creating folders); replaces an existing file."""
        parts = self._fs.parts(path)
        with os.fdopen(self._fs.open_file(parts, write=True), "w", encoding="utf-8") as file:
            file.write(content)
        return f"wrote {len(content)} characters to {'/'.join(parts)}"

    @ToolSet.method
    def list_files(self, path: str = ".", pattern: str = "*") -> list[str]:
        """List the files under a workspace folder whose names match a glob pattern."""
        found = []
        for _, name, parts in self._fs.files(self._fs.parts(path)):
            if fnmatch.fnmatch(name, pattern):
                found.append("/".join(parts))
                if len(found) == MAX_LISTED:
                    break
        return found

    @ToolSet.method
    def search_files(self, text: str, pattern: str = "*") -> list[str]:
        """Find lines containing a text in the workspace's files: 'path:line: content'."""
        hits: list[str] = []
        needle = text.lower()
        searched = 0
        for folder, name, parts in self._fs.files([]):
            if not fnmatch.fnmatch(name, pattern):
                continue
            searched += 1
            if searched > MAX_LISTED or len(hits) >= MAX_HITS:
                break
            try:
                with os.fdopen(open_in(folder, name, parts), "rb", buffering=LINE_PIECE) as file:
                    found = _matching_lines(file, needle, MAX_HITS - len(hits))
            except (UnicodeDecodeError, OSError):  # not text, or gone: skipped
                continue
            rel = "/".join(parts)
            hits.extend(f"{rel}:{n}: {line.strip()[:200]}" for n, line in found)
        return hits[:MAX_HITS]


def _read_at_most(file: BinaryIO, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = file.read(min(left, LINE_PIECE))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _matching_lines(file: BinaryIO, needle: str, limit: int) -> list[tuple[int, str]]:
    """Numbered lines containing ``needle`` (lower case), read a bounded piece at a time.

    A line longer than :data:`LINE_PIECE` is searched piece by piece, each with the end
    of the one before so a match across pieces is found; a line counts once. Raises
    ``UnicodeDecodeError`` for a file that is not UTF-8.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    overlap = max(len(needle) - 1, 0)
    found: list[tuple[int, str]] = []
    number, carried, matched = 1, "", False
    while len(found) < limit:
        raw = file.readline(LINE_PIECE)
        if not raw:
            break
        piece = carried + decoder.decode(raw)
        if not matched and needle in piece.lower():
            found.append((number, piece))
            matched = True
        if raw.endswith(b"\n"):
            number, carried, matched = number + 1, "", False
        else:
            carried = piece[len(piece) - overlap :] if overlap else ""
    decoder.decode(b"", final=True)
    return found

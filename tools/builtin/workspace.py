"""Workspace file tools confined to one directory (symlinks included)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from langchain_core.tools import BaseTool

from orchestra.core.errors import ConfigError
from orchestra.tools.decorator import ToolSet

__all__ = ["PathEscapeError", "Workspace"]


class PathEscapeError(PermissionError):
    """A path that would leave the workspace."""


class Workspace(ToolSet):
    """``read_file``, ``write_file``, ``list_files`` and ``search_files`` inside ``root``.

    Every path is resolved (``..`` and symlinks followed) before use; one that ends outside
    the workspace is refused, so a model cannot read ``/etc/passwd`` or write through a
    symlink that points out. ``writable=False`` leaves out ``write_file``.

    Example:
        ``Team(tools=[Workspace("./work")])``
    """

    def __init__(
        self, root: str | Path, *, writable: bool = True, max_read_bytes: int = 200_000
    ) -> None:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise ConfigError(f"workspace {path} is not a directory")
        self.root = path.resolve()
        self.writable = writable
        self.max_read_bytes = max_read_bytes

    def tools(self) -> list[BaseTool]:
        """The workspace's tools (without ``write_file`` when read-only)."""
        found = super().tools()
        return [t for t in found if self.writable or t.name != "write_file"]

    def resolve(self, path: str) -> Path:
        """``path`` (relative to the workspace) resolved, or :class:`PathEscapeError`."""
        candidate = (self.root / path).resolve()
        if candidate != self.root and not candidate.is_relative_to(self.root):
            raise PathEscapeError(f"refused: {path!r} is outside the workspace")
        return candidate

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() or "."

    @ToolSet.method
    def read_file(self, path: str) -> str:
        """Read a text file of the workspace."""
        target = self.resolve(path)
        if not target.is_file():
            raise FileNotFoundError(f"no file {path!r} in the workspace")
        data = target.read_bytes()[: self.max_read_bytes]
        return data.decode("utf-8", errors="replace")

    @ToolSet.method(side_effects=True)
    def write_file(self, path: str, content: str) -> str:
        """Write a text file in the workspace (creating folders); replaces an existing file."""
        target = self.resolve(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.resolve(self._relative(target.parent))  # the created folders stay inside too
        target.write_text(content, encoding="utf-8")
        return f"wrote {len(content)} characters to {self._relative(target)}"

    @ToolSet.method
    def list_files(self, path: str = ".", pattern: str = "*") -> list[str]:
        """List the files under a workspace folder whose names match a glob pattern."""
        base = self.resolve(path)
        if not base.is_dir():
            raise NotADirectoryError(f"no folder {path!r} in the workspace")
        found = []
        for item in sorted(base.rglob("*")):
            if item.is_file() and fnmatch.fnmatch(item.name, pattern):
                resolved = item.resolve()
                if resolved.is_relative_to(self.root):  # skip symlinks pointing out
                    found.append(self._relative(item.absolute()))
        return found[:500]

    @ToolSet.method
    def search_files(self, text: str, pattern: str = "*") -> list[str]:
        """Find lines containing a text in the workspace's files: 'path:line: content'."""
        hits: list[str] = []
        needle = text.lower()
        for rel in self.list_files(".", pattern):
            try:
                lines = (self.root / rel).read_text("utf-8").splitlines()
            except (UnicodeDecodeError, OSError):
                continue
            hits.extend(
                f"{rel}:{n}: {line.strip()[:200]}"
                for n, line in enumerate(lines, 1)
                if needle in line.lower()
            )
            if len(hits) >= 200:
                break
        return hits[:200]

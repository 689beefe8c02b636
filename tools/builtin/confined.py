"""Files under one folder, opened without ever following a symbolic link.

Every path is walked from a descriptor of the root, one component at a time, each opened
relative to its parent's descriptor with ``O_NOFOLLOW`` (``openat``). Nothing is checked
and then opened by name, so a folder swapped for a link between two calls (or during one)
is refused, never followed. ``..`` is resolved in the path's text, never on disk.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path, PurePosixPath

__all__ = ["ConfinedRoot", "PathEscapeError"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # so a FIFO cannot block an open; refused after
OPEN_DIR = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
OPEN_READ = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK
OPEN_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | _CLOEXEC | _NONBLOCK
# What open() says about a final symbolic link under O_NOFOLLOW: ELOOP (Linux, macOS),
# EMLINK (FreeBSD); ENOTDIR when O_DIRECTORY is set too (Linux).
_LINK_ERRNOS = {errno.ELOOP, errno.EMLINK}


class PathEscapeError(PermissionError):
    """A path that would leave the workspace, or pass through a symbolic link."""


def supported() -> bool:
    """Whether this platform opens files relative to a folder descriptor without links."""
    return bool(_NOFOLLOW and _DIRECTORY) and os.open in os.supports_dir_fd


class ConfinedRoot:
    """Opens files and folders under ``root``; every step refuses symbolic links."""

    def __init__(self, root: Path) -> None:
        self.path = root
        info = os.stat(root)
        self._identity = (info.st_dev, info.st_ino)

    def parts(self, path: str) -> list[str]:
        """``path`` as components under the root; :class:`PathEscapeError` if it leaves."""
        given = PurePosixPath(path)
        if given.is_absolute():  # accepted when it names a place inside the root
            root = PurePosixPath(self.path)
            if given != root and root not in given.parents:
                raise PathEscapeError(f"refused: {path!r} is outside the workspace")
            given = given.relative_to(root)
        parts: list[str] = []
        for part in given.parts:
            if part == "..":
                if not parts:
                    raise PathEscapeError(f"refused: {path!r} is outside the workspace")
                parts.pop()
            elif part not in ("", "."):
                parts.append(part)
        return parts

    @contextmanager
    def folder(self, parts: Sequence[str], *, create: bool = False) -> Iterator[int]:
        """A descriptor of the folder at ``parts`` (made, with its parents, if ``create``)."""
        fd = os.open(self.path, OPEN_DIR)
        try:
            info = os.fstat(fd)
            if (info.st_dev, info.st_ino) != self._identity:
                raise PathEscapeError(f"refused: the workspace folder {self.path} was replaced")
            for depth, name in enumerate(parts, 1):
                child = self._open_folder(fd, name, parts[:depth], create=create)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def _open_folder(self, parent: int, name: str, shown: Sequence[str], *, create: bool) -> int:
        try:
            return os.open(name, OPEN_DIR, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise FileNotFoundError(f"no folder {_join(shown)!r} in the workspace") from None
        except OSError as exc:
            raise _refusal(exc, parent, shown) from None
        with suppress(FileExistsError):  # made meanwhile: opened below like any other
            os.mkdir(name, dir_fd=parent)
        try:
            return os.open(name, OPEN_DIR, dir_fd=parent)
        except OSError as exc:
            raise _refusal(exc, parent, shown) from None

    def open_file(self, parts: Sequence[str], *, write: bool = False) -> int:
        """A descriptor of the regular file at ``parts``, for reading or (re)writing."""
        if not parts:
            raise IsADirectoryError("the workspace itself is a folder, not a file")
        with self.folder(parts[:-1], create=write) as parent:
            return open_in(parent, parts[-1], parts, write=write)

    def files(self, parts: Sequence[str]) -> Iterator[tuple[int, str, list[str]]]:
        """Every regular file under the folder ``parts``, in path order, links skipped.

        Yields ``(folder descriptor, name, components)``; the descriptor is open only
        until the next item.
        """
        with self.folder(parts) as fd:
            yield from _walk(fd, list(parts))


def open_in(parent: int, name: str, shown: Sequence[str], *, write: bool = False) -> int:
    """Open the regular file ``name`` of the folder ``parent`` without following a link."""
    try:
        fd = os.open(name, OPEN_WRITE if write else OPEN_READ, 0o666, dir_fd=parent)
    except FileNotFoundError:
        raise FileNotFoundError(f"no file {_join(shown)!r} in the workspace") from None
    except OSError as exc:
        raise _refusal(exc, parent, shown) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(f"{_join(shown)!r} is a folder, not a file")
        raise PathEscapeError(f"refused: {_join(shown)!r} is not a regular file")
    return fd


def _walk(fd: int, prefix: list[str]) -> Iterator[tuple[int, str, list[str]]]:
    with os.scandir(fd) as listing:
        entries = sorted(
            (e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False))
            for e in listing
        )
    for name, is_dir, is_file in entries:
        if is_file:
            yield fd, name, [*prefix, name]
        elif is_dir:
            try:
                child = os.open(name, OPEN_DIR, dir_fd=fd)
            except OSError:  # removed, or swapped for a link, since the listing
                continue
            try:
                yield from _walk(child, [*prefix, name])
            finally:
                os.close(child)


def _refusal(exc: OSError, parent: int, shown: Sequence[str]) -> OSError:
    # The open already failed; this only picks the message (a link opened as a folder
    # fails with ENOTDIR on Linux, not ELOOP).
    where = _join(shown)
    if exc.errno in _LINK_ERRNOS or _is_link(parent, shown[-1]):
        return PathEscapeError(
            f"refused: {where!r} is a symbolic link; the workspace does not follow links"
        )
    if exc.errno == errno.ENOTDIR:
        return NotADirectoryError(f"{where!r} is not a folder")
    if exc.errno == errno.EISDIR:
        return IsADirectoryError(f"{where!r} is a folder, not a file")
    return exc


def _is_link(parent: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _join(parts: Sequence[str]) -> str:
    return "/".join(parts) or "."

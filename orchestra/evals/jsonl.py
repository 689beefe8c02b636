r"""Reading the evaluations' JSONL files: lines, JSON values and one-line problems.

Shared by the task-graph and critic-case loaders so that every file in the format reads
the same way: UTF-8 with or without a byte-order mark, ``\n``, ``\r\n`` or ``\r`` line
ends, and only those as line ends (a JSON string may hold U+2028, U+2029 or U+0085 as
they are, and ``str.splitlines`` would cut the line there; it cannot hold a raw ``\r``).
Anything unreadable is an :class:`~orchestra.core.errors.InputError` naming the file (and
the line), never an unexpected exception.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestra.core.errors import InputError

__all__ = ["parse_line", "read_lines", "validation_problems"]

_LINE_END = re.compile(r"\r\n|\r|\n")


def read_lines(path: str | Path) -> list[str]:
    """The lines of the UTF-8 text file at ``path`` (a leading BOM dropped, ends stripped).

    Raises:
        InputError: the file cannot be read or is not UTF-8 text.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    return _LINE_END.split(text)


def parse_line(line: str, where: str, number: int, *, what: str = "") -> Any:
    """The JSON value on line ``number`` of ``where``; ``what`` prefixes the problem.

    Raises:
        InputError: the line is not JSON (also: a number too long to convert, or nesting
            too deep to parse); the message names the file, the line and the column.
    """
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where}:{number}: {what}not JSON ({exc.msg} at column {exc.colno})"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{where}:{number}: {what}not JSON that can be read ({exc})") from exc


def validation_problems(exc: ValidationError) -> str:
    """The errors of ``exc`` on one line: ``field.path: message; ...``."""
    found = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "the line"
        found.append(f"{where}: {error['msg']}")
    return "; ".join(found)

"""Untrusted text made safe for a terminal: one place for every printer of the CLI.

Goals, task titles, model output, tool output and error messages come from people and
models orchestra does not trust. Printed raw, an escape sequence in them could set the
terminal's title, clear the screen or hide text (``ESC]0;...BEL``, ``ESC[2J``); printed
through Rich's markup parser, a ``[/INST]`` in an answer raises ``MarkupError``. So every
such text goes through :func:`clean` and is printed as a :class:`rich.text.Text`, never
as markup (:func:`safe_text`).
"""

from __future__ import annotations

import re

from rich.text import Text

__all__ = ["clean", "one_line", "safe_text"]

# Whole escape sequences, removed: CSI (ESC [ ... final), OSC / DCS / SOS / PM / APC
# strings (ended by BEL or ST), and two-character escapes; also their 8-bit C1 forms.
_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]                       # CSI
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)  # OSC, DCS, ...
    | \x1b[ -/]*[0-~]                                      # other ESC sequences
    """,
    re.VERBOSE | re.DOTALL,
)
# What is left that a terminal would act on: C0 and C1 controls (except tab and newline),
# DEL, and the Unicode bidirectional controls that reorder what a reader sees.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: object) -> str:
    r"""``text`` without escape sequences; other control characters shown as ``\xNN``.

    Newlines and tabs stay (layout needs them); a carriage return, which could draw
    over a line already printed, is shown as ``\x0d``.
    """
    return _CONTROL.sub(_escaped, _SEQUENCE.sub("", str(text)))


def one_line(text: object, limit: int | None = None) -> str:
    """:func:`clean` text on one line (newlines and tabs become spaces), cut to ``limit``."""
    flat = " ".join(clean(text).split())
    if limit is not None and len(flat) > limit:
        return flat[: limit - 1] + "…"
    return flat


def safe_text(text: object, style: str = "") -> Text:
    """:func:`clean` text as a Rich ``Text``: printed literally, never parsed as markup."""
    return Text(clean(text), style=style)

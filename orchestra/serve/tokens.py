"""A run's events made fit to leave the server: secrets redacted, also across token pieces.

A model writes a secret in many pieces (``sk-pr``, ``oj-AB``, ...): redacting each piece
alone would let every one of them through. So the pieces of each reply are held back and
sent again cut only at whitespace, at least ``HOLD`` characters behind what was written
and only where cutting does not change what the redaction hides; each cut piece is then
redacted whole. What is held back goes out before the run's next other event (and at its
end), so pieces still come before what follows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orchestra.observability.history import redacted_json
from orchestra.observability.redact import Redactor

__all__ = ["HOLD", "TokenGate"]

HOLD = 64
"""How many characters of a reply are held back: longer than a secret written with
whitespace in it (``api_key = ...``, ``Bearer ...``) needs to be recognised."""

_SPACE = re.compile(r"\s")


@dataclass(slots=True)
class _Reply:
    """The held-back end of one reply (one ``stream``) and its latest piece's event."""

    event: dict[str, Any]
    text: str = ""
    tried: int = 0
    """How long ``text`` was when a cut was last looked for."""


class TokenGate:
    """Passes a run's events (as JSON) on redacted, re-cutting the token pieces.

    With no redactor (``ORCHESTRA_REDACT_HISTORY=0``) every event passes as it is.
    """

    def __init__(self, redact: Redactor | None, *, hold: int = HOLD) -> None:
        self._redact = redact
        self._hold = hold
        self._replies: dict[str, _Reply] = {}

    def send(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """What goes out for ``event``, in order (nothing while a piece is held back)."""
        if self._redact is None:
            return [event]
        if event.get("type") != "token":
            return [*self.flush(), redacted_json(event, self._redact)]
        stream = str(event.get("stream"))
        reply = self._replies.setdefault(stream, _Reply(event))
        reply.event = event
        reply.text += str(event.get("text", ""))
        if len(reply.text) < 2 * self._hold or len(reply.text) - reply.tried < self._hold:
            return []
        reply.tried = len(reply.text)
        cut = self._cut(reply.text, self._redact)
        if cut == 0:
            return []
        head, reply.text = reply.text[:cut], reply.text[cut:]
        reply.tried = 0
        return [self._piece(reply.event, head, self._redact)]

    def flush(self) -> list[dict[str, Any]]:
        """Every held-back piece, redacted (before another event, or at the run's end)."""
        if self._redact is None:
            return []
        out = [self._piece(r.event, r.text, self._redact) for r in self._replies.values() if r.text]
        self._replies.clear()
        return out

    def _cut(self, text: str, redact: Redactor) -> int:
        """Where ``text`` can be cut (after a whitespace, ``hold`` before its end); 0: nowhere."""
        spaces = [m.end() for m in _SPACE.finditer(text, 0, len(text) - self._hold)]
        if not spaces:
            return 0
        cut = spaces[-1]
        # A cut inside a secret (``password: hunter22``) would let both halves through.
        if redact(text[:cut]) + redact(text[cut:]) != redact(text):
            return 0
        return cut

    @staticmethod
    def _piece(event: dict[str, Any], text: str, redact: Redactor) -> dict[str, Any]:
        return redacted_json({**event, "text": text}, redact)

"""Keeping secrets out of traces: API keys, tokens, and values the user marks."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

__all__ = ["REDACTED", "Redactor"]

REDACTED = "[REDACTED]"

# Well-known credential shapes. Each is specific enough not to eat ordinary prose.
_SECRET_SHAPES = (
    r"sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}",  # OpenAI, Anthropic
    r"gh[pousr]_[A-Za-z0-9]{20,}",  # GitHub
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"xox[abprs]-[A-Za-z0-9\-]{10,}",  # Slack
    r"AKIA[0-9A-Z]{16}",  # AWS access key id
    r"AIza[0-9A-Za-z_\-]{35}",  # Google API key
    r"hf_[A-Za-z0-9]{30,}",  # Hugging Face
    r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWT
    r"(?i:bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*",
)
# ``api_key=...``, ``"token": "..."``, ``password: ...``: the name stays, the value goes.
_ASSIGNMENT = re.compile(
    r"(?i)(\b[\w\-]*(?:api[_\-]?key|token|secret|passw(?:or)?d|credential)(?![a-z])[\"']?\s*[:=]\s*"
    r"[\"']?)([^\s\"',;}&]{4,})"
)
_SECRET_ENV_NAME = re.compile(r"(?i)(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)")
_MIN_ENV_SECRET = 8


class Redactor:
    """Replaces secrets in text with ``[REDACTED]``.

    Three sources: well-known credential shapes (OpenAI, Anthropic, GitHub, Slack, AWS,
    Google and Hugging Face keys, JWTs, bearer tokens, ``api_key=...`` style
    assignments), the values of environment variables whose names say they are secret
    (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*PASSWORD*``), and any ``values`` the user
    marks. Applied to every attribute and event orchestra puts on a span, whether or not
    message content is captured.

    Args:
        values: exact strings to hide wherever they appear.
        patterns: extra regular expressions whose matches are hidden.
        environ: the environment to take secret values from (default: ``os.environ``,
            read when the redactor is made); an empty mapping turns this source off.
    """

    __slots__ = ("_exact", "_shapes")

    def __init__(
        self,
        values: Iterable[str] = (),
        *,
        patterns: Iterable[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        secrets = {v for v in values if v}
        secrets |= {
            value
            for name, value in env.items()
            if _SECRET_ENV_NAME.search(name) and len(value) >= _MIN_ENV_SECRET
        }
        # Longest first, so a secret that contains another is hidden whole.
        ordered = sorted(secrets, key=len, reverse=True)
        self._exact = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._shapes = re.compile("|".join((*_SECRET_SHAPES, *patterns)))

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced."""
        if self._exact is not None:
            text = self._exact.sub(REDACTED, text)
        text = self._shapes.sub(REDACTED, text)
        return _ASSIGNMENT.sub(lambda m: m.group(1) + REDACTED, text)

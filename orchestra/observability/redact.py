"""Keeping secrets out of traces: API keys, tokens, and values the user marks."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

__all__ = ["REDACTED", "Redactor", "url_without_password"]

REDACTED = "[REDACTED]"


def url_without_password(target: str) -> str:
    """``target`` fit for messages and logs: a URL's password is replaced by ``***``.

    The user name stays (``postgresql://ann:***@db/x``); anything that is not a URL with a
    password comes back as it is. Read by hand, not by ``urlsplit``: a URL too broken to
    parse must not show its password in the error that says so.
    """
    scheme, sep, rest = target.partition("://")
    if not sep:
        return target
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    userinfo, at, host = rest[:end].rpartition("@")
    user, colon, _ = userinfo.partition(":")
    if not at or not colon:
        return target
    return f"{scheme}://{user}:***@{host}{rest[end:]}"


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
_CUT_MARGIN = 4096
"""How far past a cut the text is looked at: longer than any credential shape needs to
match (user and environment values longer than this widen it to their length)."""


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

    __slots__ = ("_exact", "_margin", "_shapes")

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
        self._margin = max(_CUT_MARGIN, len(ordered[0]) if ordered else 0)

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced."""
        if self._exact is not None:
            text = self._exact.sub(REDACTED, text)
        text = self._shapes.sub(REDACTED, text)
        return _ASSIGNMENT.sub(lambda m: m.group(1) + REDACTED, text)

    def clip(self, text: str, limit: int) -> str:
        """``text`` redacted, then cut to ``limit`` characters with a note of what was left out.

        Redaction comes first, so a secret straddling the cut never survives, not even in
        part. Only the head of a long text is redacted (the cut plus a margin longer than
        any secret), so a huge text costs no more than its head.
        """
        end = limit + self._margin
        while True:
            redacted = self(text[:end])
            # A secret cut by ``end`` may stay partly visible at the redacted head's tail;
            # that tail lies past ``limit`` once the head is at least ``limit + margin``
            # long (redacting can shorten it, hence the loop).
            if end >= len(text) or len(redacted) >= limit + self._margin:
                break
            end *= 2
        whole = end >= len(text)
        if whole and len(redacted) <= limit:
            return redacted
        omitted = len(redacted) - limit if whole else len(text) - limit
        return f"{redacted[:limit]}[... {omitted} more chars]"

    def safe_cut(self, text: str, limit: int) -> int:
        """Where to cut ``text`` near ``limit`` without splitting a secret: at most ``limit``.

        For cuts of text that is redacted later (a tool result cut for the model, then
        put on a span): a secret straddling ``limit`` is left out whole instead of leaving
        a stub too short for any rule to recognise.
        """
        if len(text) <= limit:
            return len(text)
        start = max(0, limit - self._margin)
        window = text[start : limit + self._margin]
        cut = limit - start
        spans = sorted(self._secret_spans(window), reverse=True)
        for begin, finish in spans:  # latest first: a cut moved back may land in another
            if begin < cut < finish:
                cut = begin
        return start + cut

    def _secret_spans(self, text: str) -> list[tuple[int, int]]:
        found = [m.span() for m in self._shapes.finditer(text)]
        if self._exact is not None:
            found += [m.span() for m in self._exact.finditer(text)]
        found += [m.span(2) for m in _ASSIGNMENT.finditer(text)]
        return found

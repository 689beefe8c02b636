"""HTTP fetch limited to an allowlist of hosts."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

import httpx

from orchestra.core.errors import ConfigError, RetryableToolError
from orchestra.tools.decorator import ToolSet

__all__ = ["HostNotAllowedError", "HttpFetch"]


class HostNotAllowedError(PermissionError):
    """A URL whose host is not on the allowlist (redirects included)."""


class HttpFetch(ToolSet):
    """``fetch_url``: GET a page from an allowed host, as text.

    ``allowed_hosts`` lists hosts (``"docs.python.org"``), optionally with a port
    (``"127.0.0.1:8000"``); a leading ``*.`` allows subdomains. Redirects are followed only
    to allowed hosts, only http(s) is allowed, and bodies are cut at ``max_bytes``. Server
    errors (5xx) and timeouts are retryable.
    """

    def __init__(
        self,
        allowed_hosts: Iterable[str],
        *,
        timeout_s: float = 15.0,
        max_bytes: int = 500_000,
        max_redirects: int = 5,
    ) -> None:
        self.allowed = [h.lower() for h in allowed_hosts]
        if not self.allowed:
            raise ConfigError("HttpFetch needs at least one allowed host")
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects

    def check(self, url: str) -> None:
        """Raise :class:`HostNotAllowedError` unless ``url`` may be fetched."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise HostNotAllowedError(f"refused: only http and https URLs, not {url!r}")
        host = (parts.hostname or "").lower()
        with_port = f"{host}:{parts.port}" if parts.port else host
        for entry in self.allowed:
            if entry.startswith("*."):
                if host.endswith(entry[1:]) or host == entry[2:]:
                    return
            elif entry in (host, with_port):
                return
        raise HostNotAllowedError(f"refused: host {with_port!r} is not on the allowlist")

    @ToolSet.method(retries=2, retry_on=(httpx.TimeoutException,), timeout=60)
    async def fetch_url(self, url: str) -> str:
        """Fetch a web page (GET) from an allowed host and return its text."""
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client:
            for _ in range(self.max_redirects + 1):
                self.check(url)
                response = await client.get(url)
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code >= 500:
                    raise RetryableToolError(f"HTTP {response.status_code} from {url}")
                body = response.content[: self.max_bytes].decode(
                    response.encoding or "utf-8", errors="replace"
                )
                return f"HTTP {response.status_code}\n{body}"
        raise HostNotAllowedError(f"refused: more than {self.max_redirects} redirects")

"""HTTP fetch limited to an allowlist of hosts, reading at most ``max_bytes`` of a body."""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

import httpx

from orchestra.core.errors import ConfigError, RetryableToolError
from orchestra.tools.decorator import ToolSet

__all__ = ["HostNotAllowedError", "HttpFetch"]

ACCEPT_ENCODING = "gzip, deflate"
"""The encodings asked for: the ones decoded here with a bound on the output."""


class HostNotAllowedError(PermissionError):
    """A URL whose host is not on the allowlist (redirects included)."""


class BoundedDecoder:
    """Decodes a body's ``Content-Encoding`` without ever making more than asked for.

    httpx decodes each network chunk whole, so 64 KB of a gzip bomb become 64 MB at once;
    zlib's ``max_length`` keeps the output to the room left under the limit instead.
    """

    def __init__(self, content_encoding: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c not in ("", "identity")]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise ValueError(f"unsupported Content-Encoding {content_encoding!r}")
        self.coding = codings[0] if codings else None
        self._zlib: zlib._Decompress | None = None
        if self.coding == "deflate":  # zlib-wrapped as the RFC says; raw deflate below
            self._zlib = zlib.decompressobj()
        elif self.coding is not None:
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._started = False

    def decode(self, data: bytes, room: int) -> bytes:
        """At most ``room`` decoded bytes of the next raw chunk ``data``."""
        if self._zlib is None:
            return data[:room]
        try:
            out = self._zlib.decompress(data, room)
        except zlib.error:
            if self.coding != "deflate" or self._started:
                raise
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # servers that send raw deflate
            out = self._zlib.decompress(data, room)
        self._started = True
        return out

    def flush(self, room: int) -> bytes:
        """What is left at the end of the body, at most ``room`` bytes."""
        return self._zlib.flush()[:room] if self._zlib is not None else b""


class HttpFetch(ToolSet):
    """``fetch_url``: GET a page from an allowed host, as text.

    ``allowed_hosts`` lists hosts (``"docs.python.org"``), optionally with a port
    (``"127.0.0.1:8000"``); a leading ``*.`` allows subdomains. Redirects are followed only
    to allowed hosts and only http(s) is allowed. The body is streamed and reading stops at
    ``max_bytes`` (counted after gzip/deflate decoding, so a compressed bomb stops there
    too); a cut body says so. Server errors (5xx) and timeouts are retryable.
    ``transport`` is passed to httpx (a proxy, a mounted app, a test double).
    """

    def __init__(
        self,
        allowed_hosts: Iterable[str],
        *,
        timeout_s: float = 15.0,
        max_bytes: int = 500_000,
        max_redirects: int = 5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.allowed = [h.lower() for h in allowed_hosts]
        if not self.allowed:
            raise ConfigError("HttpFetch needs at least one allowed host")
        if max_bytes < 1:
            raise ConfigError(f"HttpFetch max_bytes must be at least 1, not {max_bytes}")
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.transport = transport

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
        async with httpx.AsyncClient(
            timeout=self.timeout_s,
            follow_redirects=False,
            headers={"Accept-Encoding": ACCEPT_ENCODING},
            transport=self.transport,
        ) as client:
            for _ in range(self.max_redirects + 1):
                self.check(url)
                async with client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code >= 500:
                        raise RetryableToolError(f"HTTP {response.status_code} from {url}")
                    return f"HTTP {response.status_code}\n{await self._read(response)}"
        raise HostNotAllowedError(f"refused: more than {self.max_redirects} redirects")

    async def _read(self, response: httpx.Response) -> str:
        """The body as text, cut at ``max_bytes``: never more is read or decoded."""
        decoder = BoundedDecoder(response.headers.get("content-encoding", ""))
        wanted = self.max_bytes + 1  # one byte more tells whether the body was cut
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += decoder.decode(chunk, wanted - len(body))
            if len(body) >= wanted:
                break
        else:
            body += decoder.flush(wanted - len(body))
        cut = len(body) > self.max_bytes
        del body[self.max_bytes :]
        try:
            text_decoder = codecs.getincrementaldecoder(response.charset_encoding or "utf-8")
        except LookupError:
            text_decoder = codecs.getincrementaldecoder("utf-8")
        text = text_decoder(errors="replace").decode(bytes(body), final=not cut)
        if cut:
            text += f"\n[... cut at {self.max_bytes} bytes: the response is longer]"
        return text

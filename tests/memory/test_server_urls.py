"""A memory server URL is http(s)://host:port: credentials go as headers, never lost or shown."""

from __future__ import annotations

import re
import uuid

import pytest

from orchestra.core.errors import ConfigError
from orchestra.memory import Memory


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://ann:s3cret@127.0.0.1:8000", "holds credentials, which would not be sent"),
        ("http://ann@127.0.0.1:8000", "holds credentials"),
        ("http://127.0.0.1:8000/chroma", "with no path"),
        ("http://127.0.0.1:8000/?tenant=x", "with no path"),
        ("ftp://127.0.0.1", "must be http(s)://host:port"),
    ],
)
def test_urls_chromadb_would_misread_are_refused_without_showing_a_password(url: str, said: str):
    # a new user's trial: the path and the user:password were dropped silently (no auth
    # sent) and the password was printed in the connection error
    with pytest.raises(ConfigError, match=re.escape(said)) as refused:
        Memory.connect(url)
    assert "s3cret" not in str(refused.value)


@pytest.mark.slow
def test_headers_go_with_every_request_to_the_server(chroma_server: str):
    memory = Memory.connect(
        chroma_server, collection=f"test_{uuid.uuid4().hex[:12]}", headers={"X-Trace": "1"}
    )
    assert memory.client.heartbeat() > 0

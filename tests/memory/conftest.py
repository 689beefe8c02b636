"""One contract suite, two backends: chromadb embedded and a real chromadb server."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra.memory import Memory
from tests.conftest import background_server, free_port

CHROMA = Path(sys.executable).parent / "chroma"


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``chroma run`` on 127.0.0.1 (offline, telemetry off) for the whole session."""
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    chroma = str(CHROMA) if CHROMA.exists() else shutil.which("chroma") or "chroma"
    command = [chroma, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(data)]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "NO_COLOR": "1"}
    with background_server(command, r"listening", env=env):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.slow)])
def memory(request: pytest.FixtureRequest, tmp_path: Path) -> Memory:
    """A fresh store on each backend (a collection of its own on the shared server)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    if request.param == "embedded":
        return Memory.local(tmp_path / "memory", collection=name)
    return Memory.connect(request.getfixturevalue("chroma_server"), collection=name)

"""Built-in tools: a workspace that cannot be escaped, an HTTP fetch that keeps to its hosts."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from orchestra.tools import call_tool
from orchestra.tools.builtin import HttpFetch, Workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("alpha\nBeta line\n")
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", root / "link-out.txt")
    os.symlink(tmp_path, root / "dir-out")
    return Workspace(root)


async def use(ws_or_fetch, name: str, **args):
    tools = {t.name: t for t in ws_or_fetch.tools()}
    return await call_tool(name, args, available=tools, allowed=set(tools), role="r")


async def test_workspace_reads_writes_lists_and_searches(workspace: Workspace):
    assert (await use(workspace, "read_file", path="notes.txt")).output == "alpha\nBeta line\n"
    wrote = await use(workspace, "write_file", path="sub/out.md", content="# Beta report")
    assert wrote.ok and wrote.side_effects
    assert (workspace.root / "sub" / "out.md").read_text() == "# Beta report"
    listed = await use(workspace, "list_files")
    assert listed.output == '["notes.txt", "sub/out.md"]'  # symlinks that leave are not listed
    found = await use(workspace, "search_files", text="beta")
    assert found.output == '["notes.txt:2: Beta line", "sub/out.md:1: # Beta report"]'


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("read_file", {"path": "../secret.txt"}),
        ("read_file", {"path": "/etc/passwd"}),
        ("read_file", {"path": "link-out.txt"}),
        ("read_file", {"path": "dir-out/secret.txt"}),
        ("write_file", {"path": "../escape.txt", "content": "x"}),
        ("write_file", {"path": "dir-out/escape.txt", "content": "x"}),
        ("list_files", {"path": ".."}),
    ],
)
async def test_paths_that_escape_the_workspace_are_refused(workspace: Workspace, tool, args):
    outcome = await use(workspace, tool, **args)
    assert not outcome.ok and "is outside the workspace" in outcome.output
    assert not (workspace.root.parent / "escape.txt").exists()


def test_a_read_only_workspace_has_no_write_tool(tmp_path: Path):
    assert "write_file" not in {t.name for t in Workspace(tmp_path, writable=False).tools()}


@pytest.fixture
def site() -> Iterator[str]:
    class Handle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/away":
                self.send_response(302)
                self.send_header("Location", "http://192.0.2.10/elsewhere")
                self.end_headers()
                return
            if self.path == "/hop":
                self.send_response(302)
                self.send_header("Location", "/page")
                self.end_headers()
                return
            body = b"<h1>hello</h1>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_fetch_keeps_to_its_allowlist(site: str):
    fetch = HttpFetch([site])
    page = await use(fetch, "fetch_url", url=f"http://{site}/page")
    assert page.ok and page.output == "HTTP 200\n<h1>hello</h1>"
    hop = await use(fetch, "fetch_url", url=f"http://{site}/hop")
    assert hop.ok and hop.output.endswith("<h1>hello</h1>")
    away = await use(fetch, "fetch_url", url=f"http://{site}/away")
    assert not away.ok and "host '192.0.2.10' is not on the allowlist" in away.output
    other = await use(fetch, "fetch_url", url="http://example.com/")
    assert not other.ok and "'example.com' is not on the allowlist" in other.output
    scheme = await use(fetch, "fetch_url", url="file:///etc/passwd")
    assert not scheme.ok and "only http and https" in scheme.output


def test_wildcard_hosts_allow_subdomains():
    fetch = HttpFetch(["*.python.org"])
    fetch.check("https://docs.python.org/3/")
    fetch.check("https://python.org/")
    with pytest.raises(PermissionError):
        fetch.check("https://python.org.evil.test/")

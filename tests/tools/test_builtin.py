"""Built-in tools: a workspace that cannot be escaped, an HTTP fetch that keeps to its hosts."""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import threading
import tracemalloc
import zlib
from collections import Counter
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
    inside = await use(workspace, "read_file", path=str(workspace.root / "sub" / "out.md"))
    assert inside.output == "# Beta report"  # an absolute path that names a place inside


def test_only_regular_files_are_read_and_a_fifo_does_not_block(tmp_path: Path):
    os.mkfifo(tmp_path / "pipe")
    ws = Workspace(tmp_path)
    with pytest.raises(PermissionError, match="'pipe' is not a regular file"):
        ws.read_file("pipe")
    with pytest.raises(IsADirectoryError):
        ws.read_file(".")
    assert ws.search_files("x") == [] and ws.list_files() == []


def test_search_counts_only_the_files_its_pattern_matches(tmp_path: Path, monkeypatch):
    import orchestra.tools.builtin.workspace as module

    monkeypatch.setattr(module, "MAX_LISTED", 2)
    for name in ("a.txt", "b.txt", "c.txt", "z.md"):
        (tmp_path / name).write_text("needle\n")
    assert Workspace(tmp_path).search_files("needle", "*.md") == ["z.md:1: needle"]
    assert Workspace(tmp_path).list_files(".", "*.md") == ["z.md"]


OUTSIDE = "is outside the workspace"
LINK = "is a symbolic link; the workspace does not follow links"


@pytest.mark.parametrize(
    ("tool", "args", "why"),
    [
        ("read_file", {"path": "../secret.txt"}, OUTSIDE),
        ("read_file", {"path": "/etc/passwd"}, OUTSIDE),
        ("read_file", {"path": "link-out.txt"}, LINK),
        ("read_file", {"path": "dir-out/secret.txt"}, LINK),
        ("read_file", {"path": "notes.txt/../../secret.txt"}, OUTSIDE),
        ("write_file", {"path": "../escape.txt", "content": "x"}, OUTSIDE),
        ("write_file", {"path": "dir-out/escape.txt", "content": "x"}, LINK),
        ("write_file", {"path": "link-out.txt", "content": "x"}, LINK),
        ("list_files", {"path": ".."}, OUTSIDE),
        ("list_files", {"path": "dir-out"}, LINK),
    ],
)
async def test_paths_that_escape_the_workspace_are_refused(workspace: Workspace, tool, args, why):
    outcome = await use(workspace, tool, **args)
    assert not outcome.ok and "refused: " in outcome.output and why in outcome.output
    assert not (workspace.root.parent / "escape.txt").exists()
    assert (workspace.root.parent / "secret.txt").read_text() == "top secret"


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


def test_a_symlink_inside_the_workspace_is_refused_not_followed(tmp_path: Path):
    root = tmp_path / "ws"
    (root / "real").mkdir(parents=True)
    (root / "real" / "a.txt").write_text("inside")
    os.symlink("real", root / "alias")
    os.symlink("real/a.txt", root / "a-link.txt")
    ws = Workspace(root)
    for call in (
        lambda: ws.read_file("alias/a.txt"),
        lambda: ws.read_file("a-link.txt"),
        lambda: ws.write_file("alias/b.txt", "x"),
        lambda: ws.write_file("a-link.txt", "x"),
        lambda: ws.list_files("alias"),
    ):
        with pytest.raises(PermissionError, match="symbolic link"):
            call()
    assert (root / "real" / "a.txt").read_text() == "inside"
    assert not (root / "real" / "b.txt").exists()
    assert ws.list_files() == ["real/a.txt"]  # links are neither listed nor walked into


def exchange(a: Path, b: Path) -> None:
    """Swap two directory entries atomically (Linux ``renameat2(RENAME_EXCHANGE)``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, rename_exchange = -100, 2
    if libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange):
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's")
def test_a_folder_swapped_for_a_symlink_mid_call_never_lets_a_call_out(tmp_path: Path):
    # Point 19 of issue 19: check-then-open let a racing process read and write outside
    # (about 3 escapes in 2,000 calls here before the fix).
    root, outside = tmp_path / "ws", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    (root / "d" / "f.txt").write_text("inside")
    (outside / "f.txt").write_text("SECRET")
    os.symlink(outside, root / "link")
    ws = Workspace(root)
    stop = threading.Event()

    def swap() -> None:  # d is the real folder, then a link to outside, and back, non-stop
        while not stop.is_set():
            exchange(root / "d", root / "link")

    swapper = threading.Thread(target=swap)
    swapper.start()
    reads: list[str] = []
    found: list[str] = []
    try:
        for i in range(2000):
            try:
                if i % 4 == 0:
                    ws.write_file(f"d/w{i % 8}.txt", "written")
                elif i % 4 == 1:
                    ws.list_files("d")
                elif i % 4 == 2:
                    found.extend(ws.search_files("secret"))
                else:
                    reads.append(ws.read_file("d/f.txt"))
            except OSError:  # d was the link at that moment: refused, fine
                pass
    finally:
        stop.set()
        swapper.join()
    assert reads and set(reads) == {"inside"}, Counter(reads)
    assert found == []  # "secret" is only in the outside file
    assert sorted(p.name for p in outside.iterdir()) == ["f.txt"]
    assert (outside / "f.txt").read_text() == "SECRET"


def bytes_read() -> int:
    """Bytes this process has read through read() calls so far (Linux /proc/self/io)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="counts reads through /proc")
def test_read_file_reads_a_huge_file_only_up_to_its_limit(tmp_path: Path):
    # Point 20: read_bytes() of a 1 GB sparse file held 1 GB to return 200,000 characters.
    with (tmp_path / "huge.bin").open("wb") as file:
        file.truncate(1 << 30)
    ws = Workspace(tmp_path)
    before = bytes_read()
    text = ws.read_file("huge.bin")
    assert bytes_read() - before < 200_000 + 65_536
    assert text == "\0" * 200_000 + "\n[... cut at 200000 bytes: the file has 1073741824 bytes]"


def test_read_file_cuts_between_characters_and_says_so(tmp_path: Path):
    (tmp_path / "t.txt").write_text("aé€", encoding="utf-8")  # 1 + 2 + 3 bytes
    assert Workspace(tmp_path, max_read_bytes=4).read_file("t.txt") == (
        "aé\n[... cut at 4 bytes: the file has 6 bytes]"
    )
    assert Workspace(tmp_path, max_read_bytes=6).read_file("t.txt") == "aé€"


def test_search_files_reads_line_by_line_in_bounded_pieces(tmp_path: Path):
    # Point 20: read_text() held a whole 1.5 GB file (3 GB with its lines) to search it.
    with (tmp_path / "big.bin").open("wb") as file:
        file.seek(64 << 20)
        file.write(b"the Needle\n")  # one 64 MB line of NULs, then the match
    tracemalloc.start()
    try:
        hits = Workspace(tmp_path).search_files("needle")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20  # a few 64 KB pieces, not 64 MB
    assert len(hits) == 1 and hits[0].startswith("big.bin:1: ") and hits[0].endswith("the Needle")


def test_search_finds_a_match_across_pieces_of_a_long_line_once(tmp_path: Path):
    from orchestra.tools.builtin.workspace import LINE_PIECE

    long_line = "x" * (LINE_PIECE - 3) + "needle" + "y" * LINE_PIECE + "needle"
    (tmp_path / "f.txt").write_text(f"{long_line}\nsecond Needle\nnone\n")
    (tmp_path / "bin.dat").write_bytes(b"needle \xff\xfe")  # not UTF-8: skipped
    hits = Workspace(tmp_path).search_files("needle")
    assert [h.split(": ")[0] for h in hits] == ["f.txt:1", "f.txt:2"]
    assert hits[1] == "f.txt:2: second Needle"


BIG = 50 * 1024 * 1024
PIECE = b"a" * 65_536


@functools.cache
def gzip_of_zeros(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    return b"".join([*(packer.compress(block) for _ in range(size >> 20)), packer.flush()])


class Served:
    """What the test server sent for ``/big`` and whether that handler has ended."""

    def __init__(self) -> None:
        self.sent = 0
        self.done = threading.Event()


@pytest.fixture
def big_site() -> Iterator[tuple[str, Served]]:
    served = Served()
    bomb = gzip_of_zeros(100 << 20)  # 100 MB of zeros in about 100 KB
    plain = "pâte à tartiner".encode()

    class Handle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/big":
                self.answer(BIG, {})
                try:
                    while served.sent < BIG:
                        self.wfile.write(PIECE)
                        served.sent += len(PIECE)
                except OSError:  # the client hung up, as it should
                    pass
                finally:
                    served.done.set()
                return
            encoded = {
                "/bomb": (bomb, "gzip"),
                "/raw-deflate": (zlib.compress(plain)[2:-4], "deflate"),
                "/zlib-deflate": (zlib.compress(plain), "deflate"),
                "/brotli": (b"\x0b\x02\x80hi\x03", "br"),
            }
            body, coding = encoded[self.path]
            self.answer(len(body), {"Content-Encoding": coding})
            self.wfile.write(body)

        def answer(self, length: int, headers: dict[str, str]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(length))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


async def test_a_50_mb_response_is_read_only_up_to_max_bytes(big_site: tuple[str, Served]):
    # Point 11 of issue 19: the whole body was read before the cut (+112 MiB for 50 MB).
    site, served = big_site
    tracemalloc.start()
    try:
        page = await use(HttpFetch([site], max_bytes=1000), "fetch_url", url=f"http://{site}/big")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert served.done.wait(30)  # the handler ended: the client hung up on it
    assert peak < 4 << 20
    assert served.sent < BIG // 2  # what the socket buffers took, not the body
    assert page.ok
    assert page.output == (
        "HTTP 200\n" + "a" * 1000 + "\n[... cut at 1000 bytes: the response is longer]"
    )


async def test_a_gzip_bomb_is_decoded_only_up_to_max_bytes(big_site: tuple[str, Served]):
    # Point 20: 100 MB of gzipped zeros were decompressed whole (+420 MB).
    site, _ = big_site
    tracemalloc.start()
    try:
        page = await use(HttpFetch([site], max_bytes=1000), "fetch_url", url=f"http://{site}/bomb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20  # httpx's own decoding makes 64 MB of one 64 KB chunk
    assert page.output == (
        "HTTP 200\n" + "\0" * 1000 + "\n[... cut at 1000 bytes: the response is longer]"
    )


async def test_deflate_bodies_decode_and_unknown_encodings_are_errors(
    big_site: tuple[str, Served],
):
    site, _ = big_site
    fetch = HttpFetch([site])
    for path in ("/raw-deflate", "/zlib-deflate"):
        page = await use(fetch, "fetch_url", url=f"http://{site}{path}")
        assert page.output == "HTTP 200\npâte à tartiner"
    cut = await use(HttpFetch([site], max_bytes=2), "fetch_url", url=f"http://{site}/raw-deflate")
    assert cut.output == "HTTP 200\np\n[... cut at 2 bytes: the response is longer]"  # â is 2
    brotli = await use(fetch, "fetch_url", url=f"http://{site}/brotli")
    assert not brotli.ok and "unsupported Content-Encoding 'br'" in brotli.output

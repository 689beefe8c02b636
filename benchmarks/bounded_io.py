"""Bounded reads: resident memory added by the built-in tools on huge inputs, vs reading whole.

    python benchmarks/bounded_io.py [--body-mb N] [--bomb-mb N] [--file-mb N] [--search-mb N]

Each case runs in a fresh Python process (Linux: ``VmHWM`` minus ``VmRSS`` just before the
call, so one case's peak cannot hide another's), once with orchestra's tool and once with
the baseline measured in the same run, which is what the tools did before issue 19:

* ``http_body``: ``HttpFetch(max_bytes=1000).fetch_url`` on an N MB response from a local
  server, vs ``httpx.get(url).content[:1000]``;
* ``http_gzip_bomb``: the same on N MB of zeros sent gzipped (about N KB on the wire);
* ``read_file``: ``Workspace.read_file`` (200,000 bytes) on an N MB sparse file, vs
  ``read_bytes()[:200_000]``;
* ``search_files``: ``Workspace.search_files`` on an N MB sparse file, vs reading each file
  whole and splitting it into lines.

Reported per case: MB added by each and the ratio tool/baseline (lower is better).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from common import publish

PIECE = b"a" * 65_536


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def serve(body_mb: int, bomb_mb: int) -> Iterator[str]:
    """A local server: ``/body`` (N MB of text) and ``/bomb`` (N MB of zeros, gzipped)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    bomb = b"".join([*(packer.compress(block) for _ in range(bomb_mb)), packer.flush()])

    class Handle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            size, coding = (body_mb << 20, None) if self.path == "/body" else (len(bomb), "gzip")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(size))
            if coding:
                self.send_header("Content-Encoding", coding)
            self.end_headers()
            try:
                if coding:
                    self.wfile.write(bomb)
                    return
                for _ in range(size // len(PIECE)):
                    self.wfile.write(PIECE)
            except OSError:  # the client stopped reading
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _call(case: str, way: str, target: str) -> Callable[[], object]:
    """What one child process measures (the imports are made before the measurement)."""
    import httpx

    from orchestra.tools.builtin import HttpFetch, Workspace

    if case.startswith("http"):
        host, path = target.split("/", 1)
        url = f"http://{target}"
        if way == "tool":
            fetch = HttpFetch([host], max_bytes=1000)
            return lambda: asyncio.run(fetch.fetch_url(url))
        return lambda: httpx.get(url).content[:1000]
    folder = Path(target)
    workspace = Workspace(folder)
    if case == "read_file":
        if way == "tool":
            return lambda: workspace.read_file("big.bin")
        return lambda: (folder / "big.bin").read_bytes()[:200_000]
    if way == "tool":
        return lambda: workspace.search_files("needle")
    return lambda: [
        line for line in (folder / "big.bin").read_text("utf-8").splitlines() if "needle" in line
    ]


def child(case: str, way: str, target: str) -> None:
    """Measure one case in this (fresh) process and print the MB it added."""
    call = _call(case, way, target)
    before = _status_mb("VmRSS")
    call()
    sys.stdout.write(json.dumps({"added_mb": round(_status_mb("VmHWM") - before, 1)}) + "\n")


def measure(case: str, way: str, target: str) -> float:
    script = Path(__file__).resolve()
    out = subprocess.run(
        [sys.executable, str(script), "--child", case, way, target],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    added: float = json.loads(out.splitlines()[-1])["added_mb"]
    return added


def sparse(folder: Path, size_mb: int) -> None:
    with (folder / "big.bin").open("wb") as file:
        file.seek(size_mb << 20)
        file.write(b"the needle\n")


def run(
    body_mb: int = 50, bomb_mb: int = 100, file_mb: int = 1024, search_mb: int = 1536
) -> dict[str, Any]:
    """Every case with the tool and the baseline; MB added and ratios."""
    results: dict[str, Any] = {}
    with serve(body_mb, bomb_mb) as site, tempfile.TemporaryDirectory() as tmp:
        read_dir, search_dir = Path(tmp, "read"), Path(tmp, "search")
        read_dir.mkdir()
        search_dir.mkdir()
        sparse(read_dir, file_mb)
        sparse(search_dir, search_mb)
        cases = {
            "http_body": (f"{site}/body", f"{body_mb} MB response, max_bytes=1000"),
            "http_gzip_bomb": (f"{site}/bomb", f"{bomb_mb} MB of zeros gzipped"),
            "read_file": (str(read_dir), f"{file_mb} MB sparse file, 200,000 bytes read"),
            "search_files": (str(search_dir), f"{search_mb} MB sparse file, one line"),
        }
        for case, (target, what) in cases.items():
            tool = measure(case, "tool", target)
            baseline = measure(case, "baseline", target)
            results[case] = {
                "input": what,
                "tool_added_mb": tool,
                "baseline_added_mb": baseline,
                "ratio_vs_baseline": round(tool / baseline, 4) if baseline > 0 else None,
            }
    return results


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--body-mb", type=int, default=50)
    parser.add_argument("--bomb-mb", type=int, default=100)
    parser.add_argument("--file-mb", type=int, default=1024)
    parser.add_argument("--search-mb", type=int, default=1536)
    args = parser.parse_args()
    publish("bounded_io", run(args.body_mb, args.bomb_mb, args.file_mb, args.search_mb))


if __name__ == "__main__":
    main()

"""``phoenix serve`` reduced to what the dashboard relies on: a port and a ready line."""

from __future__ import annotations

import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    """Serve on ``$PHOENIX_HOST:$PHOENIX_PORT`` and say so as uvicorn does."""
    host, port = os.environ["PHOENIX_HOST"], int(os.environ["PHOENIX_PORT"])
    server = HTTPServer((host, port), _Ok)
    print(f"INFO:     Uvicorn running on http://{host}:{port} (fake Phoenix)", flush=True)
    server.serve_forever()

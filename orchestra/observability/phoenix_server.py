"""Start Arize Phoenix with its OTLP gRPC receiver turned off (``python -m`` this module).

Phoenix's gRPC receiver binds every network interface whatever ``PHOENIX_HOST`` says,
and Phoenix has no switch for it outside read-only mode. orchestra sends spans over OTLP
HTTP to the loopback address only, so the dashboard starts Phoenix with that receiver
disabled: nothing but ``127.0.0.1:<port>`` listens.
"""

from __future__ import annotations

import functools
import inspect
import sys
from typing import Any


def _disable_grpc_receiver() -> None:
    from phoenix.server import grpc_server  # type: ignore[import-not-found]

    server_class = grpc_server.GrpcServer
    if "disabled" not in inspect.signature(server_class.__init__).parameters:
        raise SystemExit(
            "this Phoenix version cannot turn off its gRPC receiver (which binds all"
            " interfaces); install the version orchestra-teams[dashboard] pins"
        )
    original = server_class.__init__

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["disabled"] = True
        original(self, *args, **kwargs)

    server_class.__init__ = init  # type: ignore[method-assign]


def main() -> None:
    """Run ``phoenix serve`` in this process, gRPC receiver off."""
    _disable_grpc_receiver()
    from phoenix.server.main import main as phoenix_main  # type: ignore[import-not-found]

    sys.argv = ["phoenix", "serve"]
    phoenix_main()


if __name__ == "__main__":
    main()

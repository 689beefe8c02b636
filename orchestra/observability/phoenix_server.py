"""Start Arize Phoenix with its OTLP gRPC receiver turned off (run this file as a script).

Phoenix's gRPC receiver binds every network interface whatever ``PHOENIX_HOST`` says,
and Phoenix has no switch for it outside read-only mode. orchestra sends spans over OTLP
HTTP to the loopback address only, so the dashboard starts Phoenix with that receiver
disabled: nothing but ``127.0.0.1:<port>`` listens.

It imports nothing of orchestra (the dashboard runs it by path, to start faster). On
Linux the server also ends with the ``orchestra dashboard`` that started it, even one
killed outright (SIGKILL leaves it no chance to stop Phoenix itself).
"""

from __future__ import annotations

import ctypes
import functools
import inspect
import os
import signal
import sys
from typing import Any

PARENT_ENV = "ORCHESTRA_DASHBOARD_PID"
"""The pid of the ``orchestra dashboard`` that started this server."""

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux for SIGTERM when the parent exits; exit now if it already has."""
    parent = os.environ.get(PARENT_ENV)
    if not sys.platform.startswith("linux") or not parent:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return  # no prctl: the dashboard's own signal handling still stops us
    if str(os.getppid()) != parent:  # the parent died before the request took effect
        raise SystemExit("orchestra dashboard exited before Phoenix started")


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
    _die_with_parent()
    _disable_grpc_receiver()
    from phoenix.server.main import main as phoenix_main  # type: ignore[import-not-found]

    sys.argv = ["phoenix", "serve"]
    phoenix_main()


if __name__ == "__main__":
    main()

"""What ``orchestra.observability.phoenix_server`` patches: a receiver that can be disabled."""

from __future__ import annotations


class GrpcServer:
    """Phoenix's gRPC receiver, reduced to its ``disabled`` switch."""

    def __init__(self, *, disabled: bool = False) -> None:
        self.disabled = disabled

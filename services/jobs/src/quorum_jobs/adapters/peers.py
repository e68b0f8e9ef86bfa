"""What the jobs service's gRPC clients (workforce, inference) share: channel options and an error that says
whether trying again later can help (the peer is down or overloaded) or the peer refused the request."""

from __future__ import annotations

import grpc

RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNIMPLEMENTED,  # an older peer during a rolling deploy
    }
)


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        # Reconnect soon after a restarted peer comes back (gRPC's default backoff grows to 120 s).
        ("grpc.initial_reconnect_backoff_ms", 500),
        ("grpc.max_reconnect_backoff_ms", 5000),
    ]


class PeerError(Exception):
    """A failed call to another service."""

    peer = "peer"

    def __init__(self, method: str, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{self.peer} {method} failed: {code.name}: {details}")
        self.method = method
        self.code = code
        self.details = details

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE_CODES

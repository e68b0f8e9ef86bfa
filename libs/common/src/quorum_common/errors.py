"""One error hierarchy for every service, mapped once to gRPC status codes (and by the gateway to HTTP).

Domain code raises a subclass with a stable `reason` (machine-readable, snake_case) and a message that a
person can act on. The gRPC layer aborts with the mapped status and sends the reason as trailing metadata
(`quorum-error-reason`) so the gateway can answer with the same reason.
"""

from __future__ import annotations

from typing import ClassVar

import grpc

REASON_METADATA_KEY = "quorum-error-reason"


class QuorumError(Exception):
    """Base of every expected, user-facing error."""

    status: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    default_reason: ClassVar[str] = "internal"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason


class InvalidArgument(QuorumError):
    status = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "invalid_argument"


class NotFound(QuorumError):
    status = grpc.StatusCode.NOT_FOUND
    default_reason = "not_found"


class AlreadyExists(QuorumError):
    status = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "already_exists"


class PermissionDenied(QuorumError):
    status = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "permission_denied"


class Unauthenticated(QuorumError):
    status = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "unauthenticated"


class FailedPrecondition(QuorumError):
    """The request is valid but the resource is in the wrong state (a stopped job, an expired lease)."""

    status = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "failed_precondition"


class ResourceExhausted(QuorumError):
    status = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "resource_exhausted"


class Unavailable(QuorumError):
    status = grpc.StatusCode.UNAVAILABLE
    default_reason = "unavailable"


def reason_from_rpc_error(err: grpc.RpcError) -> str | None:
    """The domain reason a Quorum service attached to a failed call, if any."""
    trailing = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == REASON_METADATA_KEY:
            return str(value)
    return None

"""Workforce errors: the shared hierarchy; service-specific reasons go in `reason=`."""

from quorum_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    QuorumError,
    Unauthenticated,
)

__all__ = [
    "AlreadyExists",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "QuorumError",
    "Unauthenticated",
]

"""Inference errors: the shared hierarchy; service-specific reasons go in `reason=`."""

from quorum_common.errors import FailedPrecondition, InvalidArgument, NotFound, QuorumError

__all__ = ["FailedPrecondition", "InvalidArgument", "NotFound", "QuorumError"]

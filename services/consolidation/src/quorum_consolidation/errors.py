"""Consolidation errors: the shared hierarchy; service-specific reasons go in `reason=`."""

from quorum_common.errors import InvalidArgument, NotFound, QuorumError
from quorum_consolidation.core.answers import ConsolidationInputError


def invalid_input(err: ConsolidationInputError) -> InvalidArgument:
    """The core's input error as the status callers see (INVALID_ARGUMENT with the core's reason)."""
    return InvalidArgument(str(err), reason=err.reason)


__all__ = ["ConsolidationInputError", "InvalidArgument", "NotFound", "QuorumError", "invalid_input"]

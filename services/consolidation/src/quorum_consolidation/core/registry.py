"""Aggregation methods by the name requests and settings use.

Adding a method: one module with a `BaseClassificationAggregator` subclass, one entry in `METHODS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quorum_consolidation.core.answers import ConsolidationInputError
from quorum_consolidation.core.auto import AutoDawidSkene
from quorum_consolidation.core.base import BaseClassificationAggregator
from quorum_consolidation.core.dawid_skene import DawidSkene
from quorum_consolidation.core.glad import GLAD
from quorum_consolidation.core.mace import MACE
from quorum_consolidation.core.majority_vote import MajorityVote
from quorum_consolidation.core.one_coin import OneCoinDawidSkene

METHODS: Mapping[str, type[BaseClassificationAggregator]] = {
    "mv": MajorityVote,
    "ds": DawidSkene,
    "one_coin_ds": OneCoinDawidSkene,
    "glad": GLAD,
    "mace": MACE,
    "auto": AutoDawidSkene,
}


def make_aggregator(method: str, params: Mapping[str, Any] | None = None) -> BaseClassificationAggregator:
    """An unfitted aggregator; raises ConsolidationInputError for an unknown method or parameter."""
    cls = METHODS.get(method)
    if cls is None:
        raise ConsolidationInputError(
            f"unknown consolidation method {method!r}; known: {', '.join(sorted(METHODS))}",
            reason="unknown_method",
        )
    try:
        return cls(**dict(params or {}))
    except TypeError as err:  # an unexpected keyword
        raise ConsolidationInputError(
            f"bad parameters for method {method!r}: {err}", reason="bad_method_params"
        ) from err
    except ValueError as err:  # a value out of range, from the method's own checks
        raise ConsolidationInputError(str(err), reason="bad_method_params") from err

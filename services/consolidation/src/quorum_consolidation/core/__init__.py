"""Pure core of consolidation (no I/O): indexed answers in, labels and posteriors out."""

from quorum_consolidation.core.answers import Answers, ConsolidationInputError, validate_categories
from quorum_consolidation.core.base import BaseClassificationAggregator
from quorum_consolidation.core.consolidate import ConsolidatedLabel, consolidate
from quorum_consolidation.core.majority_vote import MajorityVote
from quorum_consolidation.core.registry import METHODS, make_aggregator

__all__ = [
    "METHODS",
    "Answers",
    "BaseClassificationAggregator",
    "ConsolidatedLabel",
    "ConsolidationInputError",
    "MajorityVote",
    "consolidate",
    "make_aggregator",
    "validate_categories",
]

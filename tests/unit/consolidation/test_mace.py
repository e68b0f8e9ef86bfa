"""MACE: spammers are found and discounted."""

from __future__ import annotations

import numpy as np
import pytest

from quorum_consolidation.core.mace import MACE
from quorum_consolidation.core.majority_vote import MajorityVote
from quorum_consolidation.core.side_info import KnownLabels
from quorum_consolidation.core.simulate import simulate


def mace_crowd(seed: int):  # noqa: ANN201
    k, w = 3, 9
    conf = np.zeros((w, k, k))
    spam = np.array([0.1, 0.1, 0.2, 0.2, 0.3, 0.9, 0.9, 0.95, 0.95])
    strategy = np.array([1.0, 0.0, 0.0])  # spammers answer the first class
    for i in range(w):
        conf[i] = (1 - spam[i]) * np.eye(k) + spam[i] * strategy[None, :]
    return simulate(conf, 800, 5, seed=seed), spam


@pytest.mark.parametrize("method", ["vb", "em"])
def test_finds_spammers_and_beats_majority_vote(method: str) -> None:
    crowd, spam = mace_crowd(1)
    mace = MACE(method=method, n_restarts=3).fit(crowd.answers)
    mv = MajorityVote().fit(crowd.answers)
    assert mace.spamming_ is not None and mace.strategies_ is not None
    np.testing.assert_allclose(mace.spamming_, spam, atol=0.1)
    assert np.all(mace.strategies_[spam > 0.5, 0] > 0.9)
    assert (mace.labels_ == crowd.truth).mean() > (mv.labels_ == crowd.truth).mean() + 0.05
    assert mace.confusions_ is not None
    np.testing.assert_allclose(mace.confusions_.sum(axis=2), 1.0)


def test_restarts_keep_the_best_likelihood() -> None:
    crowd, _ = mace_crowd(2)
    one = MACE(n_restarts=1, seed=5).fit(crowd.answers)
    many = MACE(n_restarts=4, seed=5).fit(crowd.answers)
    assert one.log_marginal_likelihood_ is not None and many.log_marginal_likelihood_ is not None
    assert many.log_marginal_likelihood_ >= one.log_marginal_likelihood_ - 1e-9


def test_known_answers_are_clamped() -> None:
    crowd, _ = mace_crowd(3)
    known = KnownLabels(np.arange(4), (crowd.truth[:4] + 1) % 3)
    mace = MACE(n_restarts=1).fit(crowd.answers, known=known)
    np.testing.assert_array_equal(mace.labels_[:4], known.classes)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_restarts": 0}, "n_restarts must be >= 1"),
        ({"method": "gibbs"}, "method must be"),
        ({"alpha": 0.0}, "alpha must be > 0"),
        ({"smoothing": -1.0}, "smoothing must be >= 0"),
    ],
)
def test_bad_parameters(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MACE(**params)

"""OneCoinDawidSkene: one accuracy per worker."""

from __future__ import annotations

import numpy as np
import pytest

from quorum_consolidation.core.majority_vote import MajorityVote
from quorum_consolidation.core.one_coin import OneCoinDawidSkene
from quorum_consolidation.core.side_info import KnownLabels
from quorum_consolidation.core.simulate import simulate


def one_coin(acc: np.ndarray, k: int) -> np.ndarray:
    off = (1 - acc) / (k - 1)
    return np.where(np.eye(k, dtype=bool)[None], acc[:, None, None], off[:, None, None])


def test_recovers_skills_and_beats_majority_vote() -> None:
    acc = np.array([0.95, 0.9, 0.55, 0.5, 0.45, 0.4])
    crowd = simulate(one_coin(acc, 4), 2000, 6, seed=1)
    oc = OneCoinDawidSkene().fit(crowd.answers)
    mv = MajorityVote().fit(crowd.answers)
    assert oc.skills_ is not None
    np.testing.assert_allclose(oc.skills_, acc, atol=0.03)
    assert (oc.labels_ == crowd.truth).mean() > (mv.labels_ == crowd.truth).mean() + 0.02
    assert oc.confusions_ is not None
    np.testing.assert_allclose(oc.confusions_.sum(axis=2), 1.0)


def test_agrees_with_majority_vote_when_all_workers_are_equal() -> None:
    crowd = simulate(one_coin(np.full(5, 0.75), 3), 1000, 5, seed=2)
    oc = OneCoinDawidSkene().fit(crowd.answers)
    mv = MajorityVote().fit(crowd.answers)
    sure = np.sort(crowd.answers.votes(), axis=1)
    clear = sure[:, -1] > sure[:, -2]  # no tie in the vote
    np.testing.assert_array_equal(oc.labels_[clear], mv.labels_[clear])


def test_known_answers_are_clamped() -> None:
    crowd = simulate(one_coin(np.array([0.9, 0.6, 0.6]), 3), 300, 3, seed=3)
    known = KnownLabels(np.arange(10), (crowd.truth[:10] + 1) % 3)  # deliberately "wrong" known labels
    oc = OneCoinDawidSkene().fit(crowd.answers, known=known)
    np.testing.assert_array_equal(oc.labels_[:10], known.classes)


def test_beta_prior_pulls_skills() -> None:
    crowd = simulate(one_coin(np.array([0.9, 0.9, 0.9]), 2), 30, 3, seed=4)
    free = OneCoinDawidSkene().fit(crowd.answers)
    pulled = OneCoinDawidSkene(correct_prior=100.0, wrong_prior=100.0).fit(crowd.answers)
    assert free.skills_ is not None and pulled.skills_ is not None
    assert np.all(np.abs(pulled.skills_ - 0.5) < np.abs(free.skills_ - 0.5))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_iter": 0}, "n_iter must be >= 1"),
        ({"correct_prior": -1.0}, "correct_prior must be"),
        ({"wrong_prior": float("nan")}, "wrong_prior must be"),
        ({"dtype": "int8"}, "dtype must be"),
    ],
)
def test_bad_parameters(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        OneCoinDawidSkene(**params)

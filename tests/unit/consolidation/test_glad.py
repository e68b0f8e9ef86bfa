"""GLAD: abilities and difficulties, vectorised gradient."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import check_grad

from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.glad import GLAD, glad_objective
from quorum_consolidation.core.majority_vote import MajorityVote
from quorum_consolidation.core.side_info import KnownLabels


def glad_crowd(seed: int, n: int = 600, w: int = 8, k: int = 3) -> tuple[Answers, np.ndarray, np.ndarray]:
    """Every worker answers every object; P(right) = sigmoid(alpha_w * beta_i)."""
    rng = np.random.default_rng(seed)
    alpha = np.linspace(-0.5, 3.0, w)
    beta = np.exp(rng.normal(0.0, 0.5, n))
    truth = rng.integers(0, k, n)
    obj = np.repeat(np.arange(n), w)
    wrk = np.tile(np.arange(w), n)
    right = rng.random(n * w) < 1 / (1 + np.exp(-alpha[wrk] * beta[obj]))
    wrong = (truth[obj] + rng.integers(1, k, n * w)) % k
    cls = np.where(right, truth[obj], wrong)
    answers = Answers(obj, wrk, cls.astype(np.int64), np.arange(n), np.arange(w), tuple("abc"[:k]))
    return answers, truth, alpha


def test_gradient_matches_finite_differences() -> None:
    answers, _, _ = glad_crowd(0, n=30, w=4)
    rng = np.random.default_rng(1)
    t = rng.random(answers.n_answers)
    x0 = rng.normal(1.0, 0.5, answers.n_workers + answers.n_objects)
    args = (t, answers.objects, answers.workers, answers.n_workers, answers.n_objects, 3, 1.0, 1.0)
    err = check_grad(lambda x: glad_objective(x, *args)[0], lambda x: glad_objective(x, *args)[1], x0)
    assert err < 1e-4 * np.sqrt(x0.shape[0])


def test_ranks_workers_by_ability_and_beats_majority_vote() -> None:
    answers, truth, alpha = glad_crowd(2)
    glad = GLAD().fit(answers)
    mv = MajorityVote().fit(answers)
    assert glad.alphas_ is not None
    assert np.corrcoef(glad.alphas_, alpha)[0, 1] > 0.95
    assert (glad.labels_ == truth).mean() >= (mv.labels_ == truth).mean()
    assert glad.probas_ is not None
    np.testing.assert_allclose(glad.probas_.sum(axis=1), 1.0)


def test_known_answers_are_clamped() -> None:
    answers, truth, _ = glad_crowd(3, n=100, w=3)
    known = KnownLabels(np.arange(5), (truth[:5] + 1) % 3)
    glad = GLAD(n_iter=5).fit(answers, known=known)
    np.testing.assert_array_equal(glad.labels_[:5], known.classes)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_iter": 0}, "must be >= 1"),
        ({"m_step_tol": 0.0}, "m_step_tol > 0"),
        ({"class_prior": (0.5, 0.6)}, "sum to 1"),
    ],
)
def test_bad_parameters(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GLAD(**params)


def test_class_prior_length_must_match() -> None:
    answers, _, _ = glad_crowd(4, n=10, w=3)
    with pytest.raises(ValueError, match="class_prior has 2 entries"):
        GLAD(class_prior=(0.5, 0.5)).fit(answers)

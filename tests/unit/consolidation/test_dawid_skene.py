"""DawidSkene: exactness against a loop reference, toy crowds with known answers, priors, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from quorum_consolidation.core._sparse import AnswerMatrix, row_softmax_, vote_shares
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.dawid_skene import DawidSkene, spam_form
from quorum_consolidation.core.majority_vote import MajorityVote
from quorum_consolidation.core.side_info import ConfusionPrior, KnownLabels
from quorum_consolidation.core.simulate import random_confusions, simulate


def reference_dawid_skene(answers: Answers, n_iter: int) -> np.ndarray:
    """crowd-kit 1.4.2's DawidSkene written plainly, one answer at a time (fixed number of iterations)."""
    n, w, k = answers.n_objects, answers.n_workers, answers.n_classes
    columns = (answers.objects.tolist(), answers.workers.tolist(), answers.classes.tolist())
    rows = list(zip(*columns, strict=True))
    votes = np.zeros((n, k))
    for o, _, c in rows:
        votes[o, c] += 1
    probas = votes / votes.sum(axis=1, keepdims=True)

    def m_step(probas: np.ndarray) -> np.ndarray:
        errors = np.zeros((w, k, k))  # [worker, observed, true]
        for o, wk, c in rows:
            errors[wk, c, :] += probas[o]
        errors = np.maximum(errors, 1e-10)
        return errors / errors.sum(axis=1, keepdims=True)

    priors = probas.mean(axis=0)
    errors = m_step(probas)
    for _ in range(n_iter):
        logits = np.tile(np.log(np.maximum(priors, 1e-10)), (n, 1))
        for o, wk, c in rows:
            logits[o] += np.log(errors[wk, c, :])
        logits -= logits.max(axis=1, keepdims=True)
        probas = np.exp(logits)
        probas /= probas.sum(axis=1, keepdims=True)
        priors = probas.mean(axis=0)
        errors = m_step(probas)
    return probas


def small_crowd(seed: int = 0, k: int = 3) -> Answers:
    rng = np.random.default_rng(seed)
    return simulate(random_confusions(rng, 6, k, (0.5, 0.9)), 40, 3, seed=seed).answers


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matches_loop_reference_of_crowd_kit(seed: int, dtype: str) -> None:
    answers = small_crowd(seed)
    ours = DawidSkene(n_iter=7, tol=0.0, dtype=dtype).fit(answers)
    expected = reference_dawid_skene(answers, 7)
    assert ours.n_iter_ == 7
    np.testing.assert_allclose(ours.probas_, expected, atol=1e-9 if dtype == "float64" else 1e-4)
    assert (ours.labels_ == expected.argmax(axis=1)).mean() >= 0.99


def test_follows_reliable_worker_over_two_consistent_adversaries() -> None:
    k = 3
    conf = np.zeros((5, k, k))
    conf[0] = 0.025 + np.eye(k) * 0.925  # reliable
    conf[1] = conf[2] = np.roll(np.eye(k), 1, axis=1)  # adversaries: always the next class
    conf[3] = conf[4] = 0.2 + np.eye(k) * 0.4  # mediocre
    crowd = simulate(conf, 400, 5, seed=3)
    mv = MajorityVote().fit(crowd.answers)
    ds = DawidSkene().fit(crowd.answers)
    assert (mv.labels_ == crowd.truth).mean() < 0.6
    assert (ds.labels_ == crowd.truth).mean() >= 0.98
    assert ds.confusions_ is not None
    np.testing.assert_allclose(ds.confusions_[1], np.roll(np.eye(k), 1, axis=1), atol=0.02)


def test_known_answers_anchor_a_reliable_worker_against_two_adversaries() -> None:
    """Binary, one reliable worker vs two who are mostly wrong: the data alone is symmetric (the mirror
    model fits as well) and majority vote starts EM in the mirror; 20 known answers pick the right mode."""
    conf = np.zeros((3, 2, 2))
    conf[0] = [[0.95, 0.05], [0.05, 0.95]]
    conf[1:] = [[0.2, 0.8], [0.8, 0.2]]
    crowd = simulate(conf, 400, 3, seed=4)
    known = KnownLabels(np.arange(20), crowd.truth[:20])
    plain = DawidSkene().fit(crowd.answers)
    anchored = DawidSkene().fit(crowd.answers, known=known)
    assert (plain.labels_ == crowd.truth).mean() < 0.2
    assert (anchored.labels_ == crowd.truth).mean() > 0.9
    assert anchored.probas_ is not None
    np.testing.assert_array_equal(anchored.labels_[:20], crowd.truth[:20])
    np.testing.assert_allclose(anchored.probas_[np.arange(20), crowd.truth[:20]], 1.0)


def test_agrees_with_majority_vote_when_all_workers_are_equal() -> None:
    conf = np.tile(np.array([[0.8, 0.2], [0.2, 0.8]]), (5, 1, 1))
    crowd = simulate(conf, 1000, 5, seed=10)  # everyone answers everything: equal estimates too
    mv = MajorityVote().fit(crowd.answers)
    ds = DawidSkene().fit(crowd.answers)
    np.testing.assert_array_equal(ds.labels_, mv.labels_)


def test_recovers_confusion_matrices() -> None:
    rng = np.random.default_rng(11)
    truth_conf = random_confusions(rng, 8, 3, (0.6, 0.9))
    crowd = simulate(truth_conf, 3000, 8, seed=12)  # every worker answers every object
    ds = DawidSkene().fit(crowd.answers)
    assert ds.confusions_ is not None and ds.priors_ is not None
    assert np.abs(ds.confusions_ - truth_conf).max() < 0.05
    np.testing.assert_allclose(ds.confusions_.sum(axis=2), 1.0)
    np.testing.assert_allclose(ds.priors_, np.bincount(crowd.truth, minlength=3) / 3000, atol=0.03)
    assert (ds.labels_ == crowd.truth).mean() > 0.97


def test_objective_never_decreases_with_fixed_priors() -> None:
    answers = small_crowd(5)
    ds = DawidSkene(confusion_prior=1.0, diagonal_prior=2.0, class_prior=1.0, tol=0.0, n_iter=30).fit(answers)
    assert np.all(np.diff(ds.loss_history_) >= -1e-10)


def test_population_prior_shrinks_sparse_workers() -> None:
    answers = small_crowd(6)
    plain = DawidSkene().fit(answers)
    shrunk = DawidSkene(population_prior=50.0).fit(answers)
    assert shrunk.population_ is not None and plain.confusions_ is not None and shrunk.confusions_ is not None
    spread = lambda c: np.abs(c - c.mean(axis=0)).mean()  # noqa: E731
    assert spread(shrunk.confusions_) < 0.5 * spread(plain.confusions_)
    np.testing.assert_allclose(shrunk.population_.sum(axis=1), 1.0)


def test_spam_form_recovers_a_mace_matrix() -> None:
    theta, xi = 0.3, np.array([0.6, 0.3, 0.1])
    mace = (1 - theta) * np.eye(3) + theta * xi[None, :]
    counts = 1000.0 * mace[None] * np.array([1.0, 2.0, 1.0])[None, :, None]  # rows weighted by class mass
    fitted = spam_form(counts)
    np.testing.assert_allclose(fitted[0], mace, atol=0.01)


def test_prior_confusions_from_an_earlier_job_are_used() -> None:
    # A worker with two answers and strong history of always answering the other class.
    answers = Answers(
        np.array([0, 0, 0, 1, 1, 1]),
        np.array([0, 1, 2, 0, 1, 2]),
        np.array([0, 0, 1, 1, 1, 0]),
        np.array(["a", "b"]),
        np.array(["u", "v", "w"]),
        ("x", "y"),
    )
    history = ConfusionPrior(["w"], np.array([[[0.0, 50.0], [50.0, 0.0]]]))
    aligned = history.align(answers)
    assert aligned[2].sum() == 100 and aligned[:2].sum() == 0
    ds = DawidSkene().fit(answers, prior=history)
    assert ds.confusions_ is not None
    assert ds.confusions_[2, 0, 1] > 0.9


def test_empty_answers() -> None:
    answers = Answers(
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0),
        np.zeros(0),
        ("a", "b"),
    )
    ds = DawidSkene().fit(answers)
    assert ds.labels_ is not None and ds.labels_.shape == (0,)
    assert ds.probas_ is not None and ds.probas_.shape == (0, 2)


def test_answer_matrix_products_match_loops() -> None:
    answers = small_crowd(9)
    matrix = AnswerMatrix.build(answers)
    rng = np.random.default_rng(0)
    probas = vote_shares(matrix)
    log_conf = np.log(rng.dirichlet(np.ones(3), size=(answers.n_workers, 3)))
    logits = matrix.logits(log_conf, np.zeros(3))
    counts = matrix.counts(probas)
    expect_logits = np.zeros_like(logits)
    expect_counts = np.zeros_like(counts)
    for o, w, c in zip(answers.objects, answers.workers, answers.classes, strict=True):
        expect_logits[o] += log_conf[w, :, c]
        expect_counts[w, :, c] += probas[o]
    np.testing.assert_allclose(logits, expect_logits)
    np.testing.assert_allclose(counts, expect_counts)
    row = np.array([[1.0, 2.0, 3.0], [-1000.0, 0.0, -1000.0]])
    norm = row_softmax_(row)
    np.testing.assert_allclose(row.sum(axis=1), 1.0)
    np.testing.assert_allclose(norm[0], np.log(np.exp([1.0, 2.0, 3.0]).sum()))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_iter": 0}, "n_iter must be >= 1"),
        ({"tol": -1.0}, "tol must be >= 0"),
        ({"dtype": "float16"}, "dtype must be"),
        ({"confusion_prior": -1.0}, "confusion_prior must be a finite number >= 0"),
        ({"population_prior": float("inf")}, "population_prior must be a finite number >= 0"),
        ({"spam_prior": -0.5}, "spam_prior must be"),
        ({"population_weighting": "objects"}, "population_weighting must be"),
    ],
)
def test_bad_parameters(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DawidSkene(**params)


def test_confusion_prior_validation() -> None:
    with pytest.raises(ValueError, match="counts must have shape"):
        ConfusionPrior(["a"], np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="finite and non-negative"):
        ConfusionPrior(["a"], -np.ones((1, 2, 2)))
    answers = small_crowd(1)
    with pytest.raises(ValueError, match="the job has K=3"):
        ConfusionPrior([0], np.ones((1, 2, 2))).align(answers)

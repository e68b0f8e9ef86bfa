"""Per-worker quality estimates from fitted aggregation methods (core.worker_quality)."""

from __future__ import annotations

import numpy as np
import pytest

from quorum_consolidation.core.answers import Answers, ConsolidationInputError
from quorum_consolidation.core.registry import METHODS
from quorum_consolidation.core.worker_quality import (
    JobWorkerQuality,
    WorkerStats,
    dominant_categories,
    fit_worker_quality,
    job_worker_quality,
    team_worker_quality,
)

CATS = ("a", "b")


def crowd(n_objects: int = 200, seed: int = 0) -> list[tuple[int, str, str]]:
    """'perfect' always right; 'good1..3' right 85% of the time; 'adversary' always wrong."""
    rng = np.random.default_rng(seed)
    triples: list[tuple[int, str, str]] = []
    for o in range(n_objects):
        t = int(rng.integers(2))
        triples.append((o, "perfect", CATS[t]))
        triples.append((o, "adversary", CATS[1 - t]))
        triples += [
            (o, w, CATS[t] if rng.random() < 0.85 else CATS[1 - t]) for w in ("good1", "good2", "good3")
        ]
    return triples


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_ranks_the_perfect_worker_first_and_the_adversary_last(method: str) -> None:
    stats = {s.worker_id: s for s in fit_worker_quality(Answers.from_triples(crowd(), CATS), method)}
    assert set(stats) == {"perfect", "adversary", "good1", "good2", "good3"}
    assert all(s.answers == 200 for s in stats.values())
    for s in stats.values():
        assert s.confusion.shape == (2, 2)
        np.testing.assert_allclose(s.confusion.sum(axis=1), 1.0, atol=1e-9)
        assert 0.0 <= s.accuracy <= 1.0 and 0.0 <= s.agreement <= 1.0
    assert stats["perfect"].accuracy > stats["good1"].accuracy > stats["adversary"].accuracy
    # MACE has no adversarial workers, only spammers: the best it can say is "at chance".
    assert stats["adversary"].accuracy < (0.56 if method == "mace" else 0.2)
    assert stats["perfect"].agreement > 0.9 and stats["adversary"].agreement < 0.1


def test_dawid_skene_perfect_worker_has_a_diagonal_confusion() -> None:
    stats = {s.worker_id: s for s in fit_worker_quality(Answers.from_triples(crowd(), CATS), "ds")}
    assert stats["perfect"].accuracy == pytest.approx(1.0, abs=0.03)
    np.testing.assert_allclose(stats["perfect"].confusion, np.eye(2), atol=0.03)
    np.testing.assert_allclose(stats["adversary"].confusion, 1 - np.eye(2), atol=0.08)
    assert stats["good1"].accuracy == pytest.approx(0.85, abs=0.06)


def test_majority_vote_accuracy_is_agreement_and_confusion_is_empirical() -> None:
    triples = [
        (0, "w1", "a"), (0, "w2", "a"), (0, "w3", "b"),
        (1, "w1", "b"), (1, "w2", "b"), (1, "w3", "b"),
        (2, "w1", "a"), (2, "w2", "a"),
    ]  # fmt: skip
    stats = {s.worker_id: s for s in fit_worker_quality(Answers.from_triples(triples, CATS), "mv")}
    assert stats["w1"].accuracy == stats["w1"].agreement == 1.0
    np.testing.assert_allclose(stats["w1"].confusion, np.eye(2))
    assert stats["w3"].answers == 2 and stats["w3"].agreement == 0.5 == stats["w3"].accuracy
    # w3 said b on an "a" object and b on a "b" object.
    np.testing.assert_allclose(stats["w3"].confusion, [[0.0, 1.0], [0.0, 1.0]])


def test_results_are_sorted_by_answers_then_worker_id() -> None:
    triples = [(0, "z", "a"), (0, "y", "a"), (1, "y", "b"), (1, "x", "b"), (2, "y", "a")]
    stats = fit_worker_quality(Answers.from_triples(triples, CATS), "mv")
    assert [(s.worker_id, s.answers) for s in stats] == [("y", 3), ("x", 1), ("z", 1)]


def test_job_worker_quality_uses_the_dominant_category_set_and_validates_the_method() -> None:
    triples = crowd(50)
    obj, wrk, lab = (list(col) for col in zip(*triples, strict=True))
    cats = [CATS] * len(obj)
    # A stray answer under another category set is ignored.
    obj.append(999)
    wrk.append("stray")
    lab.append("x")
    cats.append(("x", "y"))
    report = job_worker_quality(obj, wrk, lab, cats, "")
    assert report is not None and report.method == "ds" and report.categories == CATS
    assert "stray" not in {s.worker_id for s in report.workers}
    assert job_worker_quality([], [], [], [], "ds") is None
    with pytest.raises(ConsolidationInputError) as err:
        job_worker_quality(obj, wrk, lab, cats, "nope")
    assert err.value.reason == "unknown_method"


def test_dominant_categories() -> None:
    assert dominant_categories([]) is None
    assert dominant_categories([("a", "b"), ("c", "d"), ("a", "b")]) == ("a", "b")


def test_team_quality_adds_answers_and_weights_each_jobs_estimate_by_them() -> None:
    def stats(worker: str, answers: int, accuracy: float, agreement: float) -> WorkerStats:
        return WorkerStats(worker, answers, accuracy, np.eye(2), agreement)

    job1 = JobWorkerQuality("ds", ("a", "b"), [stats("x", 300, 0.9, 0.8), stats("y", 10, 0.5, 0.4)])
    job2 = JobWorkerQuality("ds", ("cat", "dog", "bird"), [stats("x", 100, 0.7, 0.6)])
    team = team_worker_quality([job1, job2])
    assert [(w.worker_id, w.answers, w.jobs) for w in team] == [("x", 400, 2), ("y", 10, 1)]
    assert team[0].accuracy == pytest.approx((300 * 0.9 + 100 * 0.7) / 400)
    assert team[0].agreement == pytest.approx((300 * 0.8 + 100 * 0.6) / 400)
    assert (team[1].accuracy, team[1].agreement) == (0.5, 0.4)
    assert team_worker_quality([]) == []


def test_team_quality_pools_known_answer_accuracy_over_the_answers_not_the_jobs() -> None:
    def stats(worker: str, known: int, right: float) -> WorkerStats:
        return WorkerStats(worker, 100, 0.8, np.eye(2), 0.8, known_answers=known, known_accuracy=right)

    job1 = JobWorkerQuality("ds", ("a", "b"), [stats("x", 30, 0.9), stats("y", 0, 0.0)])
    job2 = JobWorkerQuality("ds", ("a", "b"), [stats("x", 10, 0.5), stats("y", 0, 0.0)])
    team = {w.worker_id: w for w in team_worker_quality([job1, job2])}
    # 27 + 5 right of 40 known answers: 0.8, not the jobs' mean 0.7.
    assert team["x"].known_answers == 40 and team["x"].known_accuracy == pytest.approx(0.8)
    assert (team["y"].known_answers, team["y"].known_accuracy) == (0, 0.0)

"""Worker priors carried over from a team's earlier jobs (core.team_priors) and their use in the job model."""

from __future__ import annotations

import numpy as np
import pytest

from quorum_consolidation.core.adaptive import fit_worker_model, posteriors
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.team_priors import WorkerSkill, learned_skills, team_prior

CATS = ("cat", "dog", "bird")


def earlier_job(n_objects: int = 40, seed: int = 0) -> Answers:
    """'g1' and 'g2' always right; 'adv' always answers the next class."""
    rng = np.random.default_rng(seed)
    triples = []
    for o in range(n_objects):
        t = int(rng.integers(3))
        triples += [(o, "g1", CATS[t]), (o, "g2", CATS[t]), (o, "adv", CATS[(t + 1) % 3])]
    return Answers.from_triples(triples, CATS)


def skill(worker: str, job: str, cats: tuple[str, ...], counts: list[list[float]]) -> WorkerSkill:
    c = np.asarray(counts, dtype=np.float64)
    return WorkerSkill(worker, job, cats, int(round(c.sum())), c)


def test_learned_skills_are_the_expected_confusion_counts_under_the_posteriors() -> None:
    answers = Answers.from_triples(
        [(0, "a", "cat"), (0, "b", "dog"), (1, "a", "dog"), (1, "b", "dog")], ("cat", "dog")
    )
    probas = np.array([[0.75, 0.25], [0.0, 1.0]])
    skills = {s.worker_id: s for s in learned_skills(answers, probas, "j1")}
    assert set(skills) == {"a", "b"}
    a, b = skills["a"], skills["b"]
    assert (a.job_id, a.categories, a.n_answers) == ("j1", ("cat", "dog"), 2)
    # a answered cat on object 0 (truth cat .75 / dog .25) and dog on object 1 (truth dog).
    np.testing.assert_allclose(a.counts, [[0.75, 0.0], [0.25, 1.0]])
    np.testing.assert_allclose(b.counts, [[0.0, 0.75], [0.0, 1.25]])
    assert a.accuracy == pytest.approx(1.75 / 2) and b.accuracy == pytest.approx(1.25 / 2)
    assert a.skill == pytest.approx(2 * 1.75 / 2 - 1)


def test_the_prior_is_bounded_to_max_weight_answers_per_worker() -> None:
    many = skill("veteran", "j1", CATS, [[40, 0, 0], [0, 30, 0], [0, 0, 30]])
    few = skill("newish", "j1", CATS, [[2, 0, 0], [0, 1, 0], [0, 0, 1]])
    prior = team_prior([many, few], ["veteran", "newish"], CATS, max_weight=10)
    assert prior is not None
    got = dict(zip(prior.worker_ids, prior.counts, strict=True))
    assert got["veteran"].sum() == pytest.approx(10)
    np.testing.assert_allclose(got["veteran"], np.diag([4.0, 3.0, 3.0]))  # the shape is kept, scaled down
    np.testing.assert_allclose(got["newish"], np.diag([2.0, 1.0, 1.0]))  # under the bound: as learned
    with pytest.raises(ValueError, match="max_weight"):
        team_prior([many], ["veteran"], CATS, max_weight=0)


def test_the_jobs_own_skills_are_never_counted() -> None:
    own = skill("w", "this", CATS, [[5, 0, 0], [0, 5, 0], [0, 0, 5]])
    other = skill("w", "earlier", CATS, [[1, 1, 0], [0, 2, 0], [0, 0, 2]])
    assert team_prior([own], ["w"], CATS, exclude_job="this") is None
    prior = team_prior([own, other], ["w"], CATS, exclude_job="this")
    assert prior is not None
    np.testing.assert_allclose(prior.counts[0], other.counts)


def test_only_the_jobs_workers_get_a_prior_and_several_earlier_jobs_add_up() -> None:
    a1 = skill("a", "j1", CATS, [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    a2 = skill("a", "j2", CATS, [[2, 0, 0], [0, 0, 0], [0, 0, 0]])
    stranger = skill("z", "j1", CATS, [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    prior = team_prior([a1, a2, stranger], ["a", "b"], CATS)
    assert prior is not None and list(prior.worker_ids) == ["a"]
    np.testing.assert_allclose(prior.counts[0], np.diag([3.0, 1.0, 1.0]))


def test_the_same_category_set_in_another_order_is_permuted_into_the_jobs_order() -> None:
    # Earlier job (bird, cat, dog): true bird -> answered cat, always.
    earlier = skill("w", "j1", ("bird", "cat", "dog"), [[0, 6, 0], [0, 0, 0], [0, 0, 0]])
    prior = team_prior([earlier], ["w"], CATS)
    assert prior is not None
    expected = np.zeros((3, 3))
    expected[CATS.index("bird"), CATS.index("cat")] = 6.0
    np.testing.assert_allclose(prior.counts[0], expected)


def test_a_skill_from_other_categories_gives_a_diagonal_heavy_matrix_for_this_jobs_categories() -> None:
    yes_no = ("yes", "no")
    good = skill("good", "j1", yes_no, [[9, 1], [1, 9]])  # accuracy 0.9: skill 0.8 above chance
    adversary = skill("adv", "j1", yes_no, [[1, 9], [9, 1]])  # accuracy 0.1: skill -0.8
    prior = team_prior([good, adversary], ["good", "adv"], CATS, max_weight=12)
    assert prior is not None
    got = dict(zip(prior.worker_ids, prior.counts, strict=True))
    for worker, accuracy in (("good", 1 / 3 + 0.8 * 2 / 3), ("adv", 0.02)):  # below chance: floored at 0.02
        m = got[worker]
        assert m.sum() == pytest.approx(12)
        rows = m / m.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(np.diag(rows), accuracy)
        np.testing.assert_allclose(rows[~np.eye(3, dtype=bool)], (1 - accuracy) / 2)


def test_a_worker_known_to_be_adversarial_does_not_sway_a_tiny_new_job() -> None:
    """In a tiny job (one-coin model: majority vote), 'adv' and a newcomer say dog, 'g1' says cat. Without a
    prior, dog wins; with the first job's skills, 'adv' answering dog means cat (it always answers the next
    class), and 'g1' is known to be right: cat."""
    first = earlier_job()
    model = fit_worker_model(first, method="auto")
    skills = learned_skills(first, posteriors(model, first, temper=False), "job1")
    adv = next(s for s in skills if s.worker_id == "adv")
    assert adv.accuracy < 0.05 and adv.n_answers == 40

    tiny = Answers.from_triples([(0, "adv", "dog"), (0, "new", "dog"), (0, "g1", "cat")], CATS)
    plain = fit_worker_model(tiny, method="auto")
    assert plain.source == "one_coin" and CATS[int(posteriors(plain, tiny).argmax())] == "dog"
    prior = team_prior(skills, tiny.worker_ids, CATS, exclude_job="job2")
    assert prior is not None and sorted(prior.worker_ids) == ["adv", "g1"]
    informed = fit_worker_model(tiny, method="auto", prior=prior)
    assert informed.source == "one_coin" and sorted(informed.worker_ids.tolist()) == ["adv", "g1"]
    post = posteriors(informed, tiny)[0]
    assert CATS[int(post.argmax())] == "cat" and post.max() > 0.7


@pytest.mark.parametrize("method", ["auto", "ds"])
def test_the_prior_reaches_dawid_skene_fits_and_the_jobs_own_answers_dominate_with_enough_of_them(
    method: str,
) -> None:
    """A prior that calls 'g1' adversarial (10 answers' worth) is outweighed by 40 objects where 'g1' agrees
    with 'g2'; in a fit that is not one-coin the prior still moves g1's estimated accuracy."""
    job = earlier_job(seed=1)
    wrong = skill("g1", "old", CATS, [[0, 10 / 3, 0], [0, 0, 10 / 3], [10 / 3, 0, 0]])
    prior = team_prior([wrong], job.worker_ids, CATS, max_weight=10)
    plain = fit_worker_model(job, method=method)  # type: ignore[arg-type]
    informed = fit_worker_model(job, method=method, prior=prior)  # type: ignore[arg-type]
    assert informed.source != "one_coin"
    row = int(np.flatnonzero(informed.worker_ids == "g1")[0])
    assert informed.accuracies()[row] < plain.accuracies()[row]
    assert informed.accuracies()[row] > 0.6
    np.testing.assert_array_equal(posteriors(informed, job).argmax(1), posteriors(plain, job).argmax(1))

"""Synthetic crowds with known truth and known confusion matrices (tests, benchmarks, demos)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quorum_consolidation.core.answers import Answers


@dataclass(frozen=True)
class SimulatedCrowd:
    answers: Answers
    truth: np.ndarray  # int64 [n_objects] true class indices
    confusions: np.ndarray  # [n_workers, K, K], row = true class


def random_confusions(
    rng: np.random.Generator,
    n_workers: int,
    n_classes: int,
    accuracy: tuple[float, float] = (0.5, 0.95),
    concentration: float = 1.0,
) -> np.ndarray:
    """Per worker: accuracy uniform in `accuracy` on every row, the rest spread over the other classes by a
    Dirichlet(`concentration`) draw per row. ``[W, K, K]``, rows sum to 1."""
    k = n_classes
    acc = rng.uniform(*accuracy, size=n_workers)
    errors = rng.dirichlet(np.full(k - 1, concentration), size=(n_workers, k))
    off = np.zeros((n_workers, k, k))
    # Row c's error shares go to the columns other than c: insert a zero at position c (loop over K only).
    for c in range(k):
        off[:, c, :c] = errors[:, c, :c]
        off[:, c, c + 1 :] = errors[:, c, c:]
    conf = off * (1.0 - acc)[:, None, None]
    conf[:, np.arange(k), np.arange(k)] = acc[:, None]
    return conf


def simulate(
    confusions: np.ndarray,
    n_objects: int,
    per_object: int,
    seed: int = 0,
    class_prior: np.ndarray | None = None,
    worker_weights: np.ndarray | None = None,
) -> SimulatedCrowd:
    """`per_object` distinct workers answer each object (drawn with probability proportional to
    `worker_weights`, default uniform); each answers from their confusion row of the object's true class."""
    rng = np.random.default_rng(seed)
    w, k, _ = confusions.shape
    if not 1 <= per_object <= w:
        raise ValueError(f"per_object must be in [1, {w}], got {per_object}")
    truth = rng.choice(k, size=n_objects, p=class_prior).astype(np.int64)
    if worker_weights is None:
        # Distinct workers per object without a per-object loop: start + j * step (mod W) with
        # 1 <= step < W / per_object is distinct for j < per_object.
        start = rng.integers(0, w, (n_objects, 1))
        step = rng.integers(1, max(2, w // per_object), (n_objects, 1))
        workers = ((start + np.arange(per_object) * step) % w).ravel()
    else:
        p = np.asarray(worker_weights, dtype=np.float64)
        keys = rng.random((n_objects, w)) ** (1.0 / (p / p.sum()))  # weighted sampling without replacement
        workers = np.argsort(-keys, axis=1)[:, :per_object].ravel()
    objects = np.repeat(np.arange(n_objects), per_object)
    cum = confusions[workers, truth[objects]].cumsum(axis=1)
    classes = np.minimum((rng.random(objects.shape[0])[:, None] > cum).sum(axis=1), k - 1)
    answers = Answers(
        objects.astype(np.int64),
        workers.astype(np.int64),
        classes.astype(np.int64),
        np.arange(n_objects),
        np.arange(w),
        tuple(f"c{i}" for i in range(k)),
    )
    return SimulatedCrowd(answers, truth, confusions)


def simulate_lured(
    rng: np.random.Generator,
    n_objects: int,
    n_workers: int,
    per_object: int,
    *,
    n_classes: int = 3,
    hard_share: float = 0.3,
    lure_prob: float = 0.6,
    accuracy: tuple[float, float] = (0.75, 0.95),
    hard_classes: tuple[int, ...] | None = None,
    lure_class: int | None = None,
) -> SimulatedCrowd:
    """A crowd whose errors are correlated: on a `hard_share` of the objects every worker picks the object's
    one lure class with probability `lure_prob` (else answers as usual: right with the worker's accuracy,
    uniform in `accuracy`, otherwise a uniformly wrong class). Answers are then not independent given the
    class, which no answer-only model can see. `confusions` are the workers' behaviour on ordinary objects.
    `hard_classes`: only objects of these true classes can be hard; `lure_class`: every hard object's lure
    (together: one class that the crowd often mistakes for another, as listeners mistake one music genre for
    a neighbouring one).
    """
    n, w, per, k = n_objects, n_workers, per_object, n_classes
    if not 1 <= per <= w // 2:
        raise ValueError(f"per_object must be in [1, {w // 2}], got {per}")
    truth = rng.integers(0, k, n)
    hard = rng.random(n) < hard_share
    if hard_classes is not None:
        hard &= np.isin(truth, hard_classes)
    lure = (truth + rng.integers(1, k, n)) % k
    if lure_class is not None:
        lure[:] = lure_class
        hard &= truth != lure_class
    start, step = rng.integers(0, w, (n, 1)), rng.integers(1, w // per, (n, 1))
    workers = ((start + np.arange(per) * step) % w).ravel()
    objects = np.repeat(np.arange(n), per)
    draws = rng.random(n * per)  # (drawn before the skills: the order fixes what a seed gives)
    skill = rng.uniform(*accuracy, w)
    right = draws < skill[workers]
    wrong = (truth[objects] + rng.integers(1, k, n * per)) % k
    lured = hard[objects] & (rng.random(n * per) < lure_prob)
    classes = np.where(lured, lure[objects], np.where(right, truth[objects], wrong))
    confusions = np.repeat(((1.0 - skill) / (k - 1))[:, None, None], k, axis=1).repeat(k, axis=2)
    confusions[:, np.arange(k), np.arange(k)] = skill[:, None]
    answers = Answers(
        objects.astype(np.int64),
        workers.astype(np.int64),
        classes.astype(np.int64),
        np.arange(n),
        np.arange(w),
        tuple("abcdefghijklmnopqrstuvwxyz"[i] if k <= 26 else f"c{i}" for i in range(k)),
    )
    return SimulatedCrowd(answers, truth.astype(np.int64), confusions)


def simulate_adaptive_hard(
    rng: np.random.Generator,
    n_objects: int,
    n_workers: int,
    *,
    n_classes: int = 4,
    hard_share: float = 0.3,
    max_answers: int = 7,
    accuracy: tuple[float, float] = (0.7, 0.95),
    hard_accuracy: float = 0.3,
) -> SimulatedCrowd:
    """A crowd asked adaptively, as redundancy-saving platforms do: each object gets answers one at a time,
    from distinct random workers, until two of them agree (at most `max_answers`). On a `hard_share` of the
    objects every worker is right only with probability `hard_accuracy` (else a uniformly wrong class), so
    hard objects are the ones that collect many answers, and workers look surer on them than they are: a
    model of item-independent skill is over-confident exactly where an object has many answers. `confusions`
    are the workers' behaviour on easy objects."""
    n, w, k, m = n_objects, n_workers, n_classes, max_answers
    if not 2 <= m <= w:
        raise ValueError(f"max_answers must be in [2, {w}], got {m}")
    truth = rng.integers(0, k, n)
    hard = rng.random(n) < hard_share
    skill = rng.uniform(*accuracy, w)
    # Every object's first m workers (distinct) and their would-be answers; the stopping rule then keeps a
    # prefix of them.
    workers = np.argsort(rng.random((n, w)), axis=1)[:, :m]
    p_right = np.where(hard[:, None], hard_accuracy, skill[workers])
    wrong = (truth[:, None] + rng.integers(1, k, (n, m))) % k
    classes = np.where(rng.random((n, m)) < p_right, truth[:, None], wrong)
    # Stop after answer j (0-based, j >= 1) when it repeats an earlier answer of the object.
    repeats = (classes[:, :, None] == classes[:, None, :]) & np.tri(m, k=-1, dtype=bool)[None]
    stops = repeats.any(axis=2)
    stops[:, 0] = False
    stops[:, -1] = True
    count = stops.argmax(axis=1) + 1
    keep = np.arange(m)[None, :] < count[:, None]
    confusions = np.repeat(((1.0 - skill) / (k - 1))[:, None, None], k, axis=1).repeat(k, axis=2)
    confusions[:, np.arange(k), np.arange(k)] = skill[:, None]
    answers = Answers(
        np.repeat(np.arange(n), m)[keep.ravel()].astype(np.int64),
        workers[keep].astype(np.int64),
        classes[keep].astype(np.int64),
        np.arange(n),
        np.arange(w),
        tuple("abcdefghijklmnopqrstuvwxyz"[i] if k <= 26 else f"c{i}" for i in range(k)),
    )
    return SimulatedCrowd(answers, truth.astype(np.int64), confusions)

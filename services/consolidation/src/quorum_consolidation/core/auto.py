"""The default method: hierarchical Dawid-Skene whose prior strengths and confidence temperature are chosen
per job, without gold, by how well the model predicts held-out answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Self

import numpy as np

from quorum_consolidation.core._sparse import AnswerMatrix, Clamp, row_softmax_
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.base import BaseClassificationAggregator
from quorum_consolidation.core.calibration import TopLabelCalibrator, answer_correlation
from quorum_consolidation.core.dawid_skene import DawidSkene, DType, _empty, resolve_dtype
from quorum_consolidation.core.side_info import ConfusionPrior, KnownLabels

#: Temperatures tried when calibrating: log-spaced, golden-section refined.
#: Never below 1 (tempering only softens): with workers that always agreed, held-out answers reward any
#: sharpening, which turns small differences between estimated confusions into false certainty (a 1-1 split
#: between two such workers came out above 0.9 at T = 0.5).
_T_LOW, _T_HIGH = 1.0, 20.0

#: Held-out answers needed from objects whose answer count is not the commonest one before a slope is fitted.
_MIN_OTHER_COUNTS = 100
#: Values of the answer-count slope of the temperature tried (`_count_shape`).
_COUNT_SHAPE_GRID = (0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0)
#: Held-out answers a predicted class needs before it gets a temperature of its own (fewer: the job's).
_MIN_CLASS_ANSWERS = 100
#: ... and a held-out log-likelihood gain over the job's temperature of more than this (a likelihood-ratio
#: test of the one extra parameter at 5 %: half of chi-square(1)'s 95 % quantile). A crowd that follows
#: Dawid-Skene gains at most ~1.2 by chance (simulated); the real sets' disputed classes 2 to 21.
_CLASS_MIN_GAIN = 1.92


def answer_folds(answers: Answers, n_folds: int, seed: int) -> np.ndarray:
    """Fold of each answer, spread within objects: an object's answers go to consecutive folds from a random
    offset, so holding out one fold removes about 1/n_folds of every object's answers, never all of them
    (unless the object has a single answer). Within an object, answers are ranked by worker, not by their
    order in the arrays, so the same answers give the same folds (and the same model) however they were read
    (a service reading them from its database, a test from the API)."""
    order = np.lexsort((answers.workers, answers.objects))
    objs = answers.objects[order]
    counts = np.bincount(objs, minlength=answers.n_objects)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(objs.shape[0]) - starts[objs]
    offset = np.random.default_rng(seed).integers(0, n_folds, size=answers.n_objects)
    folds = np.empty(answers.n_answers, dtype=np.int64)
    folds[order] = (rank + offset[objs]) % n_folds
    return folds


def _restrict(answers: Answers, keep_objects: np.ndarray) -> tuple[Answers, np.ndarray]:
    """The answers on the objects where `keep_objects` is true, objects renumbered (workers kept)."""
    new_index = np.cumsum(keep_objects) - 1
    mask = keep_objects[answers.objects]
    sub = Answers(
        new_index[answers.objects[mask]],
        answers.workers[mask],
        answers.classes[mask],
        answers.object_ids[keep_objects],
        answers.worker_ids,
        answers.categories,
    )
    return sub, new_index


def _heldout_terms(
    matrix_held: AnswerMatrix, probas: np.ndarray, confusions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each held-out answer: its object's log posterior from the other answers ``[m, K]`` and the
    answering worker's likelihood column ``pi_w[:, l]`` ``[m, K]``."""
    obj, wrk, cls = matrix_held.objects, matrix_held.workers, matrix_held.classes
    log_post = np.log(np.maximum(probas[obj], 1e-300))
    column = confusions[wrk, :, cls]
    return log_post, column


def _predictive_ll(log_post: np.ndarray, column: np.ndarray, temperature: float | np.ndarray = 1.0) -> float:
    """Mean over held-out answers of ``log sum_c softmax(log_post / temperature)_c * column_c`` (column loops:
    K is small and numpy's row reductions over a short axis are slow)."""
    t = np.asarray(temperature, dtype=np.float64)
    z = log_post * (1.0 / (t[:, None] if t.ndim else t))
    row_softmax_(z)
    pred = z[:, 0] * column[:, 0]
    for c in range(1, z.shape[1]):
        pred += z[:, c] * column[:, c]
    return float(np.log(np.maximum(pred, 1e-300)).mean())


def _best_temperature(log_post: np.ndarray, column: np.ndarray, max_answers: int, seed: int) -> float:
    """Temperature in [_T_LOW, _T_HIGH] maximising the held-out predictive log-likelihood: a log-spaced grid,
    then golden-section search on log T around the best grid point (on at most `max_answers` held-out
    answers, a random subset)."""
    if log_post.shape[0] > max_answers:
        pick = np.random.default_rng(seed).choice(log_post.shape[0], max_answers, replace=False)
        log_post, column = log_post[pick], column[pick]
    grid = np.exp(np.linspace(np.log(_T_LOW), np.log(_T_HIGH), 9))
    scores = [_predictive_ll(log_post, column, t) for t in grid]
    i = int(np.argmax(scores))
    lo, hi = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, len(grid) - 1)])
    best, best_score = _golden_max(
        lambda log_t: _predictive_ll(log_post, column, float(np.exp(log_t))), lo, hi, 14
    )
    return float(np.exp(best)) if best_score >= scores[i] else float(grid[i])


def _count_shape(
    log_post: np.ndarray, column: np.ndarray, n_train: np.ndarray, max_answers: int, seed: int
) -> tuple[float, float]:
    """How the held-out answers want the temperature to grow with an object's answer count: the `rho` of
    ``tau_i = T0 (1 + (n_i - 1) rho)`` (``n_i`` the object's answers in the fit that predicted the held-out
    one), chosen with T0 in [_T_LOW, _T_HIGH] by the held-out predictive log-likelihood; and the mean of
    ``log(1 + (n_i - 1) rho)`` over those held-out answers (where the scalar held-out temperature was
    measured). (0, 0) when fewer than _MIN_OTHER_COUNTS held-out answers come from objects with another count
    than the commonest (too little to tell a slope from a scale: a small job where most objects have 2 answers
    and one has 4 would otherwise let that one object set it)."""
    if log_post.shape[0] > max_answers:
        pick = np.random.default_rng(seed).choice(log_post.shape[0], max_answers, replace=False)
        log_post, column, n_train = log_post[pick], column[pick], n_train[pick]
    extra = np.maximum(n_train.astype(np.float64), 1.0) - 1.0
    if extra.shape[0] == 0 or extra.shape[0] - np.bincount(extra.astype(np.int64)).max() < _MIN_OTHER_COUNTS:
        return 0.0, 0.0
    best_rho, best_score = 0.0, -np.inf
    for rho in _COUNT_SHAPE_GRID:
        growth = 1.0 + extra * rho
        _, score = _golden_max(
            lambda log_t, g=growth: _predictive_ll(log_post, column, np.exp(log_t) * g),
            np.log(_T_LOW),
            np.log(_T_HIGH),
            14,
        )
        if score > best_score + 1e-9:  # ties keep the smaller rho
            best_rho, best_score = rho, score
    return best_rho, float(np.log1p(extra * best_rho).mean())


def _class_factors(
    log_post: np.ndarray, column: np.ndarray, n_classes: int, max_answers: int, seed: int
) -> np.ndarray:
    """Per class, how much hotter than the job's the held-out answers want the temperature of objects whose
    posterior picks that class: ``max(1, T_c / T)``, with ``T_c`` the held-out temperature of the answers to
    objects predicted c and T that of all (on the same `max_answers` subset); 1 for a class with fewer than
    _MIN_CLASS_ANSWERS such answers or a gain of at most _CLASS_MIN_GAIN. Only ever softens: a class the crowd
    finds easy keeps the job's."""
    if log_post.shape[0] > max_answers:
        pick = np.random.default_rng(seed).choice(log_post.shape[0], max_answers, replace=False)
        log_post, column = log_post[pick], column[pick]
    factors = np.ones(n_classes)
    predicted = log_post.argmax(axis=1)
    overall = _best_temperature(log_post, column, log_post.shape[0], seed)
    for c in range(n_classes):
        rows = np.flatnonzero(predicted == c)
        if rows.shape[0] < _MIN_CLASS_ANSWERS:
            continue
        own = _best_temperature(log_post[rows], column[rows], rows.shape[0], seed)
        gain = rows.shape[0] * (
            _predictive_ll(log_post[rows], column[rows], own)
            - _predictive_ll(log_post[rows], column[rows], overall)
        )
        if own > overall and gain > _CLASS_MIN_GAIN:
            factors[c] = own / overall
    return factors


def _golden_max(f: Callable[[float], float], lo: float, hi: float, steps: int) -> tuple[float, float]:
    """Golden-section search for the maximum of a unimodal `f` on [lo, hi]: (its argument, its value)."""
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(steps):
        if fa >= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = f(b)
    return (a, fa) if fa >= fb else (b, fb)


def _temper(probas: np.ndarray, temperature: float | np.ndarray) -> np.ndarray:
    """Rows of `probas` raised to 1/temperature (one for all rows, or one per row), renormalised (a copy)."""
    t = np.asarray(temperature, dtype=np.float64)
    logp = np.log(np.maximum(probas, 1e-300)) / (t[:, None] if t.ndim else t)
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    out /= out.sum(axis=1, keepdims=True)
    return out


def object_temperatures(
    temperature: float,
    answer_counts: np.ndarray,
    correlation: float = 0.0,
    count_slope: float = 0.0,
    class_factors: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Each object's temperature from its answer count n: ``T (1 + (n - 1) rho) (1 + (n - 1) slope)``, times
    ``class_factors[label]`` when given (`labels`: each object's untempered argmax), never below _T_LOW
    (tempering only softens). The batch fit and the streaming WorkerModel both temper by it."""
    beyond_one = np.maximum(np.asarray(answer_counts, dtype=np.float64), 1.0) - 1.0
    tau = temperature * (1.0 + beyond_one * correlation) * (1.0 + beyond_one * count_slope)
    if class_factors is not None and labels is not None:
        tau = tau * np.asarray(class_factors, dtype=np.float64)[labels]
    return np.maximum(tau, _T_LOW)


def _matching_temperature(point: np.ndarray, target: np.ndarray) -> float:
    """The temperature in [1, 20] whose tempered `point` posteriors are closest to `target` (least
    cross-entropy of the tempered rows against the target rows): one number that carries the target's
    softening, so that a model that stores a temperature (the streaming WorkerModel) reproduces it."""
    log_point = np.log(np.maximum(point, 1e-300))

    def score(log_t: float) -> float:  # minus the cross-entropy
        z = log_point / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        log_q = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float((target * log_q).sum())

    best, best_score = _golden_max(score, np.log(_T_LOW), np.log(_T_HIGH), 30)
    return float(np.exp(best)) if best_score > score(np.log(_T_LOW)) else _T_LOW


@dataclass
class AutoDawidSkene(BaseClassificationAggregator):
    r"""The default method: hierarchical Dawid-Skene, tuned per job by held-out answers, with tempered
    (calibrated) posteriors. Needs no gold.

    Model: :class:`DawidSkene` with two hierarchical priors on every worker's confusion rows (see there):
    shrinkage of strength s toward the population's confusion matrix (the mean worker), and of strength u
    toward the worker's own MACE-form matrix (knows the answer, or answers from a personal distribution
    whatever the truth; Hovy et al. 2013). s = u = 0 is plain Dawid-Skene, large u is MACE, large s is "every
    worker is the average worker"; in between, workers with few answers borrow strength from the crowd and
    from a simpler model of themselves, which is what sparse workers with many classes need.

    Choosing (s, u) per job: k-fold cross-validation over answers. The answers are split into `n_folds`
    folds spread within objects (each fold holds out about 1/n_folds of every object's answers); for each
    fold the model is fitted on the other answers and scored by the log-probability it gives each held-out
    answer from the rest, :math:`\log \sum_c T^{(-f)}_{ic}\,\pi^{(-f)}_w[c, y_{iw}]` (a proper score of the
    model as a predictor of what workers say, the only truth a gold-free job has). A greedy search over the
    log-spaced grid `population_grid` x `spam_grid` starts at (`start`) and moves to the best neighbour until
    none is better. Jobs above `max_selection_answers` answers are tuned on a random subset of objects (all
    their answers), then fitted in full with the chosen (s, u): prior strengths are pseudo-counts, a property
    of the crowd rather than of the job's size.

    Calibration: Dawid-Skene's posteriors are over-confident (answers to one object are not independent
    given its class: hard objects fool several workers alike). The final posteriors are tempered,
    :math:`T_{ic} \propto T_{ic}^{1/\tau}`, with the temperature :math:`\tau \in [1, 20]` that maximises
    the same held-out answer log-likelihood (a held-out answer is predicted through the tempered posterior of
    its object), so it is chosen without gold; tempering never changes the predicted class.

    Correlated answers: the held-out temperature is chosen to predict *answers*, and a held-out answer
    shares its object's correlated errors with the other answers, so it rewards confidence in a shared
    mistake as much as in a shared right answer: it cannot see what correlation does to the truth. That part
    is measured separately, from the answers alone: the intra-object correlation :math:`\rho` of the answers
    beyond what the fitted model of independent answers predicts (:func:`answer_correlation`: how much more
    often two answers to one object agree than the model says). With correlation :math:`\rho`, an object's
    :math:`n` answers carry the evidence of :math:`n / (1 + (n - 1)\rho)` independent ones (the design
    effect of cluster sampling), so each object's log-posterior is further divided by
    :math:`1 + (n_i - 1)\rho`: objects with one answer keep the held-out temperature, objects with many
    answers lose most where answers agree more than the model explains. Never changes the predicted class.
    :math:`\rho` is measured on the same share of objects as the selection (at most about
    `max_selection_answers` answers).

    Answer counts: where answers were asked adaptively (until they agree), many answers mean a hard object,
    on which workers are less reliable than their confusion matrices say, so Dawid-Skene is surest exactly
    where it should doubt most. The held-out answers also choose how the temperature grows with an object's
    answer count n, :math:`\tau_i \propto 1 + (n_i - 1)\,\text{slope}` (`count_shape`, the slope from a
    grid with its own best T0, by the same held-out log-likelihood; `chosen_["count_slope"]`), and the scalar
    temperature, which was measured on posteriors from the training folds' answers, is carried over to the
    full counts along it. A crowd whose counts say nothing of difficulty gets a slope near 0. Each object's
    temperature, :math:`T (1 + (n - 1)\rho)(1 + (n - 1)\,\text{slope})`, is never below 1
    (:func:`object_temperatures`).

    Predicted classes: a crowd often finds one class harder than the rest (listeners mistake one music genre
    for a neighbouring one; raters dispute the middle ratings of a scale), and one temperature for the job
    leaves the objects predicted as that class over-confident. The held-out answers to objects whose
    training-fold posterior picks class c choose that class's own temperature the same way; where it is hotter
    than the job's and the held-out log-likelihood gain passes a likelihood-ratio test, those objects'
    temperature is multiplied by the ratio (`class_factors_`, >= 1; the streaming WorkerModel carries them).
    Skipped when known-answer objects calibrate (below).

    Gold-free tempering removes only the part of the over-confidence that shows in the answers. When crowds
    err together (subjective items: on the real `face` and `adult` sets even unanimous answers are wrong about
    one time in ten), no answer-only statistic can tell, and known-answer objects are the remedy: with at
    least `min_known_for_calibration` of them, the posteriors the model gives them *without* their known
    label fit a :class:`TopLabelCalibrator` (Platt scaling of the top label's log-odds, shrunk toward the
    identity), which then maps every other object's confidence (labels unchanged). Those posteriors come from
    a second fit that does not clamp the known objects (a clamped fit would make them look more often right).

    Optional inputs to `fit`: `known` (known-answer objects, clamped in every fit including the
    cross-validation ones, so they anchor the confusion matrices and, when there are enough, calibrate; they
    come out with their known label and confidence 1) and `prior` (workers' confusion counts from earlier
    jobs of the team, added as pseudo-counts on top of the hierarchical prior).

    A. P. Dawid and A. M. Skene, JRSS C 28(1), 1979, https://doi.org/10.2307/2346806;
    D. Hovy et al., Learning whom to trust with MACE, NAACL 2013, https://aclanthology.org/N13-1132;
    M. Venanzi et al., Community-based Bayesian aggregation models for crowdsourcing, WWW 2014,
    https://doi.org/10.1145/2566486.2567989 (shrinking workers toward shared confusion matrices).
    """

    n_folds: int = 5
    population_grid: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
    spam_grid: tuple[float, ...] = (0.0, 2.0, 8.0, 32.0, 128.0)
    start: tuple[int, int] = (2, 1)
    """Grid indices (population, spam) where the greedy search starts."""
    confusion_prior: float = 0.01
    """Pseudo-count on every cell of every confusion matrix. Small, but never zero: where workers always
    agreed, a zero-count cell makes the posterior of their first disagreement a ratio of floored zeros (0.9
    for one side, seen on a live job's cached model), where it should be a toss-up."""
    search: Literal["greedy", "grid"] = "greedy"
    calibrate: bool = True
    correlation: bool = True
    """Also temper each object by the answers' measured intra-object correlation (see the class docstring)."""
    count_shape: bool = True
    """Let the held-out answers also choose how the temperature grows with an object's answer count (see the
    class docstring)."""
    class_temperature: bool = True
    """Let the held-out answers also temper the objects of a predicted class that the crowd finds harder than
    the job's average (see the class docstring)."""
    max_selection_answers: int = 50_000
    n_iter: int = 100
    tol: float = 1e-5
    selection_n_iter: int = 25
    """Maximum EM iterations of each cross-validation fit."""
    selection_tol: float = 1e-4
    """Convergence tolerance of the cross-validation fits (warm-started, so they need few iterations)."""
    dtype: DType = "auto"
    seed: int = 0
    bootstrap: int = 20
    """Fits on objects resampled with replacement: every object's posterior averaged over them (from each
    fit's confusion matrices and class prior) carries the uncertainty of the estimated confusion matrices,
    which one plug-in fit ignores (workers with few answers). The temperature that brings the plug-in
    posteriors closest to those averages multiplies the held-out one (`chosen_["bootstrap_temperature"]`),
    so a stored model's single temperature reproduces it. 0 = off."""
    max_bootstrap_work: int = 2_000_000
    """Skip the bootstrap when answers x `bootstrap` exceeds this (its cost; a job that large has many answers
    per worker, whose confusion matrices are then well estimated)."""
    min_known_for_calibration: int = 20
    """Known-answer objects needed before they also calibrate the confidences (see the class docstring)."""
    calibration_ridge: float = 1.0
    """Pull of the known-answer calibration toward the identity map (pseudo-observations' weight)."""

    model_: DawidSkene | None = field(init=False, default=None, repr=False)
    """The final fitted Dawid-Skene (its confusion matrices, class prior, population matrix)."""
    chosen_: dict[str, float] = field(init=False, default_factory=dict)
    """Chosen population_prior, spam_prior, temperature (held-out x bootstrap), bootstrap_temperature,
    correlation (intra-object) and count_slope (answer count), see above."""
    class_factors_: np.ndarray | None = field(init=False, default=None, repr=False)
    """Per class, the factor on the temperature of objects predicted as that class (>= 1; see above)."""
    scores_: dict[tuple[float, float], float] = field(init=False, default_factory=dict, repr=False)
    """Held-out log-likelihood per answer of each (s, u) tried."""

    def __post_init__(self) -> None:
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {self.n_folds}")
        if not self.population_grid or not self.spam_grid:
            raise ValueError("population_grid and spam_grid must not be empty")
        if any(not (np.isfinite(v) and v >= 0) for v in (*self.population_grid, *self.spam_grid)):
            raise ValueError("grid values must be finite numbers >= 0")
        if not (0 <= self.start[0] < len(self.population_grid) and 0 <= self.start[1] < len(self.spam_grid)):
            raise ValueError(f"start {self.start} is outside the grid")
        if self.max_selection_answers < 100:
            raise ValueError(f"max_selection_answers must be >= 100, got {self.max_selection_answers}")
        if self.search not in ("greedy", "grid"):
            raise ValueError(f"search must be 'greedy' or 'grid', got {self.search!r}")
        DawidSkene(
            n_iter=self.n_iter, tol=self.tol, dtype=self.dtype, confusion_prior=self.confusion_prior
        )  # validates
        if self.selection_n_iter < 1:
            raise ValueError(f"selection_n_iter must be >= 1, got {self.selection_n_iter}")
        if self.bootstrap < 0 or self.max_bootstrap_work < 0:
            raise ValueError("bootstrap and max_bootstrap_work must be >= 0")
        if self.min_known_for_calibration < 2:
            raise ValueError(f"min_known_for_calibration must be >= 2, got {self.min_known_for_calibration}")
        TopLabelCalibrator(ridge=self.calibration_ridge)  # validates it

    def _model(self, s: float, u: float, n_iter: int, tol: float) -> DawidSkene:
        return DawidSkene(
            n_iter=n_iter,
            tol=tol,
            population_prior=s,
            spam_prior=u,
            confusion_prior=self.confusion_prior,
            dtype=self.dtype,
        )

    def _correlation(self, matrix: AnswerMatrix, probas: np.ndarray, confusions: np.ndarray) -> float:
        """The answers' intra-object correlation beyond the fitted model (on a random subset of objects
        holding about `max_selection_answers` answers, when there are more)."""
        objects, workers, classes = matrix.objects, matrix.workers, matrix.classes
        if matrix.n_answers > self.max_selection_answers:
            share = self.max_selection_answers / matrix.n_answers
            keep = np.random.default_rng(self.seed + 1).random(matrix.n_objects) < share
            mask = keep[objects]
            objects, workers, classes = objects[mask], workers[mask], classes[mask]
        rho, _ = answer_correlation(objects, workers, classes, probas, confusions)
        return rho

    def _bagged(
        self,
        answers: Answers,
        matrix: AnswerMatrix,
        model: DawidSkene,
        known: KnownLabels | None,
        extra: np.ndarray | None,
        start: np.ndarray,
        dtype: type[np.floating],
    ) -> np.ndarray:
        """Every object's posterior averaged over `bootstrap` fits on objects resampled with replacement (each
        warm-started from the full fit's posteriors `start`; known objects stay clamped where drawn)."""
        n = answers.n_objects
        order = np.argsort(answers.objects, kind="stable")
        counts = np.bincount(answers.objects, minlength=n)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        known_class = np.full(n, -1, dtype=np.int64)
        if known is not None:
            known_class[known.objects] = known.classes
        rng = np.random.default_rng(self.seed + 2)
        total = np.zeros((n, answers.n_classes), dtype=np.float64)
        for _ in range(self.bootstrap):
            pick = rng.integers(0, n, size=n)
            lengths = counts[pick]
            # The answers of each drawn object, in draw order (a drawn object twice: its answers twice).
            offsets = np.repeat(starts[pick] - (np.cumsum(lengths) - lengths), lengths)
            rows = order[offsets + np.arange(int(lengths.sum()))]
            sample = Answers(
                np.repeat(np.arange(n), lengths),
                answers.workers[rows],
                answers.classes[rows],
                answers.object_ids,  # positions only: the resampled objects are not the originals
                answers.worker_ids,
                answers.categories,
            )
            drawn_known = np.flatnonzero(known_class[pick] >= 0)
            clamp = KnownLabels(drawn_known, known_class[pick][drawn_known]) if len(drawn_known) else None
            fitted, _ = model.run(AnswerMatrix.build(sample, dtype=dtype), clamp, extra, start[pick])
            logits = matrix.logits(fitted.log_confusions, fitted.log_prior)
            row_softmax_(logits)
            total += logits
        return total / self.bootstrap

    def fit(
        self, answers: Answers, known: KnownLabels | None = None, prior: ConfusionPrior | None = None
    ) -> Self:
        k = answers.n_classes
        self.scores_, self.chosen_, self.class_factors_ = {}, {}, None
        if answers.n_answers == 0:
            _empty(self, k)
            self.model_ = None
            return self
        extra = None if prior is None else prior.align(answers)
        sel_answers, sel_known = answers, known
        if answers.n_answers > self.max_selection_answers:
            rng = np.random.default_rng(self.seed)
            share = self.max_selection_answers / answers.n_answers
            keep = rng.random(answers.n_objects) < share
            keep[answers.objects[0]] = True  # never empty
            sel_answers, new_index = _restrict(answers, keep)
            if known is not None:
                inside = keep[known.objects]
                sel_known = KnownLabels(new_index[known.objects[inside]], known.classes[inside])

        folds = answer_folds(sel_answers, self.n_folds, self.seed)
        dtype = resolve_dtype(self.dtype, answers.n_answers)
        train = [AnswerMatrix.build(sel_answers, folds != f, dtype) for f in range(self.n_folds)]
        held = [AnswerMatrix.build(sel_answers, folds == f, dtype) for f in range(self.n_folds)]
        clamp_known = sel_known if sel_known is not None and sel_known.objects.shape[0] else None

        best: dict[str, object] = {}

        def evaluate(i: int, j: int) -> float:
            key = (self.population_grid[i], self.spam_grid[j])
            if key in self.scores_:
                return self.scores_[key]
            model = self._model(key[0], key[1], self.selection_n_iter, self.selection_tol)
            posts, cols, counts, fold_probas = [], [], [], []
            warm: list[np.ndarray] | None = best.get("fold_probas")  # type: ignore[assignment]
            for f in range(self.n_folds):
                # Warm start from the best configuration so far on the same training answers (no leak).
                result, _ = model.run(train[f], clamp_known, extra, None if warm is None else warm[f])
                log_post, column = _heldout_terms(held[f], result.probas, np.exp(result.log_confusions))
                posts.append(log_post)
                cols.append(column)
                counts.append(np.bincount(train[f].objects, minlength=train[f].n_objects)[held[f].objects])
                fold_probas.append(result.probas)
            log_post, column = np.concatenate(posts), np.concatenate(cols)
            score = _predictive_ll(log_post, column)
            self.scores_[key] = score
            if not best or score > best["score"]:  # type: ignore[operator]
                best.update(
                    score=score,
                    key=key,
                    log_post=log_post,
                    column=column,
                    n_train=np.concatenate(counts),
                    fold_probas=fold_probas,
                )
            return score

        if self.search == "grid":
            for i in range(len(self.population_grid)):
                for j in range(len(self.spam_grid)):
                    evaluate(i, j)
        else:
            at = self.start
            current = evaluate(*at)
            while True:
                moves = [(at[0] + di, at[1] + dj) for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1))]
                n_s, n_u = len(self.population_grid), len(self.spam_grid)
                moves = [(i, j) for i, j in moves if 0 <= i < n_s and 0 <= j < n_u]
                scored = [(evaluate(i, j), (i, j)) for i, j in moves]
                top_score, top = max(scored)
                if top_score <= current:
                    break
                at, current = top, top_score

        s, u = best["key"]  # type: ignore[misc]
        # Enough known-answer objects calibrate from the truth (below); the bootstrap and the per-class
        # factors are for jobs without.
        gold_calibrated = known is not None and known.objects.shape[0] >= self.min_known_for_calibration
        temperature, count_slope, class_factors = 1.0, 0.0, np.ones(k)
        if self.calibrate:
            temperature = _best_temperature(
                best["log_post"],
                best["column"],
                self.max_selection_answers // 3,
                self.seed,  # type: ignore[arg-type]
            )
            if self.count_shape:
                count_slope, measured_at = _count_shape(
                    best["log_post"],  # type: ignore[arg-type]
                    best["column"],  # type: ignore[arg-type]
                    best["n_train"],  # type: ignore[arg-type]
                    self.max_selection_answers // 8,  # two numbers need fewer answers than one curve
                    self.seed,
                )
                # The scalar temperature was measured on posteriors from the training folds' answers; the
                # final posteriors use all of them: carry it over along the held-out answers' own slope.
                temperature /= float(np.exp(measured_at))
            if self.class_temperature and not gold_calibrated:
                class_factors = _class_factors(
                    best["log_post"],  # type: ignore[arg-type]
                    best["column"],  # type: ignore[arg-type]
                    k,
                    self.max_selection_answers // 3,
                    self.seed,
                )

        model = self._model(s, u, self.n_iter, self.tol)
        matrix = AnswerMatrix.build(answers, dtype=dtype)
        result, population = model.run(matrix, known, extra)
        probas = result.probas
        spread = 1.0
        affordable = answers.n_answers * self.bootstrap <= self.max_bootstrap_work
        if self.calibrate and self.bootstrap and affordable and not gold_calibrated:
            bagged = self._bagged(answers, matrix, model, known, extra, result.probas, dtype)
            spread = _matching_temperature(result.probas, bagged)
            temperature *= spread
        rho = 0.0
        if self.calibrate and self.correlation:
            rho = self._correlation(matrix, result.probas, np.exp(result.log_confusions))
        tau: float | np.ndarray = temperature
        by_class = bool((class_factors > 1.0).any())
        if rho > 0.0 or count_slope > 0.0 or by_class:
            labels = np.argmax(result.probas, axis=1)
            tau = object_temperatures(
                temperature,
                answers.answer_counts(),
                rho,
                count_slope,
                class_factors if by_class else None,
                labels,
            )
        if temperature != 1.0 or rho > 0.0 or count_slope > 0.0 or by_class:
            probas = _temper(probas, tau)
        calibration: dict[str, float] = {}
        if gold_calibrated:
            # The known objects' posteriors from a fit that never saw their labels: a fit that clamped them
            # has confusion matrices bent toward them, and they would look more often right than others.
            unclamped, _ = model.run(matrix, None, extra, result.probas)
            tau_known = tau if np.ndim(tau) == 0 else tau[known.objects]  # type: ignore[index]
            blind = _temper(unclamped.probas[known.objects], tau_known)
            calibrator = TopLabelCalibrator(ridge=self.calibration_ridge)
            calibrator.fit(blind, blind.argmax(axis=1) == known.classes)
            probas = calibrator.transform(probas)
            calibration = {
                "calibration_slope": calibrator.slope_,
                "calibration_intercept": calibrator.intercept_,
                "calibration_known": float(known.objects.shape[0]),
            }
        if known is not None and known.objects.shape[0] and probas is not result.probas:
            Clamp(known.objects, known.classes).apply_(probas)
        model.probas_ = result.probas
        model.labels_ = np.argmax(result.probas, axis=1).astype(np.int64)
        model.confusions_ = np.exp(result.log_confusions)
        model.priors_ = np.exp(result.log_prior)
        model.population_ = population
        model.loss_history_, model.n_iter_ = result.loss_history, result.n_iter
        self.model_ = model
        self.probas_ = probas
        self.labels_ = model.labels_
        self.class_factors_ = class_factors
        self.chosen_ = {
            "population_prior": float(s),
            "spam_prior": float(u),
            "temperature": temperature,
            "bootstrap_temperature": spread,
            "correlation": rho,
            "count_slope": count_slope,
            **calibration,
        }
        return self

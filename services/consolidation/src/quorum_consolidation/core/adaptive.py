"""Adaptive redundancy: ask for another answer on an object only while its posterior is below a target.

A job sets a target confidence and a minimum and maximum number of answers per object (`AdaptivePolicy`).
After each answer, dispatch asks `decide` about the objects it touched: an object is *done* once it has
`max_answers` answers, or at least `min_answers` answers and a posterior of its most likely class of at least
`target_confidence`; otherwise it *needs more*. The posterior comes from a job-level `WorkerModel` (one K x K
confusion matrix per worker, a class prior, and the population's matrix for workers the model has not seen),
refitted now and then from all the job's answers (`fit_worker_model`, warm-started from the previous model).

Everything here is pure numpy, vectorised over objects and answers (no loop over answers); the service owns
the state (which model is current, when to refit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np

from quorum_consolidation.core._sparse import AnswerMatrix
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.auto import AutoDawidSkene, object_temperatures
from quorum_consolidation.core.calibration import TopLabelCalibrator
from quorum_consolidation.core.dawid_skene import DawidSkene, resolve_dtype
from quorum_consolidation.core.majority_vote import MajorityVote
from quorum_consolidation.core.side_info import ConfusionPrior, KnownLabels

#: Bounds of `AdaptivePolicy.max_answers` (and so of `min_answers`).
MAX_ANSWERS_LIMIT = 10

#: Dawid-Skene's settings for the worker model: mild hierarchical priors, so that workers with a handful of
#: answers (the common case early in an adaptive job) shrink toward the population's matrix and toward their
#: own MACE form instead of getting a confident matrix from two answers; a small belief that workers beat
#: chance; a smoothed class prior. The same values as `AutoDawidSkene`'s search start.
ADAPTIVE_DS_PARAMS: Mapping[str, Any] = {
    "population_prior": 4.0,
    "spam_prior": 2.0,
    "diagonal_prior": 1.0,
    "class_prior": 1.0,
    "n_iter": 50,
    "tol": 1e-5,
}

#: Dawid-Skene is fitted only when at least this many objects have two or more answers (confusions are
#: identified by answers that overlap on an object); below that the model is one-coin (`fit_worker_model`).
MIN_OVERLAP_OBJECTS = 10

#: Floor of every probability before its log is taken.
_FLOOR = 1e-10

ModelSource = Literal["dawid_skene", "auto", "one_coin"]


# ------------------------------------------------------------------------------------------------------------
# Policy
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdaptivePolicy:
    """When an object has enough answers.

    `target_confidence` in (0.5, 1): stop once the most likely class has at least this posterior;
    `min_answers` <= `max_answers` in [1, 10]: never stop before `min_answers`, always stop at `max_answers`.
    A fixed-redundancy job of N answers is ``AdaptivePolicy(min_answers=N, max_answers=N)``.
    """

    target_confidence: float = 0.9
    min_answers: int = 1
    max_answers: int = 5

    def __post_init__(self) -> None:
        t = self.target_confidence
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0.5 < t < 1:
            raise ValueError(f"target_confidence must satisfy 0.5 < target_confidence < 1, got {t!r}")
        for name in ("min_answers", "max_answers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if not 1 <= self.min_answers <= MAX_ANSWERS_LIMIT:
            raise ValueError(f"min_answers must be in [1, {MAX_ANSWERS_LIMIT}], got {self.min_answers}")
        if not 1 <= self.max_answers <= MAX_ANSWERS_LIMIT:
            raise ValueError(f"max_answers must be in [1, {MAX_ANSWERS_LIMIT}], got {self.max_answers}")
        if self.min_answers > self.max_answers:
            raise ValueError(
                f"min_answers must be <= max_answers, got min_answers={self.min_answers} > "
                f"max_answers={self.max_answers}"
            )


# ------------------------------------------------------------------------------------------------------------
# Worker model
# ------------------------------------------------------------------------------------------------------------
def _log_rows(matrix: np.ndarray) -> np.ndarray:
    m = np.maximum(np.asarray(matrix, dtype=np.float64), _FLOOR)
    return np.log(m / m.sum(axis=-1, keepdims=True))


def one_coin_matrix(accuracy: float, n_classes: int) -> np.ndarray:
    """``[K, K]``: right with probability `accuracy`, otherwise uniformly one of the other classes."""
    k = n_classes
    if k < 2:
        raise ValueError(f"need at least 2 classes, got {k}")
    if not 0 < accuracy < 1:
        raise ValueError(f"accuracy must be in (0, 1), got {accuracy}")
    m = np.full((k, k), (1.0 - accuracy) / (k - 1))
    np.fill_diagonal(m, accuracy)
    return m


@dataclass(frozen=True, eq=False)
class WorkerModel:
    """What the posterior of an object needs: per-worker confusion matrices, a class prior, the population's
    matrix for workers the model has not seen, and a temperature (posteriors are ``p^(1/T)``, renormalised;
    T > 1 tempers Dawid-Skene's over-confidence; `AutoDawidSkene` chooses T without gold).

    `log_confusions[w, c, l] = log P(worker_ids[w] answers l | true class c)`. Build with
    `from_dawid_skene`, `from_auto`, `one_coin` or `fit_worker_model`.
    """

    categories: tuple[str, ...]
    worker_ids: np.ndarray  # [W] ids of the workers the model knows (row w of log_confusions)
    log_confusions: np.ndarray  # [W, K, K], row = true class
    log_prior: np.ndarray  # [K]
    log_population: np.ndarray  # [K, K], for unseen workers
    temperature: float = 1.0
    source: ModelSource = "dawid_skene"
    n_answers: int = 0  # answers the model was estimated from
    # Intra-object correlation of the answers (`AutoDawidSkene.chosen_["correlation"]`): an object with n
    # answers is further tempered by 1 + (n - 1) * correlation, as the batch fit does.
    correlation: float = 0.0
    # How the held-out answers had the temperature grow with an object's answer count n
    # (`AutoDawidSkene.chosen_["count_slope"]`): a further factor 1 + (n - 1) * count_slope.
    count_slope: float = 0.0
    # Per class, a further factor on the temperature of objects whose untempered posterior picks it
    # (`AutoDawidSkene.class_factors_`, each >= 1); empty = none.
    class_factors: tuple[float, ...] = ()
    # Known-answer calibration of the top label (`AutoDawidSkene.chosen_["calibration_slope"]` and
    # `["calibration_intercept"]`, fitted when the job had enough known-answer objects): applied after the
    # tempering, as the batch fit does. (1, 0) = none.
    calibration_slope: float = 1.0
    calibration_intercept: float = 0.0

    def __post_init__(self) -> None:
        k = len(self.categories)
        w = self.worker_ids.shape[0]
        if self.log_confusions.shape != (w, k, k):
            raise ValueError(f"log_confusions must be [{w}, {k}, {k}], got {self.log_confusions.shape}")
        if self.log_prior.shape != (k,) or self.log_population.shape != (k, k):
            raise ValueError(
                f"log_prior must be [{k}] and log_population [{k}, {k}], got {self.log_prior.shape} and "
                f"{self.log_population.shape}"
            )
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {self.temperature}")
        if not (np.isfinite(self.correlation) and 0.0 <= self.correlation < 1.0):
            raise ValueError(f"correlation must be in [0, 1), got {self.correlation}")
        if not (np.isfinite(self.count_slope) and self.count_slope >= 0.0):
            raise ValueError(f"count_slope must be a finite number >= 0, got {self.count_slope}")
        if self.class_factors and (
            len(self.class_factors) != k or not all(np.isfinite(f) and f >= 1.0 for f in self.class_factors)
        ):
            raise ValueError(f"class_factors must be {k} finite numbers >= 1, got {list(self.class_factors)}")
        if not (np.isfinite(self.calibration_slope) and np.isfinite(self.calibration_intercept)):
            raise ValueError("calibration_slope and calibration_intercept must be finite")

    @property
    def calibrated(self) -> bool:
        """Whether known-answer objects calibrated the model's confidences."""
        return (self.calibration_slope, self.calibration_intercept) != (1.0, 0.0)

    def calibrate(self, probas: np.ndarray) -> np.ndarray:
        """`probas` through the model's known-answer calibration (a no-op copy-free pass without one)."""
        if not self.calibrated:
            return probas
        calibrator = TopLabelCalibrator()
        calibrator.slope_, calibrator.intercept_ = self.calibration_slope, self.calibration_intercept
        return calibrator.transform(probas)

    @property
    def n_workers(self) -> int:
        return int(self.worker_ids.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.categories)

    @cached_property
    def _row_of(self) -> dict[Any, int]:
        return {w: i for i, w in enumerate(self.worker_ids.tolist())}

    @cached_property
    def _table(self) -> np.ndarray:
        """``[W + 1, K, K]``: the workers' log matrices, then the population's (row W, for unseen workers)."""
        return np.concatenate([self.log_confusions, self.log_population[None]], axis=0)

    def rows_for(self, worker_ids: np.ndarray) -> np.ndarray:
        """Row of each worker id in `log_confusions`; `n_workers` (the population row) for unseen ones."""
        unseen = self.n_workers
        return np.fromiter(
            (self._row_of.get(w, unseen) for w in np.asarray(worker_ids).tolist()),
            dtype=np.int64,
            count=len(worker_ids),
        )

    def knows(self, worker_ids: np.ndarray) -> np.ndarray:
        """bool per worker id: whether the model has the worker's own matrix."""
        return self.rows_for(worker_ids) < self.n_workers

    def accuracies(self) -> np.ndarray:
        """Per known worker, P(right) under the class prior, float64 [W]."""
        diag = np.exp(np.diagonal(self.log_confusions, axis1=1, axis2=2))  # [W, K]
        return diag @ np.exp(self.log_prior)

    # -- constructors ------------------------------------------------------------------------------------
    @classmethod
    def from_dawid_skene(cls, ds: DawidSkene, answers: Answers, temperature: float = 1.0) -> WorkerModel:
        """From a `DawidSkene` fitted on `answers` (unknown workers: its population matrix if it has one,
        else the mean of its workers' matrices)."""
        if ds.confusions_ is None or ds.priors_ is None:
            raise ValueError("the DawidSkene model is not fitted (or was fitted on no answers)")
        conf = ds.confusions_
        if conf.shape[0] != answers.n_workers or conf.shape[1] != answers.n_classes:
            raise ValueError(
                f"the DawidSkene model ({conf.shape[0]} workers, {conf.shape[1]} classes) was not fitted on "
                f"these answers ({answers.n_workers} workers, {answers.n_classes} classes)"
            )
        population = ds.population_ if ds.population_ is not None else conf.mean(axis=0)
        return cls(
            categories=tuple(answers.categories),
            worker_ids=np.asarray(answers.worker_ids),
            log_confusions=_log_rows(conf),
            log_prior=_log_rows(ds.priors_),
            log_population=_log_rows(population),
            temperature=float(temperature),
            source="dawid_skene",
            n_answers=answers.n_answers,
        )

    @classmethod
    def from_auto(cls, auto: AutoDawidSkene, answers: Answers) -> WorkerModel:
        """From an `AutoDawidSkene` fitted on `answers`: its final Dawid-Skene, its temperature, correlation
        and (when known-answer objects calibrated it) its top-label calibration."""
        if auto.model_ is None:
            raise ValueError("the AutoDawidSkene model is not fitted (or was fitted on no answers)")
        model = cls.from_dawid_skene(auto.model_, answers, auto.chosen_.get("temperature", 1.0))
        return cls(
            model.categories,
            model.worker_ids,
            model.log_confusions,
            model.log_prior,
            model.log_population,
            model.temperature,
            "auto",
            model.n_answers,
            float(auto.chosen_.get("correlation", 0.0)),
            float(auto.chosen_.get("count_slope", 0.0)),
            () if auto.class_factors_ is None else tuple(float(f) for f in auto.class_factors_),
            float(auto.chosen_.get("calibration_slope", 1.0)),
            float(auto.chosen_.get("calibration_intercept", 0.0)),
        )

    @classmethod
    def one_coin(
        cls, categories: tuple[str, ...] | list[str], accuracy: float, n_answers: int = 0
    ) -> WorkerModel:
        """Every worker (all unseen) right with probability `accuracy`, else uniformly wrong; flat prior."""
        cats = tuple(categories)
        k = len(cats)
        return cls(
            categories=cats,
            worker_ids=np.zeros(0, dtype=object),
            log_confusions=np.zeros((0, k, k)),
            log_prior=np.full(k, -np.log(k)),
            log_population=_log_rows(one_coin_matrix(accuracy, k)),
            source="one_coin",
            n_answers=n_answers,
        )


def fit_worker_model(
    answers: Answers,
    *,
    method: Literal["ds", "auto"] = "ds",
    previous: WorkerModel | None = None,
    params: Mapping[str, Any] | None = None,
    min_overlap_objects: int = MIN_OVERLAP_OBJECTS,
    prior_accuracy: float = 0.7,
    known: KnownLabels | None = None,
    prior: ConfusionPrior | None = None,
) -> WorkerModel:
    """The worker model from all of a job's answers so far.

    When at least `min_overlap_objects` objects have two or more answers: with `method` "ds", Dawid-Skene
    (`params`, default `ADAPTIVE_DS_PARAMS`) warm-started from `previous`'s posteriors on these answers (fewer
    EM iterations; a live job refits the same model again and again); with "auto", `AutoDawidSkene` (the
    default method: priors and temperature chosen for this job by held-out answers; its own search, so no warm
    start). Below that, a one-coin model whose accuracy is majority vote's pairwise-agreement estimate (shrunk
    toward `prior_accuracy`, which is also what it is with no pairs): its labels are majority vote's.

    `known`: the job's known-answer objects (indices into `answers`). Dawid-Skene and `AutoDawidSkene` clamp
    them in every E-step, so they anchor the workers' confusion matrices; `AutoDawidSkene` with at least
    `min_known_for_calibration` (20) of them also calibrates the confidences (kept in the model, see
    `WorkerModel.calibrate`). The model itself does not clamp: label objects with `clamp_known`.

    `prior`: workers' confusion pseudo-counts carried over from earlier jobs of the team (`core.team_priors`).
    Dawid-Skene and `AutoDawidSkene` add them to the job's expected counts in every M-step; the one-coin model
    of a small job gives each worker the prior knows its own matrix, its pseudo-counts plus the one-coin
    matrix with the weight of `ADAPTIVE_DS_PARAMS`' population prior per row (`with_prior`), so a worker
    known to be poor or adversarial does not sway the labels of a new job's first objects.
    """
    if method not in ("ds", "auto"):
        raise ValueError(f"method must be 'ds' or 'auto', got {method!r}")
    k = answers.n_classes
    overlap = int((answers.answer_counts() >= 2).sum()) if answers.n_answers else 0
    if overlap < min_overlap_objects:
        accuracy = prior_accuracy
        if answers.n_answers:
            mv = MajorityVote(prior_accuracy=prior_accuracy).fit(answers)
            assert mv.accuracy_ is not None
            accuracy = mv.accuracy_
        model = WorkerModel.one_coin(
            answers.categories, min(max(accuracy, 1.0 / k + 1e-3), 0.99), answers.n_answers
        )
        return model if prior is None else with_prior(model, answers, prior)
    if known is not None and known.objects.shape[0] == 0:
        known = None
    if method == "auto":
        return WorkerModel.from_auto(AutoDawidSkene().fit(answers, known=known, prior=prior), answers)
    ds = DawidSkene(**dict(ADAPTIVE_DS_PARAMS if params is None else params))
    init = None
    if previous is not None and tuple(previous.categories) == tuple(answers.categories):
        init = posteriors(previous, answers, temper=False)
    matrix = AnswerMatrix.build(answers, dtype=resolve_dtype(ds.dtype, answers.n_answers))
    extra = None if prior is None else prior.align(answers)
    result, population = ds.run(matrix, known, extra, init)
    ds.probas_ = result.probas
    ds.labels_ = np.argmax(result.probas, axis=1).astype(np.int64)
    ds.confusions_ = np.exp(result.log_confusions)
    ds.priors_ = np.exp(result.log_prior)
    ds.population_ = population
    ds.loss_history_, ds.n_iter_ = result.loss_history, result.n_iter
    return WorkerModel.from_dawid_skene(ds, answers)


def with_prior(
    model: WorkerModel,
    answers: Answers,
    prior: ConfusionPrior,
    population_strength: float = float(ADAPTIVE_DS_PARAMS["population_prior"]),
) -> WorkerModel:
    """`model` (a one-coin model of a small job) with its own matrix for every worker of `answers` that
    `prior` knows: the worker's pseudo-counts plus `population_strength` pseudo-answers per row of the
    model's population matrix, normalised. Workers the prior does not know keep the population matrix."""
    extra = prior.align(answers)  # [W, K, K]
    has = extra.sum(axis=(1, 2)) > 0
    if not has.any():
        return model
    population = np.exp(model.log_population)
    counts = extra[has] + population_strength * population[None]
    return WorkerModel(
        categories=model.categories,
        worker_ids=np.asarray(answers.worker_ids)[has],
        log_confusions=_log_rows(counts),
        log_prior=model.log_prior,
        log_population=model.log_population,
        temperature=model.temperature,
        source=model.source,
        n_answers=model.n_answers,
    )


# ------------------------------------------------------------------------------------------------------------
# Posteriors and decisions
# ------------------------------------------------------------------------------------------------------------
def posteriors(model: WorkerModel, answers: Answers, *, temper: bool = True) -> np.ndarray:
    """Per object of `answers` (its `object_ids` order), the posterior ``[n_objects, K]`` under `model`.

    E-step in log space: ``log p(z=c) + sum_w log pi_w[c, y_w]`` (a worker the model does not know answers
    with the population matrix), divided by the model's temperature (and the object's design effect
    ``1 + (n - 1) correlation``, count slope and predicted class's factor) when `temper`, then a softmax. One
    gather and K bincounts; no loop over answers.
    """
    if tuple(answers.categories) != tuple(model.categories):
        raise ValueError(
            f"answers' categories {list(answers.categories)!r} differ from the model's "
            f"{list(model.categories)!r}"
        )
    n, k = answers.n_objects, answers.n_classes
    rows = model.rows_for(answers.worker_ids)[answers.workers]  # [m]
    columns = model._table[rows, :, answers.classes]  # [m, K]: log pi_w[c, y] for every class c
    logits = np.empty((n, k))
    for c in range(k):
        logits[:, c] = np.bincount(answers.objects, weights=columns[:, c], minlength=n)
    logits += model.log_prior
    by_class = any(f > 1.0 for f in model.class_factors)
    if temper and (model.correlation > 0.0 or model.count_slope > 0.0 or by_class):
        per_object = np.bincount(answers.objects, minlength=n)
        factors = np.asarray(model.class_factors) if by_class else None
        labels = logits.argmax(axis=1)
        tau = object_temperatures(
            model.temperature, per_object, model.correlation, model.count_slope, factors, labels
        )
        logits /= tau[:, None]
    elif temper and model.temperature != 1.0:
        logits /= model.temperature
    logits -= logits.max(axis=1, keepdims=True)
    probas = np.exp(logits)
    probas /= probas.sum(axis=1, keepdims=True)
    return model.calibrate(probas) if temper else probas


def clamp_known(probas: np.ndarray, known: KnownLabels | None) -> np.ndarray:
    """`probas` ``[n, K]`` with the known-answer objects' rows set to their known class with probability 1
    (a copy when there is anything to clamp)."""
    if known is None or known.objects.shape[0] == 0:
        return probas
    out = np.array(probas, dtype=np.float64, copy=True)
    out[known.objects] = 0.0
    out[known.objects, known.classes] = 1.0
    return out


@dataclass(frozen=True, eq=False)
class Decision:
    """Per object (the `object_ids` order of the answers decided on): what dispatch does next.

    `done`: stop asking (``confident | exhausted``); `needs_more` = ``~done``; `confident`: at least
    `min_answers` answers and `confidence` >= target; `exhausted`: `max_answers` answers or more;
    `label` (class index into `categories`) and `confidence` (its posterior): the current best guess;
    `remaining`: the most answers the object may still get (0 when done).
    """

    object_ids: np.ndarray  # [n]
    categories: tuple[str, ...]
    n_answers: np.ndarray  # int64 [n]
    label: np.ndarray  # int64 [n]
    confidence: np.ndarray  # float64 [n]
    probas: np.ndarray  # float64 [n, K]
    confident: np.ndarray  # bool [n]
    exhausted: np.ndarray  # bool [n]
    done: np.ndarray  # bool [n]
    needs_more: np.ndarray  # bool [n]
    remaining: np.ndarray  # int64 [n]

    @property
    def n_objects(self) -> int:
        return int(self.object_ids.shape[0])

    def labels(self) -> list[str]:
        """The current best label per object, as category strings."""
        cats = np.asarray(self.categories, dtype=object)
        return cats[self.label].tolist()


def decide_posteriors(
    policy: AdaptivePolicy,
    probas: np.ndarray,
    n_answers: np.ndarray,
    object_ids: np.ndarray | None = None,
    categories: tuple[str, ...] | None = None,
) -> Decision:
    """`decide` from posteriors ``[n, K]`` and answer counts ``[n]`` already at hand (for example, objects
    with no answer yet: the class prior and 0). The label is the first most likely class."""
    probas = np.asarray(probas, dtype=np.float64)
    counts = np.asarray(n_answers, dtype=np.int64)
    if probas.ndim != 2 or counts.shape != (probas.shape[0],):
        raise ValueError(f"probas must be [n, K] and n_answers [n], got {probas.shape} and {counts.shape}")
    n, k = probas.shape
    label = np.argmax(probas, axis=1).astype(np.int64) if k else np.zeros(n, dtype=np.int64)
    confidence = probas[np.arange(n), label] if k else np.zeros(n)
    exhausted = counts >= policy.max_answers
    confident = (counts >= policy.min_answers) & (confidence >= policy.target_confidence)
    done = exhausted | confident
    remaining = np.where(done, 0, policy.max_answers - counts).astype(np.int64)
    ids = np.arange(n) if object_ids is None else np.asarray(object_ids)
    cats = tuple(categories) if categories is not None else tuple(f"c{i}" for i in range(k))
    return Decision(
        ids, cats, counts, label, confidence, probas, confident, exhausted, done, ~done, remaining
    )


def decide(
    policy: AdaptivePolicy,
    model: WorkerModel,
    answers: Answers,
    known: KnownLabels | None = None,
    n_answers: np.ndarray | None = None,
) -> Decision:
    """For every object of `answers`: done, or needs more (see `Decision`), under `model`'s posteriors.

    `n_answers` ``[n_objects]``: the answers that count towards the policy's minimum and maximum, when not all
    of `answers` do (the automated-labeling model's answer informs the posterior but is not a human answer);
    default `answers.answer_counts()`.

    Objects a job has not dispatched yet have no answers and are not in `answers`: they need more (use
    `decide_posteriors` with the model's prior and a count of 0 if a `Decision` is wanted for them).

    Known-answer objects (`known`) carry their known class with confidence 1, but are done only once they
    have `max_answers` answers: their answers are what measures the workers, so knowing the truth is no
    reason to stop asking.
    """
    probas = clamp_known(posteriors(model, answers), known)
    counts = answers.answer_counts() if n_answers is None else n_answers
    decision = decide_posteriors(policy, probas, counts, answers.object_ids, answers.categories)
    if known is None or known.objects.shape[0] == 0:
        return decision
    confident = decision.confident.copy()
    confident[known.objects] = False
    done = confident | decision.exhausted
    remaining = np.where(done, 0, policy.max_answers - decision.n_answers).astype(np.int64)
    return Decision(
        decision.object_ids,
        decision.categories,
        decision.n_answers,
        decision.label,
        decision.confidence,
        decision.probas,
        confident,
        decision.exhausted,
        done,
        ~done,
        remaining,
    )

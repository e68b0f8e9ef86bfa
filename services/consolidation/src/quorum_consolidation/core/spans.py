"""Named entities (text spans): cluster by overlap, boundaries by mode, label by weighted vote."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
from scipy.optimize import linear_sum_assignment

from quorum_consolidation.core._geometry import pairwise_span_jaccard, weighted_median
from quorum_consolidation.core.answers import ConsolidationInputError, validate_categories

#: A span as Ground Truth writes it ({"label", "startOffset", "endOffset"}) or (start, end, label).
Span = Mapping[str, Any] | Sequence[Any]


@dataclass(frozen=True, eq=False)
class SpanAnswers:
    """Every worker's spans on every text as parallel arrays; offsets are characters, `ends` exclusive.

    Span s is on text `texts[s]`, by worker `workers[s]`, with label index `labels[s]` into `categories`.
    Submissions (including those with no span) are (`sub_texts[k]`, `sub_workers[k]`); indices refer to the
    sorted `text_ids` / `worker_ids`, and results follow `text_ids` order.
    """

    texts: np.ndarray
    workers: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    labels: np.ndarray
    sub_texts: np.ndarray
    sub_workers: np.ndarray
    text_ids: np.ndarray
    worker_ids: np.ndarray
    categories: tuple[str, ...]

    @property
    def n_texts(self) -> int:
        return int(self.text_ids.shape[0])

    @property
    def n_workers(self) -> int:
        return int(self.worker_ids.shape[0])

    @property
    def n_spans(self) -> int:
        return int(self.texts.shape[0])

    @classmethod
    def from_submissions(
        cls, submissions: Iterable[tuple[Any, Any, Sequence[Span]]], categories: Sequence[str]
    ) -> SpanAnswers:
        """Index (text_id, worker_id, spans) submissions; raises ConsolidationInputError (reasons:
        malformed_submission, malformed_span, invalid_span, unknown_label, duplicate_submission)."""
        cats = validate_categories(categories)
        index = {c: i for i, c in enumerate(cats)}
        sub_t: list[Any] = []
        sub_w: list[Any] = []
        rows: list[tuple[int, int, int, int]] = []
        for k, sub in enumerate(submissions):
            if not isinstance(sub, tuple | list) or len(sub) != 3:
                raise ConsolidationInputError(
                    f"submission {k} must be a (text_id, worker_id, spans) triple",
                    reason="malformed_submission",
                )
            text_id, worker_id, spans = sub
            sub_t.append(text_id)
            sub_w.append(worker_id)
            for j, span in enumerate(spans):
                where = f"{j} of ({text_id!r}, {worker_id!r})"
                if isinstance(span, Mapping):
                    if not {"label", "startOffset", "endOffset"} <= set(span):
                        raise ConsolidationInputError(
                            f"span {where} needs label, startOffset and endOffset", reason="malformed_span"
                        )
                    start, end, label = span["startOffset"], span["endOffset"], span["label"]
                elif len(span) == 3:
                    start, end, label = span
                else:
                    raise ConsolidationInputError(
                        f"span {where} must be (startOffset, endOffset, label)", reason="malformed_span"
                    )
                if not (isinstance(start, int | np.integer) and isinstance(end, int | np.integer)):
                    raise ConsolidationInputError(
                        f"span {where} offsets must be integers", reason="invalid_span"
                    )
                if not 0 <= start < end:
                    raise ConsolidationInputError(
                        f"span {where} needs 0 <= startOffset < endOffset, got [{start}, {end})",
                        reason="invalid_span",
                    )
                if label not in index:
                    raise ConsolidationInputError(
                        f"span {where} label {label!r} not in categories {list(cats)!r}",
                        reason="unknown_label",
                    )
                rows.append((k, int(start), int(end), index[label]))
        data = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
        t_col, w_col = np.asarray(sub_t), np.asarray(sub_w)
        if t_col.shape[0] == 0:
            e = np.zeros(0, dtype=np.int64)
            return cls(e, e, e, e, e, e, e, t_col, w_col, cats)
        text_ids, sub_texts = np.unique(t_col, return_inverse=True)
        worker_ids, sub_workers = np.unique(w_col, return_inverse=True)
        sub_texts, sub_workers = sub_texts.astype(np.int64).ravel(), sub_workers.astype(np.int64).ravel()
        pair = sub_texts * len(worker_ids) + sub_workers
        uniq, counts = np.unique(pair, return_counts=True)
        if (counts > 1).any():
            p = int(uniq[counts > 1][0])
            raise ConsolidationInputError(
                f"a worker submitted a text more than once (text, worker): "
                f"({text_ids[p // len(worker_ids)].item()!r}, {worker_ids[p % len(worker_ids)].item()!r})",
                reason="duplicate_submission",
            )
        owner = data[:, 0]
        return cls(
            sub_texts[owner],
            sub_workers[owner],
            data[:, 1],
            data[:, 2],
            data[:, 3],
            sub_texts,
            sub_workers,
            text_ids,
            worker_ids,
            cats,
        )


def _mode_or_median(values: np.ndarray, weights: np.ndarray) -> int:
    """The weighted mode of integer `values` if one value has strictly the most weight, else the (lower)
    weighted median."""
    uniq, inv = np.unique(values, return_inverse=True)
    mass = np.bincount(inv.ravel(), weights=weights)
    top = np.sort(mass)[::-1]
    if top.shape[0] == 1 or top[0] > top[1] * (1 + 1e-9):
        return int(uniq[np.argmax(mass)])
    return int(np.floor(weighted_median(values.astype(float), weights)[0]))


@dataclass
class SpanConsolidator:
    r"""Consolidate named-entity spans from several workers per text (Ground Truth's text-span output).

    Per text, with the workers who submitted it (submissions with no span count):

    1. **Clustering.** Workers are visited in decreasing reliability; each worker's spans are matched to the
       current clusters by an optimal assignment maximising the total Jaccard index of character ranges
       (labels are ignored: a disagreement on the label is resolved by the vote, not by a second entity)
       and join a cluster when the Jaccard with its current span is at least `jaccard_threshold`; unmatched
       spans open clusters. A worker contributes at most one span per cluster.
    2. **Quorum.** A cluster is kept when its workers are more than `quorum` of the text's workers.
    3. **Boundaries.** Start and end are each the reliability-weighted mode of the members' offsets, or the
       weighted median when no single value has the most weight (Ground Truth's "mode, or the median if the
       mode isn't clear").
    4. **Label.** Reliability-weighted vote of the members; ties broken at random (seeded by `seed`).
    5. **Overlaps.** Kept entities are placed by decreasing confidence; one that overlaps an entity already
       placed is trimmed to its longest free part when that keeps at least `min_trim_jaccard` of it, else it
       is dropped. Nothing is dropped silently: every trim and drop is listed in `resolutions_`.
    6. **Confidence** = share of the workers who marked it x label vote share x mean Jaccard of the members
       with the output span; 0 when one worker submitted the text (as Ground Truth writes).
    7. **Reliability** (`n_rounds` rounds): per worker, precision (share of its spans in kept clusters),
       recall (share of kept clusters on its texts it marked) and label accuracy (share of its matched spans
       whose label is the consolidated one), each smoothed by `prior_strength` pseudo-observations at
       `prior_rate`; reliability = label accuracy x sqrt(precision x recall).

    Ground Truth documents this scheme for NER ("clusters text selections by Jaccard similarity... boundaries
    based on the mode, or the median if the mode isn't clear... label resolves to the most assigned entity
    label"); the reliability weighting follows the one-coin EM idea of A. P. Dawid and A. M. Skene, JRSS C
    28(1), 1979, and span aggregation in crowd NER as in A. Nguyen et al., Aggregating and Predicting Sequence
    Labels from Crowd Annotations, ACL 2017.
    """

    jaccard_threshold: float = 0.5
    """Minimum Jaccard index of character ranges for a span to join a cluster."""
    quorum: float = 0.5
    """Keep a cluster when its workers are more than this share of the text's workers (0.5 = majority)."""
    n_rounds: int = 3
    """Rounds of clustering + reliability re-estimation (1 = every worker weighs the same)."""
    prior_strength: float = 2.0
    """Pseudo-observations pulling a worker's precision, recall and label accuracy to `prior_rate`."""
    prior_rate: float = 0.8
    """Prior precision, recall and label accuracy of a worker."""
    min_trim_jaccard: float = 0.5
    """An overlapping entity is trimmed only if the trimmed span keeps this Jaccard with the original."""
    single_worker_confidence: float = 0.0
    """Confidence of entities on a text only one worker submitted (Ground Truth writes 0)."""
    seed: int = 0
    """Seed of the label tie-breaking generator."""

    spans_: list[np.ndarray] = field(init=False, default_factory=list, repr=False)
    """Per text, output entities ``[m, 3]`` int64 (start, end exclusive, label index), sorted by start."""
    confidences_: list[np.ndarray] = field(init=False, default_factory=list, repr=False)
    """Per text, confidence per entity ``[m]``."""
    resolutions_: list[dict[str, Any]] = field(init=False, default_factory=list, repr=False)
    """Every trimmed or dropped kept entity: {"text", "start", "end", "label", "action", "by"}."""
    worker_precision_: np.ndarray | None = field(init=False, default=None, repr=False)
    worker_recall_: np.ndarray | None = field(init=False, default=None, repr=False)
    worker_label_accuracy_: np.ndarray | None = field(init=False, default=None, repr=False)
    reliability_: np.ndarray | None = field(init=False, default=None, repr=False)
    """Per worker (`worker_ids` order): label accuracy x sqrt(precision x recall)."""
    annotations_: list[dict[str, list[dict[str, Any]]]] = field(init=False, default_factory=list, repr=False)
    """Per text, GT's label: {"entities": [{label, startOffset, endOffset}], "labels": [{label}]}."""
    entities_: list[list[dict[str, float]]] = field(init=False, default_factory=list, repr=False)
    """Per text, Ground Truth's metadata ``entities``: [{"confidence": x}], parallel to the entities."""

    def __post_init__(self) -> None:
        if not 0 < self.jaccard_threshold <= 1:
            raise ValueError(f"jaccard_threshold must be in (0, 1], got {self.jaccard_threshold}")
        if not 0 <= self.quorum < 1:
            raise ValueError(f"quorum must be in [0, 1), got {self.quorum}")
        if self.n_rounds < 1:
            raise ValueError(f"n_rounds must be >= 1, got {self.n_rounds}")
        if not self.prior_strength > 0:
            raise ValueError(f"prior_strength must be > 0, got {self.prior_strength}")
        if not 0 < self.prior_rate <= 1:
            raise ValueError(f"prior_rate must be in (0, 1], got {self.prior_rate}")
        if not 0 <= self.min_trim_jaccard <= 1:
            raise ValueError(f"min_trim_jaccard must be in [0, 1], got {self.min_trim_jaccard}")

    def _cluster(self, ranges: np.ndarray, by_worker: list[np.ndarray], weight: np.ndarray) -> np.ndarray:
        labels = np.full(ranges.shape[0], -1, dtype=np.int64)
        sums = np.zeros((0, 2))
        mass = np.zeros(0)
        for pos in by_worker:
            match = np.full(pos.shape[0], -1, dtype=np.int64)
            if mass.shape[0]:
                jac = pairwise_span_jaccard(ranges[pos], sums / mass[:, None])
                r, c = linear_sum_assignment(jac, maximize=True)
                ok = jac[r, c] >= self.jaccard_threshold
                match[r[ok]] = c[ok]
            new = match < 0
            match[new] = mass.shape[0] + np.arange(int(new.sum()))
            sums = np.concatenate([sums, np.zeros((int(new.sum()), 2))])
            mass = np.concatenate([mass, np.zeros(int(new.sum()))])
            np.add.at(sums, match, weight[pos, None] * ranges[pos])
            np.add.at(mass, match, weight[pos])
            labels[pos] = match
        return labels

    def fit(self, answers: SpanAnswers) -> Self:
        """Consolidate the spans of every text in `answers`; returns self."""
        n_w, k = answers.n_workers, len(answers.categories)
        reliability = np.ones(n_w)
        rng = np.random.default_rng(self.seed)
        order = np.lexsort((answers.workers, answers.texts))
        start_of = np.searchsorted(answers.texts[order], np.arange(answers.n_texts + 1))
        sub_order = np.lexsort((answers.sub_workers, answers.sub_texts))
        sub_start = np.searchsorted(answers.sub_texts[sub_order], np.arange(answers.n_texts + 1))
        for _ in range(self.n_rounds):
            rng = np.random.default_rng(self.seed)
            matched = np.zeros(answers.n_spans, dtype=bool)
            label_ok = np.zeros(answers.n_spans)
            kept_seen = np.zeros(n_w)
            spans_out: list[np.ndarray] = []
            conf_out: list[np.ndarray] = []
            resolutions: list[dict[str, Any]] = []
            for t in range(answers.n_texts):
                idx = order[start_of[t] : start_of[t + 1]]
                subs = answers.sub_workers[sub_order[sub_start[t] : sub_start[t + 1]]]
                n_sub = subs.shape[0]
                if idx.shape[0] == 0:
                    spans_out.append(np.zeros((0, 3), dtype=np.int64))
                    conf_out.append(np.zeros(0))
                    continue
                ranges = np.stack([answers.starts[idx], answers.ends[idx]], axis=1).astype(float)
                wk, lab, w = (
                    answers.workers[idx],
                    answers.labels[idx],
                    np.maximum(reliability[answers.workers[idx]], 1e-6),
                )
                visit = sorted(np.unique(wk).tolist(), key=lambda x: (-reliability[x], x))
                clusters = self._cluster(ranges, [np.flatnonzero(wk == x) for x in visit], w)
                n_c = int(clusters.max()) + 1
                count = np.bincount(clusters, minlength=n_c)
                kept = np.flatnonzero(count > self.quorum * n_sub + 1e-9)
                kept_seen[subs] += kept.shape[0]
                cand: list[tuple[float, int, int, int, np.ndarray]] = []
                for c in kept.tolist():
                    m = clusters == c
                    s = _mode_or_median(answers.starts[idx][m], w[m])
                    e = _mode_or_median(answers.ends[idx][m], w[m])
                    if e <= s:  # degenerate mode pair: fall back to the medians
                        s = int(np.floor(weighted_median(ranges[m, 0], w[m])[0]))
                        e = max(int(np.ceil(weighted_median(ranges[m, 1], w[m])[0])), s + 1)
                    votes = np.bincount(lab[m], weights=w[m], minlength=k)
                    best = np.flatnonzero(votes >= votes.max() * (1 - 1e-9))
                    label = int(best[rng.integers(best.shape[0])]) if best.shape[0] > 1 else int(best[0])
                    jac = pairwise_span_jaccard(ranges[m], np.array([[s, e]], dtype=float))[:, 0]
                    if n_sub <= 1:
                        conf = self.single_worker_confidence
                    else:
                        conf = (m.sum() / n_sub) * (votes[label] / votes.sum()) * float(jac.mean())
                    matched[idx[m]] = True
                    label_ok[idx[m]] = lab[m] == label
                    cand.append((conf, s, e, label, idx[m]))
                placed: list[tuple[int, int, int, float]] = []
                for conf, s, e, label, _ in sorted(cand, key=lambda x: (-x[0], x[1], x[2])):
                    s2, e2 = self._free_part(s, e, placed)
                    record = {
                        "text": answers.text_ids[t].item(),
                        "start": s,
                        "end": e,
                        "label": answers.categories[label],
                    }
                    if s2 is None or (e2 - s2) / (e - s) < self.min_trim_jaccard:
                        resolutions.append(record | {"action": "dropped", "by": self._blocker(s, e, placed)})
                        continue
                    if (s2, e2) != (s, e):
                        resolutions.append(
                            record | {"action": f"trimmed to [{s2}, {e2})", "by": self._blocker(s, e, placed)}
                        )
                    placed.append((s2, e2, label, conf))
                placed.sort()
                spans_out.append(np.asarray([p[:3] for p in placed], dtype=np.int64).reshape(-1, 3))
                conf_out.append(np.asarray([p[3] for p in placed], dtype=float))
            stats = self._worker_stats(answers, matched, label_ok, kept_seen)
            reliability = stats[3]
        self.spans_, self.confidences_, self.resolutions_ = spans_out, conf_out, resolutions
        self.worker_precision_, self.worker_recall_, self.worker_label_accuracy_, self.reliability_ = stats
        label_list = [{"label": c} for c in answers.categories]
        self.annotations_ = [
            {
                "entities": [
                    {"label": answers.categories[lb], "startOffset": int(s), "endOffset": int(e)}
                    for s, e, lb in sp.tolist()
                ],
                "labels": list(label_list),
            }
            for sp in spans_out
        ]
        self.entities_ = [[{"confidence": round(float(c), 2)} for c in cs.tolist()] for cs in conf_out]
        return self

    @staticmethod
    def _free_part(s: int, e: int, placed: list[tuple[int, int, int, float]]) -> tuple[int | None, int]:
        """The longest part of [s, e) that overlaps no placed span (None if there is none)."""
        free = [(s, e)]
        for ps, pe, _, _ in placed:
            nxt = []
            for a, b in free:
                if pe <= a or ps >= b:
                    nxt.append((a, b))
                    continue
                if a < ps:
                    nxt.append((a, ps))
                if pe < b:
                    nxt.append((pe, b))
            free = nxt
        if not free:
            return None, 0
        a, b = max(free, key=lambda x: (x[1] - x[0], -x[0]))
        return a, b

    @staticmethod
    def _blocker(s: int, e: int, placed: list[tuple[int, int, int, float]]) -> list[list[int]]:
        return [[ps, pe] for ps, pe, _, _ in placed if ps < e and pe > s]

    def _worker_stats(
        self, answers: SpanAnswers, matched: np.ndarray, label_ok: np.ndarray, kept_seen: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        n_w, s, r = answers.n_workers, self.prior_strength, self.prior_rate
        n_spans = np.bincount(answers.workers, minlength=n_w).astype(float)
        n_match = np.bincount(answers.workers, weights=matched.astype(float), minlength=n_w)
        n_ok = np.bincount(answers.workers, weights=label_ok, minlength=n_w)
        precision = (n_match + s * r) / (n_spans + s)
        recall = np.minimum((n_match + s * r) / (kept_seen + s), 1.0)
        accuracy = (n_ok + s * r) / (n_match + s)
        return precision, recall, accuracy, accuracy * np.sqrt(precision * recall)

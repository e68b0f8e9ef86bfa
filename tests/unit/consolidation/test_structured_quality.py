"""Worker quality of structured task types (core.structured_quality, adapters.job_quality) on built crowds."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from quorum_common.task_types import color_map
from quorum_consolidation.adapters import job_quality as jq
from quorum_consolidation.adapters.store import JobAnswerRows
from quorum_consolidation.adapters.task_labels import ReadyObject, WorkerAnswer, encode_mask
from quorum_consolidation.core.answers import ConsolidationInputError
from quorum_consolidation.core.boxes import BoxAnswers, BoxConsolidator
from quorum_consolidation.core.multilabel import MultiLabelAnswers, MultiLabelDawidSkene
from quorum_consolidation.core.segmentation import SegmentationConsolidator
from quorum_consolidation.core.spans import SpanAnswers, SpanConsolidator
from quorum_consolidation.core.structured_quality import (
    ACCURACY_MEASURES,
    AGREEMENT_MEASURES,
    box_worker_stats,
    custom_worker_stats,
    multilabel_worker_stats,
    segmentation_worker_stats,
    span_worker_stats,
    verification_worker_stats,
)
from quorum_consolidation.core.verification import VerificationConsolidator
from quorum_consolidation.core.worker_quality import CLASSIFICATION_ACCURACY, MV_ACCURACY, WorkerStats

GOOD = ("good1", "good2", "good3")


def by_id(stats: list[WorkerStats]) -> dict[str, WorkerStats]:
    return {s.worker_id: s for s in stats}


def check_ranges(stats: dict[str, WorkerStats]) -> None:
    for s in stats.values():
        assert 0.0 <= s.accuracy <= 1.0 and 0.0 <= s.agreement <= 1.0


# -- bounding boxes ----------------------------------------------------------------------------------------


def box_payloads(seed: int = 0, n_images: int = 25) -> list[tuple[int, str, dict]]:
    """Three workers draw each true box within ~2 px; 'far' draws every box shifted by 60 % of its size."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_images):
        truth = [
            (250.0 * j + rng.uniform(0, 50), rng.uniform(0, 200), *rng.uniform(60, 120, 2))
            for j in range(int(rng.integers(1, 4)))
        ]
        for w in (*GOOD, "far"):
            boxes = []
            for left, top, width, height in truth:
                dx, dy = (0.6 * width, 0.6 * height) if w == "far" else tuple(rng.normal(0, 2, 2))
                boxes.append(
                    {"label": "car", "left": left + dx, "top": top + dy, "width": width, "height": height}
                )
            out.append((i, w, {"boxes": boxes, "image_size": {"width": 1000, "height": 400}}))
    return out


def test_a_worker_who_draws_boxes_far_off_scores_below_accurate_ones() -> None:
    subs = [
        (i, w, [(0, b["left"], b["top"], b["width"], b["height"]) for b in p["boxes"]])
        for i, w, p in box_payloads()
    ]
    answers = BoxAnswers.from_submissions(subs)
    model = BoxConsolidator().fit(answers)
    stats = by_id(box_worker_stats(model, answers))
    check_ranges(stats)
    assert set(stats) == {*GOOD, "far"} and all(s.answers == 25 for s in stats.values())
    assert all(s.confusion.size == 0 for s in stats.values())
    for g in GOOD:
        assert stats[g].accuracy > 0.8 > 0.5 > stats["far"].accuracy
        assert stats[g].agreement == pytest.approx(1.0)
        assert stats[g].accuracy == pytest.approx(
            float(model.reliability_[list(answers.worker_ids).index(g)])
        )
    assert stats["far"].agreement == 0.0  # none of its boxes is in a kept cluster


def test_box_agreement_is_f1_against_the_consensus_and_counts_empty_images_as_agreeing() -> None:
    box = (0, 10.0, 10.0, 50.0, 50.0)
    other = (0, 200.0, 10.0, 50.0, 50.0)
    answers = BoxAnswers.from_submissions(
        [
            (0, "a", [box]),
            (0, "b", [box]),
            (0, "c", [box, other]),  # one spurious box: precision 1/2, F1 2/3
            (1, "a", []),
            (1, "b", []),
            (1, "c", []),
        ]
    )
    stats = by_id(box_worker_stats(BoxConsolidator().fit(answers), answers))
    assert stats["a"].agreement == pytest.approx(1.0)
    assert stats["c"].agreement == pytest.approx((2 / 3 + 1.0) / 2)
    assert stats["c"].accuracy < stats["a"].accuracy


# -- named entities ----------------------------------------------------------------------------------------

SPAN_CATS = ("PER", "ORG")


def span_subs(n_texts: int = 20) -> list[tuple[int, str, list[tuple[int, int, str]]]]:
    """Good workers mark the two true entities; 'sloppy' gets the boundaries of one wrong and the label of
    the other wrong, and adds a spurious span."""
    out = []
    for t in range(n_texts):
        truth = [(0, 5, "PER"), (10, 18, "ORG")]
        for w in GOOD:
            out.append((t, w, list(truth)))
        out.append((t, "sloppy", [(0, 3, "PER"), (10, 18, "PER"), (30, 35, "ORG")]))
    return out


def test_spans_a_sloppy_worker_scores_below_careful_ones() -> None:
    answers = SpanAnswers.from_submissions(span_subs(), SPAN_CATS)
    model = SpanConsolidator().fit(answers)
    stats = by_id(span_worker_stats(model, answers))
    check_ranges(stats)
    assert all(s.answers == 20 for s in stats.values())
    for g in GOOD:
        assert stats[g].agreement == pytest.approx(1.0)
        assert stats[g].accuracy > stats["sloppy"].accuracy
    # Exact-span F1: none of its three spans is exact -> 0.
    assert stats["sloppy"].agreement == 0.0
    assert stats["sloppy"].accuracy < 0.5


# -- semantic segmentation ---------------------------------------------------------------------------------


def seg_images(seed: int = 0, n_images: int = 6) -> list[list[tuple[str, np.ndarray]]]:
    """A square of class 1 on background 0; good workers flip 2 % of pixels, 'noisy' 40 % (to class 2)."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n_images):
        truth = np.zeros((20, 20), dtype=np.int64)
        truth[5:15, 5:15] = 1
        image = []
        for w, p in ((GOOD[0], 0.02), (GOOD[1], 0.02), (GOOD[2], 0.02), ("noisy", 0.4)):
            mask = truth.copy()
            mask[rng.random(truth.shape) < p] = 2
            image.append((w, mask))
        images.append(image)
    return images


def test_segmentation_a_noisy_worker_scores_below_careful_ones() -> None:
    images = seg_images()
    model = SegmentationConsolidator(n_classes=3).fit(images)
    stats = by_id(segmentation_worker_stats(model, images))
    check_ranges(stats)
    assert all(s.answers == 6 for s in stats.values())
    for g in GOOD:
        assert stats[g].accuracy > 0.9 > 0.7 > stats["noisy"].accuracy
        assert stats[g].agreement > 0.8 > stats["noisy"].agreement


# -- multi-label -------------------------------------------------------------------------------------------

ML_CATS = ("sky", "sea", "sand", "tree")


def ml_triples(seed: int = 0, n_objects: int = 80) -> list[tuple[int, str, list[str]]]:
    rng = np.random.default_rng(seed)
    out = []
    for o in range(n_objects):
        truth = rng.random(4) < 0.4
        for w in GOOD:
            flip = rng.random(4) < 0.05
            out.append((o, w, [c for c, x in zip(ML_CATS, truth ^ flip, strict=True) if x]))
        out.append((o, "random", [c for c in ML_CATS if rng.random() < 0.5]))
    return out


def test_multilabel_a_random_worker_scores_below_careful_ones() -> None:
    answers = MultiLabelAnswers.from_triples(ml_triples(), ML_CATS)
    model = MultiLabelDawidSkene().fit(answers)
    stats = by_id(multilabel_worker_stats(model, answers))
    check_ranges(stats)
    assert all(s.answers == 80 for s in stats.values())
    for g in GOOD:
        assert stats[g].accuracy > 0.85 > 0.65 > stats["random"].accuracy
        assert stats[g].agreement > 0.6 > 0.2 > stats["random"].agreement


# -- verification and custom -------------------------------------------------------------------------------


def test_verification_has_a_confusion_matrix_and_ranks_an_adversary_last() -> None:
    rng = np.random.default_rng(1)
    verdicts = []
    for o in range(60):
        t = int(rng.integers(2))
        for w in GOOD:
            verdicts.append((o, w, ("good", "bad")[t if rng.random() < 0.9 else 1 - t], None))
        verdicts.append((o, "adversary", ("good", "bad")[1 - t], "no"))
    stats = by_id(verification_worker_stats(VerificationConsolidator().fit(verdicts)))
    assert all(s.answers == 60 and s.confusion.shape == (2, 2) for s in stats.values())
    for g in GOOD:
        assert stats[g].accuracy > 0.8 > 0.2 > stats["adversary"].accuracy
    assert stats["adversary"].agreement < 0.1


def test_custom_agreement_is_the_share_of_majority_answers() -> None:
    stats = by_id(
        custom_worker_stats(
            [
                [("a", {"x": 1, "y": 2}), ("b", {"y": 2, "x": 1}), ("c", {"x": 3})],
                [("a", {"ok": True}), ("c", {"ok": True})],
            ]
        )
    )
    assert (stats["a"].answers, stats["a"].accuracy, stats["a"].agreement) == (2, 1.0, 1.0)
    assert (stats["c"].answers, stats["c"].agreement) == (2, 0.5)
    assert stats["b"].answers == 1 and stats["b"].confusion.size == 0


def test_unfitted_models_are_refused() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        box_worker_stats(BoxConsolidator(), BoxAnswers.from_submissions([]))
    with pytest.raises(RuntimeError, match="not fitted"):
        verification_worker_stats(VerificationConsolidator())


# -- the adapter: stored rows -> a report ------------------------------------------------------------------


def rows_of(
    task_type: str,
    cats: tuple[str, ...],
    answers: list[tuple[int, str, str, dict]],
    previous: dict | None = None,
) -> JobAnswerRows:
    rows = JobAnswerRows()
    for oid, worker, label, payload in sorted(answers, key=lambda a: a[0]):
        rows.object_ids.append(oid)
        rows.worker_ids.append(worker)
        rows.labels.append(label)
        rows.payloads.append(json.dumps(payload) if payload else "")
        rows.task_types.append(task_type)
        rows.categories.append(cats)
        if previous is not None:
            rows.previous[oid] = json.dumps(previous)
    return rows


def test_a_box_job_reports_box_reliability_and_what_it_means() -> None:
    rows = rows_of("bounding-box", ("car",), [(i, w, "", p) for i, w, p in box_payloads()])
    report = jq.job_quality(rows)
    assert report is not None
    assert (report.method, report.task_type, report.categories) == ("bounding-box", "bounding-box", ("car",))
    assert report.accuracy_measure == ACCURACY_MEASURES["boxes"] and "IoU" in report.accuracy_measure
    assert report.agreement_measure == AGREEMENT_MEASURES["boxes"]
    stats = by_id(report.workers)
    assert all(stats[g].accuracy > stats["far"].accuracy for g in GOOD)
    # The same numbers as the core on the same boxes.
    subs = [
        (i, w, [(0, b["left"], b["top"], b["width"], b["height"]) for b in p["boxes"]])
        for i, w, p in box_payloads()
    ]
    answers = BoxAnswers.from_submissions(subs)
    core = by_id(box_worker_stats(BoxConsolidator().fit(answers), answers))
    assert {w: s.accuracy for w, s in stats.items()} == pytest.approx(
        {w: s.accuracy for w, s in core.items()}
    )


def test_an_adjustment_job_is_scored_by_its_base_type() -> None:
    previous = {"task_type": "named-entity-recognition", "label": {}, "metadata": {}}
    answers = [
        (
            t,
            w,
            "",
            {"entities": [{"start": s, "end": e, "label": lab} for s, e, lab in spans], "adjusted": True},
        )
        for t, w, spans in span_subs(8)
    ]
    report = jq.job_quality(rows_of("adjustment", SPAN_CATS, answers, previous))
    assert report is not None and report.accuracy_measure == ACCURACY_MEASURES["spans"]
    stats = by_id(report.workers)
    assert all(stats[g].accuracy > stats["sloppy"].accuracy for g in GOOD)
    bad = {"task_type": "label-verification", "label": "0", "metadata": {}}
    with pytest.raises(ConsolidationInputError, match="cannot adjust"):
        jq.job_quality(rows_of("adjustment", SPAN_CATS, answers, bad))


def test_a_segmentation_job_decodes_the_masks_and_samples_a_large_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cats = ("square", "noise")
    colors = color_map(len(cats))
    answers = [
        (i, w, "", {"mask_png": base64.b64encode(encode_mask(m, colors)).decode()})
        for i, image in enumerate(seg_images())
        for w, m in image
    ]
    rows = rows_of("semantic-segmentation", cats, answers)
    report = jq.job_quality(rows)
    assert report is not None and report.accuracy_measure == ACCURACY_MEASURES["segmentation"]
    stats = by_id(report.workers)
    assert all(stats[g].accuracy > stats["noisy"].accuracy for g in GOOD)
    assert all(s.answers == 6 for s in report.workers)
    monkeypatch.setattr(jq, "MAX_SEGMENTATION_PIXELS", 3 * 4 * 400)  # three images' masks
    sampled = jq.job_quality(rows)
    assert sampled is not None and sampled.accuracy_measure.endswith("(fitted on 3 of 6 images)")
    assert all(s.answers == 3 for s in sampled.workers)


def test_multilabel_verification_and_custom_jobs() -> None:
    ml = jq.job_quality(
        rows_of(
            "text-classification-multilabel",
            ML_CATS,
            [(o, w, "", {"labels": ls}) for o, w, ls in ml_triples()],
        )
    )
    assert ml is not None and ml.accuracy_measure == ACCURACY_MEASURES["multilabel"]
    ml_stats = by_id(ml.workers)
    assert all(ml_stats[g].accuracy > ml_stats["random"].accuracy for g in GOOD)

    ver_rows = [
        (o, w, v, {"comment": ""}) for o in range(10) for w, v in (("a", "good"), ("b", "good"), ("c", "bad"))
    ]
    ver = jq.job_quality(rows_of("label-verification", ("good", "bad"), ver_rows))
    assert ver is not None and ver.categories == ("good", "bad")
    assert ver.accuracy_measure == ACCURACY_MEASURES["verification"]
    assert all(len(s.confusion) == 2 for s in ver.workers)
    assert by_id(ver.workers)["a"].agreement == 1.0 and by_id(ver.workers)["c"].agreement == 0.0

    custom = jq.job_quality(
        rows_of("custom", (), [(0, "a", "", {"v": 1}), (0, "b", "", {"v": 1}), (0, "c", "", {"v": 2})])
    )
    assert (
        custom is not None
        and custom.categories == ()
        and custom.accuracy_measure == ACCURACY_MEASURES["custom"]
    )
    assert {s.worker_id: s.agreement for s in custom.workers} == {"a": 1.0, "b": 1.0, "c": 0.0}


def test_classification_jobs_keep_their_worker_model_and_methods_are_checked() -> None:
    answers = [(o, w, ("a", "b")[(o + (w == "odd")) % 2], {}) for o in range(30) for w in ("x", "y", "odd")]
    rows = rows_of("text-classification", ("a", "b"), answers)
    report = jq.job_quality(rows)
    assert report is not None and (report.method, report.task_type) == ("ds", "text-classification")
    assert report.accuracy_measure == CLASSIFICATION_ACCURACY and len(report.workers[0].confusion) == 2
    mv = jq.job_quality(rows, "mv")
    assert mv is not None and mv.accuracy_measure == MV_ACCURACY
    with pytest.raises(ConsolidationInputError) as err:
        jq.job_quality(rows_of("bounding-box", ("car",), []), "nope")
    assert err.value.reason == "unknown_method"
    assert jq.job_quality(JobAnswerRows()) is None


def test_stored_answers_that_cannot_be_scored_raise_input_errors() -> None:
    with pytest.raises(ConsolidationInputError) as err:
        jq.job_quality(rows_of("bounding-box", ("car",), [(0, "a", "", {"boxes": [{"label": "bus"}]})]))
    assert err.value.reason == "unknown_label"
    # Answers of an object that is not (or no longer) classification are scored as the object's type says.
    with pytest.raises(ConsolidationInputError) as err:
        jq.structured_quality("video-tracking", ("car",), [ReadyObject(0, [WorkerAnswer("a", "", {})])])
    assert err.value.reason == "unknown_task_type"

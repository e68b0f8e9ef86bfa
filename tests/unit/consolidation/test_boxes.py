"""BoxConsolidator: synthetic crowds with known boxes, edge cases, bad input, real pedestrian data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from quorum_consolidation.core._geometry import pairwise_iou, weighted_median
from quorum_consolidation.core.answers import ConsolidationInputError
from quorum_consolidation.core.boxes import BoxAnswers, BoxConsolidator

PEDESTRIANS = (
    Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "crowd" / "bbox_pedestrians"
)


def synthetic(seed: int = 0, n_images: int = 30, n_workers: int = 5):
    """True boxes per image; each worker jitters their corners (sd 2 px), misses 10%, worker 0 adds a spurious
    box on every image. Returns (answers, truth corners per image id, truth classes per image id)."""
    rng = np.random.default_rng(seed)
    subs, truth, truth_cls = [], {}, {}
    for i in range(n_images):
        n_obj = int(rng.integers(0, 5))
        left = 200.0 * np.arange(n_obj) + rng.uniform(0, 40, n_obj)  # objects apart, as in a real scene
        top = rng.uniform(0, 300, n_obj)
        size = rng.uniform(60, 150, (n_obj, 2))
        cls = rng.integers(0, 2, n_obj)
        truth[i] = np.stack([left, top, left + size[:, 0], top + size[:, 1]], axis=1).reshape(-1, 4)
        truth_cls[i] = cls
        for w in range(n_workers):
            boxes = []
            for j in range(n_obj):
                if rng.random() < 0.1:
                    continue
                j1, j2 = rng.normal(0, 2.0, 2), rng.normal(0, 2.0, 2)  # each corner off by ~2 px
                boxes.append(
                    (
                        int(cls[j]),
                        left[j] + j1[0],
                        top[j] + j1[1],
                        size[j, 0] + j2[0] - j1[0],
                        size[j, 1] + j2[1] - j1[1],
                    )
                )
            if w == 0:
                boxes.append((0, 1000.0 + rng.uniform(0, 50), 400.0, 40.0, 40.0))
            rng.shuffle(boxes)
            subs.append((i, f"w{w}", boxes))
    return BoxAnswers.from_submissions(subs), truth, truth_cls


def test_recovers_truth_and_drops_spurious() -> None:
    answers, truth, truth_cls = synthetic()
    model = BoxConsolidator().fit(answers)
    for i, image_id in enumerate(answers.image_ids.tolist()):
        fused, t = model.corners_[i], truth[image_id]
        assert fused.shape == t.shape, image_id  # every true box found, the spurious one dropped
        if t.shape[0]:
            iou = pairwise_iou(fused, t)
            r, c = linear_sum_assignment(iou, maximize=True)
            assert (iou[r, c] > 0.9).all()
            assert (model.classes_[i][r] == truth_cls[image_id][c]).all()
        assert len(model.annotations_[i]) == len(model.objects_[i]) == t.shape[0]
    # the worker drawing spurious boxes has the lowest precision and reliability
    w0 = list(answers.worker_ids).index("w0")
    assert np.argmin(model.worker_precision_) == w0
    assert np.argmin(model.reliability_) == w0


def test_output_shape_is_ground_truths() -> None:
    answers = BoxAnswers.from_submissions(
        [
            ("img", "a", [{"class_id": 0, "left": 10, "top": 20, "width": 30, "height": 40}]),
            ("img", "b", [(0, 11.0, 21.0, 30.0, 40.0)]),
            ("img", "c", [(0, 10.4, 19.6, 31.0, 39.0)]),
        ]
    )
    model = BoxConsolidator().fit(answers)
    (ann,) = model.annotations_[0]
    assert ann == {"class_id": 0, "left": 10, "top": 20, "width": 31, "height": 40}
    assert all(isinstance(v, int) for v in ann.values())
    (obj,) = model.objects_[0]
    assert set(obj) == {"confidence"} and 0 < obj["confidence"] <= 1


def test_zero_box_submissions_count_in_the_quorum() -> None:
    box = [(0, 10, 10, 50, 50)]
    two_of_five = [("i", "a", box), ("i", "b", box), ("i", "c", []), ("i", "d", []), ("i", "e", [])]
    assert BoxConsolidator().fit(BoxAnswers.from_submissions(two_of_five)).annotations_ == [[]]
    three_of_five = [("i", w, box if w in "abc" else []) for w in "abcde"]
    assert len(BoxConsolidator().fit(BoxAnswers.from_submissions(three_of_five)).annotations_[0]) == 1
    # with a lower quorum two of five suffice
    assert len(BoxConsolidator(quorum=0.3).fit(BoxAnswers.from_submissions(two_of_five)).annotations_[0]) == 1


def test_classes_do_not_match_and_one_worker_gets_confidence_zero() -> None:
    subs = [("i", "a", [(0, 0, 0, 50, 50)]), ("i", "b", [(1, 0, 0, 50, 50)])]
    model = BoxConsolidator(quorum=0.4).fit(BoxAnswers.from_submissions(subs))
    assert sorted(a["class_id"] for a in model.annotations_[0]) == [0, 1]
    single = BoxConsolidator().fit(BoxAnswers.from_submissions([("i", "a", [(0, 0, 0, 50, 50)])]))
    assert single.objects_ == [[{"confidence": 0.0}]]


def test_assignment_is_not_greedy() -> None:
    # worker b's first box overlaps both of a's clusters; greedy first-come matching would steal the wrong one
    subs = [
        ("i", "a", [(0, 0, 0, 100, 100), (0, 60, 0, 100, 100)]),
        ("i", "b", [(0, 30, 0, 100, 100), (0, 0, 0, 100, 100)]),
        ("i", "c", [(0, 0, 0, 100, 100), (0, 60, 0, 100, 100)]),
    ]
    model = BoxConsolidator(iou_threshold=0.3).fit(BoxAnswers.from_submissions(subs))
    lefts = sorted(a["left"] for a in model.annotations_[0])
    assert lefts == [0, 60]


def test_empty_and_reproducible() -> None:
    empty = BoxConsolidator().fit(BoxAnswers.from_submissions([("i", "a", []), ("j", "a", [])]))
    assert empty.annotations_ == [[], []] and empty.objects_ == [[], []]
    answers, _, _ = synthetic(seed=3)
    a, b = BoxConsolidator().fit(answers), BoxConsolidator().fit(answers)
    assert a.annotations_ == b.annotations_ and a.objects_ == b.objects_


def test_weighted_median() -> None:
    v = np.array([[1.0], [2.0], [10.0]])
    assert weighted_median(v, np.ones(3))[0] == 2.0
    assert weighted_median(v, np.array([1.0, 1.0, 5.0]))[0] == 10.0
    assert weighted_median(np.array([[1.0], [3.0]]), np.ones(2))[0] == 2.0


@pytest.mark.parametrize(
    ("subs", "match"),
    [
        ([("i", "a")], "triple"),
        ([("i", "a", [(0, 1, 2, 3)])], "5 values"),
        ([("i", "a", [{"class_id": 0, "left": 1}])], "lacks keys"),
        ([("i", "a", [(0, 1, 2, -3, 4)])], "width and height must be >= 0"),
        ([("i", "a", [(-1, 1, 2, 3, 4)])], "class_id must be an integer"),
        ([("i", "a", [(0, float("nan"), 2, 3, 4)])], "finite"),
        ([("i", "a", []), ("i", "a", [])], "more than once"),
    ],
)
def test_bad_input(subs: list, match: str) -> None:
    with pytest.raises(ConsolidationInputError, match=match):
        BoxAnswers.from_submissions(subs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"iou_threshold": 0}, "iou_threshold"),
        ({"quorum": 1.0}, "quorum"),
        ({"fusion": "max"}, "fusion"),
        ({"n_rounds": 0}, "n_rounds"),
        ({"quorum_weighting": "x"}, "quorum_weighting"),
        ({"prior_iou": 0}, "prior_iou"),
    ],
)
def test_bad_hyperparameters(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BoxConsolidator(**kwargs)


@pytest.mark.skipif(not PEDESTRIANS.is_dir(), reason="shared bbox_pedestrians data not present")
def test_pedestrians_beat_a_random_worker() -> None:
    subs = [(r["item"], r["worker"]) for r in csv.DictReader(open(PEDESTRIANS / "annotations.csv"))]
    index = {s: i for i, s in enumerate(subs)}
    owner, corners = [], []
    for r in csv.DictReader(open(PEDESTRIANS / "boxes.csv")):
        owner.append(index[(r["item"], r["worker"])])
        corners.append([float(r[k]) for k in ("x1", "y1", "x2", "y2")])
    owner_arr, corner_arr = np.asarray(owner), np.asarray(corners)
    answers = BoxAnswers.from_arrays(
        [s[0] for s in subs],
        [s[1] for s in subs],
        owner_arr,
        np.zeros(len(owner)),
        corner_arr,
        box_format="corners",
    )
    gold: dict[str, list] = {r["item"]: [] for r in csv.DictReader(open(PEDESTRIANS / "gold_images.csv"))}
    for r in csv.DictReader(open(PEDESTRIANS / "gold_boxes.csv")):
        gold[r["item"]].append([float(r[k]) for k in ("x1", "y1", "x2", "y2")])

    def pr(pred_of) -> tuple[float, float]:
        tp = n_pred = n_true = 0
        for item, g in gold.items():
            pred, truth = pred_of(item), np.asarray(g).reshape(-1, 4)
            n_pred, n_true = n_pred + pred.shape[0], n_true + truth.shape[0]
            if pred.shape[0] and truth.shape[0]:
                iou = pairwise_iou(pred, truth)
                r, c = linear_sum_assignment(iou, maximize=True)
                tp += int((iou[r, c] >= 0.5).sum())
        return tp / n_pred, tp / n_true

    model = BoxConsolidator().fit(answers)
    pos = {str(item): i for i, item in enumerate(answers.image_ids.tolist())}
    ours = pr(lambda item: model.corners_[pos[item]])
    rng = np.random.default_rng(0)
    workers_of: dict[str, list[int]] = {}
    for s, (item, _) in enumerate(subs):
        workers_of.setdefault(item, []).append(s)
    chosen = {item: int(rng.choice(ss)) for item, ss in workers_of.items()}
    base = pr(lambda item: corner_arr[owner_arr == chosen[item]].reshape(-1, 4))
    assert ours[0] > base[0] + 0.03 and ours[1] > base[1]
    assert ours[0] > 0.95 and ours[1] > 0.83

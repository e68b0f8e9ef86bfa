"""Bounding-box consolidation on real crowd data (Caltech pedestrians, 7 MTurk workers an image, gold).

Run from the repository root.

Usage: .venv/bin/python bench/consolidation_boxes.py [--data DIR] [--calibrate]

Reports, over the gold images: precision / recall / F1 of the consolidated boxes at IoU >= 0.5 (one-to-one
Hungarian matching with the gold boxes), mean IoU of the matched boxes, and for BoxConsolidator the
calibration of its per-box confidence against the real IoU with gold (0 for a box matching no gold box):
Pearson correlation and expected calibration error (10 equal-width bins). Baselines: one random worker's
boxes per image, and greedy IoU clustering with plain averaging (Ground Truth's documented description),
with and without a majority quorum. --calibrate fits the confidence's (gamma, beta0, beta1) on the odd-
numbered gold images and reports calibration on the even-numbered ones.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

# bench/platform.py would shadow the standard library's `platform` (imported by numpy) when run as a script.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment, minimize  # noqa: E402

from quorum_consolidation.core._geometry import pairwise_iou  # noqa: E402
from quorum_consolidation.core.boxes import BoxAnswers, BoxConsolidator  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "crowd" / "bbox_pedestrians"


def load(data: Path) -> tuple[BoxAnswers, dict[str, np.ndarray]]:
    """The crowd submissions (as BoxAnswers, image ids as strings) and gold corners per gold image."""
    subs = [(r["item"], r["worker"]) for r in csv.DictReader(open(data / "annotations.csv"))]
    index = {s: i for i, s in enumerate(subs)}
    owner, corners = [], []
    for r in csv.DictReader(open(data / "boxes.csv")):
        owner.append(index[(r["item"], r["worker"])])
        corners.append([float(r[k]) for k in ("x1", "y1", "x2", "y2")])
    answers = BoxAnswers.from_arrays(
        [s[0] for s in subs],
        [s[1] for s in subs],
        np.asarray(owner),
        np.zeros(len(owner)),
        np.asarray(corners),
        box_format="corners",
    )
    gold: dict[str, list[list[float]]] = {
        r["item"]: [] for r in csv.DictReader(open(data / "gold_images.csv"))
    }
    for r in csv.DictReader(open(data / "gold_boxes.csv")):
        gold[r["item"]].append([float(r[k]) for k in ("x1", "y1", "x2", "y2")])
    return answers, {k: np.asarray(v, dtype=float).reshape(-1, 4) for k, v in gold.items()}


def match_iou(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per predicted box, the IoU with its gold partner under a max-IoU one-to-one assignment (0 if none)."""
    out = np.zeros(pred.shape[0])
    if pred.shape[0] and truth.shape[0]:
        iou = pairwise_iou(pred, truth)
        r, c = linear_sum_assignment(iou, maximize=True)
        out[r] = iou[r, c]
    return out


def score(preds: dict[str, np.ndarray], gold: dict[str, np.ndarray]) -> dict[str, float]:
    tp = fp = fn = 0
    ious: list[float] = []
    for item, truth in gold.items():
        pred = preds.get(item, np.zeros((0, 4)))
        m = match_iou(pred, truth)
        hit = m >= 0.5
        tp += int(hit.sum())
        fp += int(pred.shape[0] - hit.sum())
        fn += int(truth.shape[0] - hit.sum())
        ious.extend(m[hit].tolist())
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / max(p + r, 1e-12),
        "mean_iou": float(np.mean(ious)),
    }


def per_image(answers: BoxAnswers) -> dict[str, dict[str, np.ndarray]]:
    """image id -> worker id -> corners (every submission, including empty ones)."""
    out: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for i, w in zip(answers.sub_images.tolist(), answers.sub_workers.tolist(), strict=True):
        out[str(answers.image_ids[i])][str(answers.worker_ids[w])] = np.zeros((0, 4))
    for b in range(answers.n_boxes):
        item, wk = str(answers.image_ids[answers.images[b]]), str(answers.worker_ids[answers.workers[b]])
        out[item][wk] = np.vstack([out[item][wk], answers.corners[b]])
    return out


def random_worker(images: dict[str, dict[str, np.ndarray]], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {item: subs[sorted(subs)[rng.integers(len(subs))]] for item, subs in images.items()}


def greedy_average(images: dict[str, dict[str, np.ndarray]], quorum: bool) -> dict[str, np.ndarray]:
    """Each box joins the existing cluster with the highest IoU (>= 0.5, one box per worker per cluster),
    first come first served; clusters are averaged; with `quorum`, kept when a majority drew them."""
    out = {}
    for item, subs in images.items():
        members: list[list[np.ndarray]] = []
        owners: list[set[str]] = []
        for wk in sorted(subs):
            for box in subs[wk]:
                best, best_iou = -1, 0.5
                for c, mem in enumerate(members):
                    if wk in owners[c]:
                        continue
                    v = float(pairwise_iou(box, np.mean(mem, axis=0))[0, 0])
                    if v >= best_iou:
                        best, best_iou = c, v
                if best < 0:
                    members.append([box])
                    owners.append({wk})
                else:
                    members[best].append(box)
                    owners[best].add(wk)
        keep = [np.mean(m, axis=0) for m in members if not quorum or len(m) > len(subs) / 2]
        out[item] = np.asarray(keep).reshape(-1, 4)
    return out


def calibration(conf: np.ndarray, real: np.ndarray) -> dict[str, float]:
    bins = np.minimum((conf * 10).astype(int), 9)
    ece = sum(
        abs(conf[bins == b].mean() - real[bins == b].mean()) * (bins == b).mean()
        for b in range(10)
        if (bins == b).any()
    )
    return {
        "pearson": float(np.corrcoef(conf, real)[0, 1]),
        "ece": float(ece),
        "n_boxes": int(conf.shape[0]),
        "mean_conf": float(conf.mean()),
        "mean_real_iou": float(real.mean()),
    }


def features(model: BoxConsolidator, answers: BoxAnswers, gold: dict[str, np.ndarray], items: set[str]):
    rows = []
    for i, item in enumerate(answers.image_ids.tolist()):
        if str(item) in gold and str(item) in items:
            real = match_iou(model.corners_[i], gold[str(item)])
            for a, s, c, r in zip(
                model.agreement_[i], model.support_[i], model.confidences_[i], real, strict=True
            ):
                rows.append((a, s, c, r))
    return np.asarray(rows).reshape(-1, 4)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--calibrate", action="store_true")
    args = ap.parse_args()
    answers, gold = load(args.data)
    images = per_image(answers)
    say(
        f"{answers.n_images} images, {answers.n_workers} workers, {answers.n_boxes} boxes; "
        f"{len(gold)} gold images"
    )
    rows = {}
    rows["random worker (mean of 5 seeds)"] = {
        k: float(np.mean([score(random_worker(images, s), gold)[k] for s in range(5)]))
        for k in ("precision", "recall", "f1", "mean_iou")
    }
    rows["greedy IoU + mean, no quorum"] = score(greedy_average(images, quorum=False), gold)
    rows["greedy IoU + mean, majority"] = score(greedy_average(images, quorum=True), gold)
    models = {
        "BoxConsolidator (default)": BoxConsolidator(),
        "BoxConsolidator quorum=reliability": BoxConsolidator(quorum_weighting="reliability"),
        "BoxConsolidator fusion=mean": BoxConsolidator(fusion="mean"),
        "BoxConsolidator n_rounds=1": BoxConsolidator(n_rounds=1),
        "BoxConsolidator quorum=0.4": BoxConsolidator(quorum=0.4),
    }
    for name, model in models.items():
        t = time.perf_counter()
        model.fit(answers)
        elapsed = time.perf_counter() - t
        preds = {str(item): model.corners_[i] for i, item in enumerate(answers.image_ids.tolist())}
        rows[name] = score(preds, gold) | {"fit_s": elapsed}
    say(f"{'method':40s} {'prec':>6s} {'recall':>6s} {'F1':>6s} {'mIoU':>6s}")
    for name, r in rows.items():
        extra = f"  ({r['fit_s']:.2f} s)" if "fit_s" in r else ""
        say(f"{name:40s} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f} {r['mean_iou']:6.3f}{extra}")
    model = models["BoxConsolidator (default)"]
    everything = set(gold)
    feats = features(model, answers, gold, everything)
    cal = calibration(feats[:, 2], feats[:, 3])
    say(
        "confidence vs real IoU (default model, all gold images): "
        + ", ".join(f"{k}={v:.3f}" for k, v in cal.items())
    )
    if args.calibrate:
        odd = {g for g in gold if int(g) % 4 == 2}
        even = everything - odd
        f_fit = features(model, answers, gold, odd)

        def loss(theta: np.ndarray) -> float:
            gamma, b0, b1 = theta
            pred = f_fit[:, 0] ** gamma / (1 + np.exp(-(b0 + b1 * f_fit[:, 1])))
            return float(((pred - f_fit[:, 3]) ** 2).mean())

        fit = minimize(loss, np.array([0.83, -2.43, 6.85]), method="Nelder-Mead")
        say(f"fitted (gamma, beta0, beta1) on {len(odd)} images: {np.round(fit.x, 2).tolist()}")
        tuned = BoxConsolidator(
            confidence_gamma=float(fit.x[0]), confidence_beta=(float(fit.x[1]), float(fit.x[2]))
        )
        tuned.fit(answers)
        f_eval = features(tuned, answers, gold, even)
        cal = calibration(f_eval[:, 2], f_eval[:, 3])
        say(
            f"held-out calibration on {len(even)} images: "
            + ", ".join(f"{k}={v:.3f}" for k, v in cal.items())
        )


if __name__ == "__main__":
    main()

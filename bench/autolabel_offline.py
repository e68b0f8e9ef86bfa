"""Automated-labelling loop offline: the inference service's core and torch adapters on one dataset, with
simulated humans whose single label equals the gold label (no crowd noise yet; the platform benchmark with
simulated workers is `quorum autolabel-bench`, to come).

    .venv/bin/python bench/autolabel_offline.py --dataset ../shared/datasets/content/trec6 [--baseline]

The dataset folder holds items.jsonl (`item`, and text in `source` or an image path/URI in `source-ref`,
relative paths resolved in the folder) and gold.csv (item,label); both are read in place.

Loop (Ground Truth's, GT-FORMATS.md 2.5, with our choices): a seeded random first batch = a human-labelled
validation set (`--validation-fraction` of the dataset; default GT's 20% / 10%) + one training batch; then
each iteration trains (MiniLM embeddings + head for text, a small CNN for images), fits the temperature and
per-class thresholds on the validation set (Clopper-Pearson lower bound >= target), machine-labels every
unlabelled object above its class's threshold, and sends the `--batch-size` most informative remaining
objects (margin uncertainty + k-center diversity) to humans. Validation objects that a model would
machine-label leave the validation set for the training set, so that every threshold is certified on objects
drawn like the remaining pool (`--no-filter-validation` turns this off). It stops when nothing is left, or
after `--max-iterations`, when the rest go to humans. Prints one JSON object.

`--baseline`: the issue's one-shot reference: frozen MiniLM + logistic regression trained on a random 20% of
the data, threshold picked on a validation split of it for the same target; share machine-labelled.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/platform.py shadows the standard library's `platform` (which numpy imports) for scripts run from this
# folder: take the folder off the import path first.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse  # noqa: E402
import csv  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from quorum_inference.adapters import nets  # noqa: E402
from quorum_inference.adapters.features import EMBEDDING_DIM, ImageLoader, TextEmbedder  # noqa: E402
from quorum_inference.core.calibration import apply_temperature  # noqa: E402
from quorum_inference.core.metrics import evaluate  # noqa: E402
from quorum_inference.core.planner import LoopConfig, next_batch_size, plan_first_batch  # noqa: E402
from quorum_inference.core.selection import select_informative  # noqa: E402
from quorum_inference.core.thresholds import auto_label_mask  # noqa: E402


def read_dataset(root: Path) -> tuple[list[str], list[str], str, list[str]]:
    """(item ids, inputs, modality, gold labels) for the items that have a gold label."""
    gold: dict[str, str] = {}
    with (root / "gold.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            gold[row["item"]] = row["label"]
    ids, inputs, kinds = [], [], set()
    with (root / "items.jsonl").open() as f:
        for line in f:
            if not line.strip():
                continue
            obj = json.loads(line)
            item = str(obj["item"])
            if item not in gold:
                continue
            if "source" in obj:
                inputs.append(str(obj["source"]))
                kinds.add("text")
            else:
                ref = str(obj["source-ref"])
                inputs.append(ref if "://" in ref or ref.startswith("/") else str(root / ref))
                kinds.add("image")
            ids.append(item)
    if len(kinds) != 1:
        raise SystemExit(f"{root}: items must be all text or all images, got {sorted(kinds)}")
    return ids, inputs, kinds.pop(), [gold[i] for i in ids]


CACHE = Path(__file__).resolve().parent / "out" / "autolabel-features"  # git-ignored (bench/out/)


def features(modality: str, inputs: list[str], device: str, image_size: int) -> NDArray[np.float32]:
    """Embeddings / image tensors, cached on disk by content so reruns skip MiniLM (minutes on 2 cores)."""
    key = hashlib.sha1(json.dumps([modality, image_size, inputs]).encode()).hexdigest()[:16]
    path = CACHE / f"{key}.npy"
    if path.exists():
        return np.load(path)
    if modality == "text":
        x = TextEmbedder(device, batch_size=128).embed(inputs)
    else:
        x = ImageLoader(image_size).load(inputs)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, x)
    return x


def fit_and_score(
    arch: nets.Arch,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    train_idx: list[int],
    cfg: nets.TrainConfig,
    device: Any,
) -> Any:
    return nets.train(arch, x[train_idx], y[train_idx], cfg, device=device)


def run_loop(
    args: argparse.Namespace, x: NDArray[np.float32], y: NDArray[np.int64], n_classes: int, modality: str
) -> dict[str, Any]:
    device = nets.pick_device(args.device)
    n = len(y)
    loop = LoopConfig(
        target_accuracy=args.target_accuracy,
        confidence_level=args.confidence_level,
        min_dataset_size=0,
        batch_size=args.batch_size or max(50, round(0.05 * n)),
        validation_fraction=args.validation_fraction,
        max_human_labelled=args.max_human_labelled,
    )
    arch = (
        nets.Arch("head", (EMBEDDING_DIM,), n_classes, args.head_hidden)
        if modality == "text"
        else nets.Arch("cnn", tuple(x.shape[1:]), n_classes, 0)
    )
    train_cfg = nets.TrainConfig(
        epochs=args.head_epochs if modality == "text" else args.cnn_epochs, seed=args.seed
    )
    # Diversity is measured on the embeddings (text) or on the downsampled pixels (images).
    space = x if modality == "text" else x.reshape(n, -1)

    first = plan_first_batch(n, loop, seed=args.seed)
    validation = np.array(first.validation, dtype=np.int64)
    human = set(first.validation) | set(first.training)
    train_idx = list(first.training)
    machine: dict[int, int] = {}  # object -> machine label
    iterations = []
    for it in range(1, args.max_iterations + 1):
        t0 = time.perf_counter()
        rows = sorted(train_idx)
        model = nets.train(arch, x[rows], y[rows], train_cfg, device=device)
        val_logits = nets.logits(model, x[validation])
        metrics = evaluate(
            val_logits,
            y[validation],
            n_classes,
            n_train=len(train_idx),
            target_accuracy=loop.target_accuracy,
            confidence_level=loop.confidence_level,
            threshold_mode=args.threshold_mode,
        )
        unlabelled = np.array([i for i in range(n) if i not in human and i not in machine], dtype=np.int64)
        new_machine = 0
        correct_new = 0
        remaining = unlabelled
        probs = np.zeros((0, n_classes))
        if len(unlabelled):
            probs = apply_temperature(nets.logits(model, x[unlabelled]), metrics.temperature)
            pred, conf = probs.argmax(axis=1), probs.max(axis=1)
            auto = auto_label_mask(pred, conf, metrics.thresholds)
            for i, p in zip(unlabelled[auto], pred[auto], strict=True):
                machine[int(i)] = int(p)
            new_machine = int(auto.sum())
            correct_new = int((pred[auto] == y[unlabelled[auto]]).sum())
            remaining, probs = unlabelled[~auto], probs[~auto]
        validation_size = len(validation)
        if args.filter_validation and len(validation):
            # The pool now lacks what these thresholds just machine-labelled, so later thresholds must be
            # certified on validation objects that went through the same filter: drop the ones this model
            # would machine-label (they join the training set; their human labels stay useful there).
            vp = apply_temperature(val_logits, metrics.temperature)
            v_auto = auto_label_mask(vp.argmax(axis=1), vp.max(axis=1), metrics.thresholds)
            train_idx.extend(int(i) for i in validation[v_auto])
            validation = validation[~v_auto]
        k = next_batch_size(len(remaining), len(human), loop)
        last = it == args.max_iterations or len(remaining) == 0 or k == 0
        iterations.append(
            {
                "iteration": it,
                "human_labelled": len(human),
                "trained_on": len(rows),
                "validation_size": validation_size,
                "validation_accuracy": round(metrics.validation_accuracy, 4),
                "temperature": round(metrics.temperature, 3),
                "thresholds": [
                    None if t.threshold is None else round(t.threshold, 4) for t in metrics.thresholds
                ],
                "estimated_accuracy_lower_bound": round(
                    min((t.lower_bound for t in metrics.thresholds if t.threshold is not None), default=0.0),
                    4,
                ),
                "machine_labelled_now": new_machine,
                "true_accuracy_now": round(correct_new / new_machine, 4) if new_machine else None,
                "machine_labelled_total": len(machine),
                "remaining": int(len(remaining)),
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )
        if last:
            break
        picks = select_informative(
            probs, space[remaining], k, labelled_embeddings=space[sorted(human)], seed=args.seed + it
        )
        chosen = [int(remaining[p]) for p in picks]
        human.update(chosen)
        train_idx.extend(chosen)
    # Whatever the loop left goes to humans.
    leftover = [i for i in range(n) if i not in human and i not in machine]
    human.update(leftover)
    m_idx = np.array(sorted(machine), dtype=np.int64)
    m_pred = np.array([machine[i] for i in m_idx], dtype=np.int64)
    final = y.copy()  # humans' labels are gold here
    final[m_idx] = m_pred
    return {
        "objects": n,
        "human_labelled": len(human),
        "machine_labelled": len(machine),
        "machine_share": round(len(machine) / n, 4),
        "human_labels_saved_pct": round(100 * len(machine) / n, 2),
        "machine_label_accuracy": round(float((m_pred == y[m_idx]).mean()), 4) if len(m_idx) else None,
        "all_label_accuracy": round(float((final == y).mean()), 4),
        "left_to_humans_at_end": len(leftover),
        "iterations": iterations,
    }


def baseline(args: argparse.Namespace, x: NDArray[np.float32], y: NDArray[np.int64], n_classes: int) -> dict:
    """One shot: logistic regression on a random 20% (of which 20% is the validation split)."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    n = len(y)
    order = np.random.default_rng(args.seed).permutation(n)
    labelled, rest = order[: int(0.2 * n)], order[int(0.2 * n) :]
    n_val = int(0.2 * len(labelled))
    val, train = labelled[:n_val], labelled[n_val:]
    clf = LogisticRegression(max_iter=2000).fit(x[train].reshape(len(train), -1), y[train])
    metrics = evaluate(
        np.log(np.clip(clf.predict_proba(x[val].reshape(len(val), -1)), 1e-12, None)),
        y[val],
        n_classes,
        n_train=len(train),
        target_accuracy=args.target_accuracy,
        confidence_level=args.confidence_level,
        threshold_mode=args.threshold_mode,
    )
    probs = apply_temperature(
        np.log(np.clip(clf.predict_proba(x[rest].reshape(len(rest), -1)), 1e-12, None)), metrics.temperature
    )
    pred, conf = probs.argmax(axis=1), probs.max(axis=1)
    auto = auto_label_mask(pred, conf, metrics.thresholds)
    return {
        "human_labelled": int(len(labelled)),
        "machine_labelled": int(auto.sum()),
        "machine_share": round(float(auto.sum()) / n, 4),
        "machine_label_accuracy": round(float((pred[auto] == y[rest][auto]).mean()), 4)
        if auto.any()
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--target-accuracy", type=float, default=0.95)
    parser.add_argument("--confidence-level", type=float, default=0.95)
    parser.add_argument("--batch-size", type=int, default=0, help="humans per iteration (0: 5%% of the data)")
    parser.add_argument("--validation-fraction", type=float, default=None, help="default: GT's 20%% / 10%%")
    parser.add_argument("--threshold-mode", choices=["per_class", "pooled"], default="per_class")
    parser.add_argument(
        "--no-filter-validation",
        dest="filter_validation",
        action="store_false",
        help="keep the whole validation set every iteration (thresholds then certify the original "
        "population, not the harder remaining pool)",
    )
    parser.add_argument("--max-human-labelled", type=int, default=None)
    parser.add_argument("--max-iterations", type=int, default=10)
    parser.add_argument("--head-hidden", type=int, default=256)
    parser.add_argument("--head-epochs", type=int, default=60)
    parser.add_argument("--cnn-epochs", type=int, default=30)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline", action="store_true", help="also run the one-shot frozen baseline")
    args = parser.parse_args()

    start = time.perf_counter()
    ids, inputs, modality, gold = read_dataset(args.dataset)
    categories = sorted(set(gold))
    y = np.array([categories.index(g) for g in gold], dtype=np.int64)
    x = features(modality, inputs, str(nets.pick_device(args.device)), args.image_size)
    feature_s = time.perf_counter() - start
    result: dict[str, Any] = {
        "dataset": args.dataset.name,
        "modality": modality,
        "categories": categories,
        "target_accuracy": args.target_accuracy,
        "confidence_level": args.confidence_level,
        "threshold_mode": args.threshold_mode,
        "filter_validation": args.filter_validation,
        "feature_seconds": round(feature_s, 1),
    }
    result.update(run_loop(args, x, y, len(categories), modality))
    if args.baseline and modality == "text":
        result["baseline_frozen_lr_20pct"] = baseline(args, x, y, len(categories))
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    sys.stdout.write(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

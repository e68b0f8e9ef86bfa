"""Automated-labelling loop offline: the inference service's core and torch adapters on one dataset, with
simulated humans whose label is the gold label, or with `--label-noise R` wrong with probability R (seeded;
the platform's consolidated crowd labels are ~93-97% right). The platform benchmark with simulated workers is
`quorum autolabel-bench`.

    .venv/bin/python bench/autolabel_offline.py --dataset ../shared/datasets/content/trec6 --label-noise 0.05

The dataset folder holds items.jsonl (`item`, and text in `source` or an image path/URI in `source-ref`,
relative paths resolved in the folder) and gold.csv (item,label); both are read in place.

Loop, `--calibration cross_fit` (default; what the service does with CALIBRATION=cross_fit): a seeded random
first batch to humans; each iteration cross-fits (`--folds` models, each without one fold: out-of-fold logits
for every human label; the kept model trains on all), fits temperature and label-noise rate on the held-out
logits, certifies a pooled (or per-class) threshold with a noise-aware Clopper-Pearson bound on the held-out
objects that are random samples of the pool not yet machine-labelled, machine-labels every unlabelled object
above it, and sends the next batch to humans: `--random-share` drawn at random from the pool, the rest the
most informative (margin + k-center). Sizes: the platform's rule (quorum_jobs.core.autolabel `plan_loop`).
It stops when nothing is left, after the iterations, or before an iteration that would overrun
`--time-budget`; the rest go to humans.
`--calibration holdout`: Ground Truth's separate validation set (`--validation-fraction`, default 20%/10%).
Prints one JSON object (`--verbose`: each iteration on stderr too).

`--noise-pattern hard`: the simulated mistakes cluster on hard objects (as crowds' do): object i is wrong with
probability r_i proportional to how unsure a frozen-embedding logistic regression (5-fold, gold labels) is of
its gold class, scaled to a mean of `--label-noise` (each r_i at most 0.6). `--per-object-noise`: the bounds
get each human label's own confidence q_i = 1 - r_i (what consolidation's per-object confidence stands for;
the service's InferenceObject.label_confidence) instead of one rate for all (`--assumed-noise`).

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
from dataclasses import replace  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from quorum_inference.adapters import finetune as ft  # noqa: E402
from quorum_inference.adapters import nets  # noqa: E402
from quorum_inference.adapters.features import EMBEDDING_DIM, ImageLoader, TextEmbedder  # noqa: E402
from quorum_inference.core.calibration import apply_temperature  # noqa: E402
from quorum_inference.core.metrics import evaluate  # noqa: E402
from quorum_inference.core.planner import LoopConfig, next_batch_size, plan_first_batch  # noqa: E402
from quorum_inference.core.selection import select_informative  # noqa: E402
from quorum_inference.core.thresholds import auto_label_mask  # noqa: E402
from quorum_jobs.core.autolabel import plan_loop  # noqa: E402


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
        loader = ImageLoader(image_size)
        x = loader.load(inputs, nets.input_side(loader.native_side(inputs), image_size))  # as the service
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, x)
    return x


def hard_noise_rates(
    x: NDArray[np.float32], y: NDArray[np.int64], rate: float, cap: float = 0.6
) -> NDArray[np.float64]:
    """Per-object error rates with mean `rate`, proportional to 1 - p(gold) of a 5-fold logistic regression on
    the frozen features: crowds err on the objects a model finds hard."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.model_selection import cross_val_predict  # noqa: PLC0415

    flat = x.reshape(len(x), -1)
    proba = cross_val_predict(LogisticRegression(max_iter=1000), flat, y, cv=5, method="predict_proba")
    hard = np.clip(1.0 - proba[np.arange(len(y)), y], 1e-3, None)
    lo, hi = 0.0, cap / float(hard.min())  # mean(clip(hard * scale, 0, cap)) rises with scale: bisect it
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.clip(hard * mid, 0.0, cap).mean() < rate else (lo, mid)
    return np.clip(hard * hi, 0.0, cap)


def noisy_labels(
    y: NDArray[np.int64], n_classes: int, rate: float | NDArray[np.float64], seed: int
) -> NDArray[np.int64]:
    """Simulated human labels: each wrong with probability `rate` (or its own rate), then uniform over the
    other classes."""
    rng = np.random.default_rng(seed + 7919)
    flip = rng.random(len(y)) < rate
    other = (y + rng.integers(1, n_classes, size=len(y))) % n_classes
    return np.where(flip, other, y).astype(np.int64)


class FineTuned:
    """`--text-model finetune`: the service's TEXT_MODEL=finetune. Human labels that are random draws of the
    pool and fall in the certification share (by a hash of the item id) never train the encoder; the rest do,
    warm-started from the previous encoder whenever they have grown by `--finetune-growth` since the last
    fine-tuning. A head is trained each iteration on the encoder's embeddings of the training labels; the
    certification labels fit its temperature and certify its threshold."""

    def __init__(self, args: argparse.Namespace, texts: list[str], ids: list[str], device: Any) -> None:
        self.args, self.texts, self.device = args, texts, device
        self.in_c = np.array([ft.in_certification_set(i, args.certify_share) for i in ids], dtype=bool)
        self.config = ft.FinetuneConfig(seed=args.seed, max_steps=args.finetune_max_steps)
        self.model: Any = None
        self.last_n = 0
        self.x: NDArray[np.float32] | None = None
        self.seconds = 0.0
        self.steps = 0

    def update(self, rows: NDArray[np.int64], labels: NDArray[np.int64], n_classes: int) -> bool:
        """Fine-tune when due; True when the embeddings changed."""
        if len(rows) < self.args.finetune_min_labels:
            return False
        if self.model is not None and len(rows) < self.args.finetune_growth * self.last_n:
            return False
        t0 = time.perf_counter()
        warm = self.model is not None
        if self.model is None:
            self.model = ft.base_encoder(self.device, self.config.max_seq_length)
        stats = ft.fine_tune(
            self.model, [self.texts[i] for i in rows], labels, n_classes, self.config, warm=warm
        )
        self.steps += int(stats["steps"])
        self.x = ft.embed(self.model, self.texts)
        self.last_n = len(rows)
        self.seconds += time.perf_counter() - t0
        return True


def run_loop(
    args: argparse.Namespace,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    n_classes: int,
    modality: str,
    texts: list[str] | None = None,
    ids: list[str] | None = None,
) -> dict[str, Any]:
    device = nets.pick_device(args.device)
    n = len(y)
    cross = args.calibration == "cross_fit"
    plan = plan_loop(n, n_classes)  # the platform's rule (jobs service)
    rule_first, rule_batch, rule_iterations = plan.first_batch_size, plan.batch_size, plan.max_iterations
    loop = LoopConfig(
        target_accuracy=args.target_accuracy,
        confidence_level=args.confidence_level,
        min_dataset_size=0,
        batch_size=args.batch_size or (rule_batch if cross else max(50, round(0.05 * n))),
        first_batch_size=(args.first_batch or rule_first) if cross else None,
        validation_fraction=args.validation_fraction,
        max_human_labelled=args.max_human_labelled,
    )
    max_iterations = args.max_iterations or (rule_iterations if cross else 10)
    arch = (
        nets.Arch("head", (EMBEDDING_DIM,), n_classes, args.head_hidden)
        if modality == "text"
        else nets.Arch(args.image_model, tuple(x.shape[1:]), n_classes, 0)
    )
    train_cfg = nets.TrainConfig(
        epochs=args.head_epochs if modality == "text" else args.cnn_epochs,
        seed=args.seed,
        label_smoothing=args.label_smoothing,
        min_steps=0 if modality == "text" else args.cnn_min_steps,
    )
    label_noise = None if args.assumed_noise == "auto" else float(args.assumed_noise)
    # What humans answer (gold, or gold with simulated mistakes, uniform or on the hard objects).
    rates = np.full(n, float(args.label_noise))
    if args.label_noise > 0 and args.noise_pattern == "hard":
        rates = hard_noise_rates(x, y, args.label_noise)
    yh = noisy_labels(y, n_classes, rates, args.seed) if args.label_noise > 0 else y
    # The honest per-object confidence of each human label (--per-object-noise), as consolidation reports it.
    quality = 1.0 - rates if args.per_object_noise else None
    # Diversity is measured on the embeddings (text) or on the downsampled pixels (images).
    space = x if modality == "text" else x.reshape(n, -1)

    if cross:
        first = plan_first_batch(n, loop, seed=args.seed)
        validation = np.zeros(0, dtype=np.int64)
        train_idx = sorted(set(first.validation) | set(first.training))
    else:
        first = plan_first_batch(n, loop, seed=args.seed)
        validation = np.array(first.validation, dtype=np.int64)
        train_idx = list(first.training)
    human = set(first.validation) | set(first.training)
    excluded: set[int] = set()  # cross_fit: human objects like ones already machine-labelled
    # cross_fit certifies on objects drawn at random from the pool of their time (the first batch, and a
    # share of every later batch): the actively picked ones are the pool's hardest, not a sample of it.
    drawn: set[int] = set(train_idx) if cross else set()
    machine: dict[int, int] = {}  # object -> machine label
    tuned = (
        FineTuned(args, texts or [], ids or [], device)
        if modality == "text" and args.text_model == "finetune" and cross
        else None
    )
    iterations = []
    for it in range(1, max_iterations + 1):
        t0 = time.perf_counter()
        rows = np.array(sorted(train_idx), dtype=np.int64)
        fine = False
        if tuned is not None:
            # Certification objects: random draws of the pool in the hashed share (never train the encoder).
            is_c = np.array([int(r) in drawn and tuned.in_c[r] for r in rows], dtype=bool)
            t_rows, c_rows = rows[~is_c], rows[is_c]
            if tuned.update(t_rows, yh[t_rows], n_classes) or tuned.x is not None:
                fine = True
                x = tuned.x  # type: ignore[assignment]
                space = x
        if fine:
            model = nets.train(arch, x[t_rows], yh[t_rows], train_cfg, device=device)
            held, held_logits = c_rows, nets.logits(model, x[c_rows])
            certify = np.array([int(r) not in excluded for r in c_rows], dtype=bool)
        elif cross:
            model, held_logits = nets.cross_fit(
                arch, x[rows], yh[rows], train_cfg, device=device, folds=args.folds
            )
            held = rows
            certify = np.array([int(r) in drawn and int(r) not in excluded for r in rows], dtype=bool)
        else:
            model = nets.train(arch, x[rows], yh[rows], train_cfg, device=device)
            held_logits, held, certify = nets.logits(model, x[validation]), validation, None
        metrics = evaluate(
            held_logits,
            yh[held],
            n_classes,
            n_train=len(rows),
            target_accuracy=loop.target_accuracy,
            confidence_level=loop.confidence_level,
            threshold_mode=args.threshold_mode,
            label_noise=label_noise,
            certify=certify,
            label_confidence=None if quality is None else quality[held],
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
        validation_size = len(held) if certify is None else int(certify.sum())
        if len(held) and (cross or args.filter_validation):
            # The pool now lacks what these thresholds just machine-labelled, so later thresholds must be
            # certified on held-out objects that went through the same filter: set aside the ones this
            # model would machine-label (holdout: they join the training set; cross_fit: they still train).
            vp = apply_temperature(held_logits, metrics.temperature)
            v_auto = auto_label_mask(vp.argmax(axis=1), vp.max(axis=1), metrics.thresholds)
            if cross:
                excluded.update(int(i) for i in held[v_auto])
            else:
                train_idx.extend(int(i) for i in validation[v_auto])
                validation = validation[~v_auto]
        if cross and not args.batch_size:  # the platform's rule: batches grow with the human labels
            loop = replace(loop, batch_size=plan.batch_after(len(human)))
        k = next_batch_size(len(remaining), len(human), loop)
        # The next iteration trains on more labels: assume it takes 1.3x this one.
        out_of_time = time.perf_counter() - args.started + 1.3 * (time.perf_counter() - t0) > args.time_budget
        last = it == max_iterations or len(remaining) == 0 or k == 0 or out_of_time
        iterations.append(
            {
                "iteration": it,
                "human_labelled": len(human),
                "trained_on": len(rows),
                "certified_on": validation_size,
                "heldout_accuracy": round(metrics.validation_accuracy, 4),
                "temperature": round(metrics.temperature, 3),
                "label_noise_assumed": round(metrics.label_noise, 4),
                "per_object_noise": metrics.per_object_label_noise,
                "threshold": min(
                    (round(t.threshold, 4) for t in metrics.thresholds if t.threshold is not None),
                    default=None,
                ),
                "estimated_accuracy_lower_bound": round(
                    min((t.lower_bound for t in metrics.thresholds if t.threshold is not None), default=0.0),
                    4,
                ),
                "machine_labelled_now": new_machine,
                "true_accuracy_now": round(correct_new / new_machine, 4) if new_machine else None,
                "machine_labelled_total": len(machine),
                "remaining": int(len(remaining)),
                "seconds": round(time.perf_counter() - t0, 2),
                "encoder": "fine-tuned" if fine else "frozen",
                "finetune_steps_total": tuned.steps if tuned is not None else 0,
            }
        )
        if args.verbose:
            sys.stderr.write(json.dumps(iterations[-1]) + "\n")
        if last:
            break
        share = args.random_share if args.random_share is not None else (0.75 if tuned is not None else 0.5)
        n_random = int(round(share * k)) if cross else 0
        rng = np.random.default_rng(args.seed + 1000 + it)
        random_picks = rng.permutation(len(remaining))[:n_random]
        rest = np.setdiff1d(np.arange(len(remaining)), random_picks)
        picks = select_informative(
            probs[rest],
            space[remaining[rest]],
            k - n_random,
            labelled_embeddings=space[sorted(human)],
            seed=args.seed + it,
        )
        chosen = [int(remaining[rest[p]]) for p in picks] + [int(remaining[p]) for p in random_picks]
        drawn.update(int(remaining[p]) for p in random_picks)
        human.update(chosen)
        train_idx.extend(chosen)
    # Whatever the loop left goes to humans.
    leftover = [i for i in range(n) if i not in human and i not in machine]
    human.update(leftover)
    m_idx = np.array(sorted(machine), dtype=np.int64)
    m_pred = np.array([machine[i] for i in m_idx], dtype=np.int64)
    final = yh.copy()  # humans' labels (gold, or noisy with --label-noise)
    final[m_idx] = m_pred
    return {
        "objects": n,
        "first_batch": len(first.validation) + len(first.training),
        "batch_size": loop.batch_size,
        "human_labelled": len(human),
        "human_share": round(len(human) / n, 4),
        "machine_labelled": len(machine),
        "machine_share": round(len(machine) / n, 4),
        "human_labels_saved_pct": round(100 * len(machine) / n, 2),
        "machine_label_accuracy": round(float((m_pred == y[m_idx]).mean()), 4) if len(m_idx) else None,
        "simulated_noise_mean": round(float(rates.mean()), 4),
        "human_label_accuracy": round(float((yh[sorted(human)] == y[sorted(human)]).mean()), 4),
        "all_label_accuracy": round(float((final == y).mean()), 4),
        "left_to_humans_at_end": len(leftover),
        "finetune_seconds": round(tuned.seconds, 1) if tuned is not None else 0.0,
        "finetune_steps": tuned.steps if tuned is not None else 0,
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
    parser.add_argument(
        "--calibration",
        choices=["cross_fit", "holdout"],
        default="cross_fit",
        help="cross_fit: every human label trains and is held out once (out-of-fold); holdout: GT's "
        "separate validation set",
    )
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument(
        "--random-share",
        type=float,
        default=None,
        help="cross_fit: share of each later human batch drawn at random from the pool (certification); "
        "default 0.5, 0.75 with --text-model finetune (the service's RANDOM_SHARE / FINETUNE_RANDOM_SHARE)",
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        default=540.0,
        help="seconds for the whole run: no new iteration starts that would likely end past it",
    )
    parser.add_argument(
        "--label-noise",
        type=float,
        default=0.0,
        help="simulated human error rate (seeded; a wrong label is uniform over the other classes)",
    )
    parser.add_argument(
        "--noise-pattern",
        choices=["uniform", "hard"],
        default="uniform",
        help="where simulated mistakes fall: uniformly, or on the objects a frozen model finds hard",
    )
    parser.add_argument(
        "--per-object-noise",
        action="store_true",
        help="bounds use each human label's own error rate (its simulated rate) instead of one for all",
    )
    parser.add_argument(
        "--assumed-noise",
        default="auto",
        help="human error rate the bounds assume: auto (estimated from the data) or a number (0: gold)",
    )
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--verbose", action="store_true", help="print each iteration to stderr")
    parser.add_argument("--first-batch", type=int, default=0, help="cross_fit (0: planner's rule)")
    parser.add_argument("--batch-size", type=int, default=0, help="humans per iteration (0: planner's rule)")
    parser.add_argument("--validation-fraction", type=float, default=None, help="default: GT's 20%% / 10%%")
    parser.add_argument("--threshold-mode", choices=["per_class", "pooled"], default="pooled")
    parser.add_argument(
        "--no-filter-validation",
        dest="filter_validation",
        action="store_false",
        help="keep the whole validation set every iteration (thresholds then certify the original "
        "population, not the harder remaining pool)",
    )
    parser.add_argument("--max-human-labelled", type=int, default=None)
    parser.add_argument("--max-iterations", type=int, default=0, help="0: planner's rule")
    parser.add_argument("--head-hidden", type=int, default=256)
    parser.add_argument("--head-epochs", type=int, default=60)
    parser.add_argument("--cnn-epochs", type=int, default=30)
    parser.add_argument("--cnn-min-steps", type=int, default=600)
    parser.add_argument("--image-model", choices=["cnn_wide", "cnn"], default="cnn_wide")
    parser.add_argument("--image-size", type=int, default=24, help="largest side (the service's IMAGE_SIZE)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--text-model",
        choices=["frozen", "finetune"],
        default="frozen",
        help="text: frozen MiniLM + head, or MiniLM fine-tuned on the human labels outside the certification "
        "set (TEXT_MODEL of the service)",
    )
    parser.add_argument(
        "--certify-share", type=float, default=0.5, help="finetune: share of the random draws kept out"
    )
    parser.add_argument("--finetune-growth", type=float, default=1.3, help="finetune: label growth to retune")
    parser.add_argument("--finetune-min-labels", type=int, default=60, help="finetune: labels to first tune")
    parser.add_argument("--finetune-max-steps", type=int, default=400)
    parser.add_argument("--baseline", action="store_true", help="also run the one-shot frozen baseline")
    args = parser.parse_args()

    start = args.started = time.perf_counter()
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
        "calibration": args.calibration,
        "label_noise_simulated": args.label_noise,
        "noise_pattern": args.noise_pattern,
        "per_object_noise": args.per_object_noise,
        "feature_seconds": round(feature_s, 1),
    }
    result["text_model"] = args.text_model if modality == "text" else None
    result.update(run_loop(args, x, y, len(categories), modality, inputs, ids))
    if args.baseline and modality == "text":
        result["baseline_frozen_lr_20pct"] = baseline(args, x, y, len(categories))
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    sys.stdout.write(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

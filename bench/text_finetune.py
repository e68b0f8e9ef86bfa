"""What fine-tuning MiniLM buys within a time budget: machine-labeled share against the fine-tuning's seconds.

One shot on a text dataset (items.jsonl + gold.csv, read in place): a random `--train` items with their gold
labels (each flipped to another class with probability `--label-noise`, as consolidated crowd labels are
wrong), fine-tuned as the inference service does (`quorum_inference.adapters.finetune.fine_tune`, its
defaults, wall-clock cap FINETUNE_MAX_SECONDS = each of `--seconds`), a logistic regression on the
embeddings, scored on `--test` other items: accuracy, and the share of them machine-labeled at `--precision`
(the largest top-confidence set whose accuracy is at least that: the issue's one-shot measure). Each value
of `--seconds` is one run from the pretrained encoder; 0, the baseline, is no fine-tuning (TEXT_MODEL=frozen).
Each run also reports `with_lexicon_*`: the same figures with the service's bag-of-words expert
(TEXT_LEXICON, `quorum_inference.adapters.lexicon`, fitted on the same noisy labels) added to the logistic
regression's log-probabilities. Prints one JSON object with the differences against the baseline.

    .venv/bin/python bench/text_finetune.py --dataset ../shared/datasets/content/sst2 --train 4000 \\
        --seconds 0 40 150 300
    .venv/bin/python bench/text_finetune.py --dataset ../shared/datasets/content/trec6 --train 1000 \\
        --seconds 0
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/platform.py shadows the standard library's `platform` (which numpy imports): take this folder off
# the import path first.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from scipy.special import softmax  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from quorum_cli.simulation import content_dataset  # noqa: E402
from quorum_inference.adapters import finetune as ft  # noqa: E402
from quorum_inference.adapters import lexicon  # noqa: E402


def read_texts(root: Path) -> tuple[list[str], NDArray[np.int64], list[str]]:
    """(texts, gold class indices, classes) of the items with a gold label, read by the benchmark's reader."""
    data = content_dataset(root)
    if any("source" not in data.contents[i] for i in data.items):
        raise SystemExit(f"{root}: not a text dataset (items need `source`)")
    texts = [data.contents[i]["source"] for i in data.items]
    labels = np.array([data.categories.index(data.gold[i]) for i in data.items], dtype=np.int64)
    return texts, labels, data.categories


def coverage_at(precision: float, confidence: NDArray[np.float64], correct: NDArray[np.bool_]) -> float:
    """Share of the items in the largest top-confidence set whose accuracy is at least `precision`."""
    order = np.argsort(-confidence, kind="stable")
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(running >= precision)
    return float((ok[-1] + 1) / len(order)) if len(ok) else 0.0


def one_run(
    seconds: float,
    texts: list[str],
    labels: NDArray[np.int64],
    n_classes: int,
    train: NDArray[np.int64],
    test: NDArray[np.int64],
    noisy: NDArray[np.int64],
    args: argparse.Namespace,
) -> dict[str, float | str]:
    model = ft.base_encoder("cpu")
    stats: dict[str, float] = {"steps": 0.0, "seconds": 0.0, "capped": 0.0}
    if seconds > 0:
        config = ft.FinetuneConfig(seed=args.seed, max_seconds=seconds, max_steps=args.max_steps)
        stats = ft.fine_tune(model, [texts[i] for i in train], noisy, n_classes, config, warm=False)
    started = time.monotonic()
    x_train = ft.embed(model, [texts[i] for i in train])
    x_test = ft.embed(model, [texts[i] for i in test])
    embed_seconds = time.monotonic() - started
    head = LogisticRegression(C=args.c, max_iter=2000).fit(x_train, noisy)
    proba = head.predict_proba(x_test)
    predicted = proba.argmax(axis=1)
    correct = predicted == labels[test]
    # The service's bag-of-words expert (TEXT_LEXICON) on the same labels, its log-probabilities added.
    bag = lexicon.fit([texts[i] for i in train], noisy, n_classes)
    joint = softmax(np.log(np.maximum(proba, 1e-12)) + bag.log_probs([texts[i] for i in test]), axis=1)
    joint_correct = joint.argmax(axis=1) == labels[test]
    return {
        "finetune_cap_seconds": seconds,
        "steps": int(stats["steps"]),
        "seconds_per_step": round(stats["seconds"] / stats["steps"], 3) if stats["steps"] else 0.0,
        "finetune_seconds": round(stats["seconds"], 1),
        "embed_seconds": round(embed_seconds, 1),
        "test_accuracy": round(float(correct.mean()), 4),
        "coverage_at_precision": round(coverage_at(args.precision, proba.max(axis=1), correct), 4),
        "with_lexicon_test_accuracy": round(float(joint_correct.mean()), 4),
        "with_lexicon_coverage_at_precision": round(
            coverage_at(args.precision, joint.max(axis=1), joint_correct), 4
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--seconds", nargs="+", type=float, default=[0.0, 40.0, 150.0], help="0: no tuning")
    parser.add_argument("--train", type=int, default=1500)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--max-steps", type=int, default=400)
    parser.add_argument("--label-noise", type=float, default=0.05)
    parser.add_argument("--precision", type=float, default=0.95)
    parser.add_argument("--c", type=float, default=1.0, help="logistic regression's inverse regularisation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    texts, labels, classes = read_texts(args.dataset)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(texts))
    train, test = order[: args.train], order[args.train : args.train + args.test]
    noisy = labels[train].copy()
    flip = rng.random(len(train)) < args.label_noise
    noisy[flip] = (noisy[flip] + rng.integers(1, len(classes), size=int(flip.sum()))) % len(classes)
    runs = [
        one_run(seconds, texts, labels, len(classes), train, test, noisy, args) for seconds in args.seconds
    ]
    base = runs[0]
    for run in runs:
        for key in (
            "test_accuracy",
            "coverage_at_precision",
            "with_lexicon_test_accuracy",
            "with_lexicon_coverage_at_precision",
        ):
            run[f"{key}_vs_baseline"] = round(float(run[key]) - float(base[key]), 4)
    result = {
        "dataset": args.dataset.name,
        "train": len(train),
        "test": len(test),
        "label_noise": args.label_noise,
        "baseline": f"finetune_cap_seconds={base['finetune_cap_seconds']}",
        "runs": runs,
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""The inference service's image CNN, offline: input side and soft crowd labels (issue 5).

Two comparisons on an image dataset of `../shared/datasets/content` (items.jsonl with `source-ref`, gold.csv),
each against a named baseline run in the same process, several seeds:

- `--sides 32 24 16`: accuracy on the rest of the dataset of `cnn_wide` trained on `--n-train` random objects
  with gold labels, and the training's wall time, per input side (baseline: the first side).
- `--crowd-labels OUT/output.manifest`: the human labels of a `quorum autolabel-bench` run (consolidated crowd
  labels with their confidence q): `--n-train` of them train the CNN with the bare labels (baseline) and
  with soft targets (nets.soft_targets: q on the label, 1 - q over the others); accuracy against gold on
  every object not trained on, and of the 50 % / 70 % the network is surest of.

    .venv/bin/python bench/image_training.py --dataset ../shared/datasets/content/sign-language-digits \
        --n-train 500 --sides 32 24 16
    .venv/bin/python bench/image_training.py --dataset ../shared/datasets/content/sign-language-digits \
        --n-train 500 --sides 24 --crowd-labels /tmp/al-sign/output.manifest
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/platform.py shadows the standard library's `platform` (which numpy imports): leave this folder out.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from quorum_inference.adapters import nets  # noqa: E402
from quorum_inference.adapters.features import ImageLoader  # noqa: E402


def out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def crowd_labels(manifest: Path) -> dict[str, tuple[str, float]]:
    """item -> (human label, its consolidated confidence) of an autolabel-bench output manifest."""
    labels = {}
    for line in manifest.read_text().splitlines():
        record = json.loads(line)
        meta = next(v for k, v in record.items() if k.endswith("-metadata"))
        if meta.get("human-annotated") == "yes":
            labels[record["item"]] = (meta["class-name"], float(meta["confidence"]))
    return labels


def score(
    model: torch.nn.Module, x: NDArray[np.float32], truth: NDArray[np.int64]
) -> tuple[float, float, float]:
    """Accuracy, and accuracy of the 50 % / 70 % most confident predictions."""
    p = torch.softmax(torch.as_tensor(nets.logits(model, x)), 1).numpy()
    right = p.argmax(1) == truth
    order = np.argsort(-p.max(1), kind="stable")
    top = [float(right[order[: int(f * len(order))]].mean()) for f in (0.5, 0.7)]
    return float(right.mean()), top[0], top[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--n-train", type=int, default=500)
    parser.add_argument("--sides", type=int, nargs="+", default=[32, 24, 16])
    parser.add_argument("--crowd-labels", type=Path, help="an autolabel-bench OUT/output.manifest")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--min-steps", type=int, default=600, help="the service's CNN_MIN_STEPS")
    args = parser.parse_args()
    items = [json.loads(line) for line in (args.dataset / "items.jsonl").read_text().splitlines()]
    with (args.dataset / "gold.csv").open(newline="") as f:
        gold = {r["item"]: r["label"] for r in csv.DictReader(f)}
    classes = sorted(set(gold.values()))
    ids = [it["item"] for it in items]
    truth = np.array([classes.index(gold[i]) for i in ids])
    uris = [str(args.dataset / it["source-ref"]) for it in items]
    crowd = crowd_labels(args.crowd_labels) if args.crowd_labels else {}
    pool = np.array([k for k, i in enumerate(ids) if i in crowd]) if crowd else np.arange(len(ids))
    config = nets.TrainConfig(epochs=30, min_steps=args.min_steps)
    cpu = torch.device("cpu")
    results: dict[str, list[tuple[float, float, float, float]]] = {}
    for side in args.sides:
        x = ImageLoader(side).load(uris)
        arch = nets.Arch("cnn_wide", (3, side, side), len(classes))
        for seed in range(args.seeds):
            train = np.random.default_rng(seed).permutation(pool)[: args.n_train]
            test = np.setdiff1d(np.arange(len(ids)), train)
            if crowd:
                y = np.array([classes.index(crowd[ids[k]][0]) for k in train])
                q = np.array([crowd[ids[k]][1] for k in train])
                runs = {f"side {side}, crowd labels": None, f"side {side}, soft crowd labels": q}
            else:
                y, runs = truth[train], {f"side {side}, gold labels": None}
            for name, confidence in runs.items():
                started = time.perf_counter()
                model = nets.train(
                    arch,
                    x[train],
                    y,
                    replace(config, seed=seed),
                    device=cpu,
                    confidence=confidence,
                )
                wall = time.perf_counter() - started
                results.setdefault(name, []).append((*score(model, x[test], truth[test]), wall))
    baseline = next(iter(results))
    base_acc = np.mean([r[0] for r in results[baseline]])
    base_wall = np.mean([r[3] for r in results[baseline]])
    out(f"{args.dataset.name}: {args.n_train} training objects, {args.seeds} seeds; baseline: {baseline}")
    for name, rows in results.items():
        acc, top50, top70, wall = (np.mean([r[i] for r in rows]) for i in range(4))
        out(
            f"{name:34s} accuracy {acc:.4f} ({acc - base_acc:+.4f})  top-50% {top50:.4f}  "
            f"top-70% {top70:.4f}  train {wall:5.1f} s ({wall / base_wall:.2f}x)"
        )


if __name__ == "__main__":
    main()

"""The skill of real crowd workers, for simulated workers (`quorum autolabel-bench`).

For every worker of `../shared/datasets/crowd/*` with at least MIN_GOLD answers on gold items, its accuracy
against gold is turned into a chance-corrected skill s = (acc - 1/k) / (1 - 1/k) (k classes of the dataset),
so that one distribution serves datasets with any number of classes: a simulated worker of skill s on k
classes answers right with probability 1/k + s (1 - 1/k). Prints the 21 quantiles (0, 5, ..., 100 %) of the
pooled skills, weighting each dataset equally, which quorum_cli.simulation.CROWD_SKILL_QUANTILES holds.

    .venv/bin/python bench/crowd_worker_skill.py [--root ../shared/datasets/crowd]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/platform.py shadows the standard library's `platform` (which numpy imports): leave this folder out.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse  # noqa: E402
import csv  # noqa: E402
from collections import defaultdict  # noqa: E402

import numpy as np  # noqa: E402

MIN_GOLD = 20


def worker_skills(folder: Path) -> np.ndarray:
    with (folder / "gold.csv").open(newline="") as f:
        gold = {r["item"]: r["label"] for r in csv.DictReader(f)}
    right: dict[str, list[bool]] = defaultdict(list)
    classes = set(gold.values())
    with (folder / "labels.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            classes.add(r["label"])
            if r["item"] in gold:
                right[r["worker"]].append(r["label"] == gold[r["item"]])
    k = len(classes)
    acc = np.array([np.mean(v) for v in right.values() if len(v) >= MIN_GOLD])
    return (acc - 1 / k) / (1 - 1 / k)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--root", type=Path, default=Path(__file__).resolve().parents[2] / "shared/datasets/crowd"
    )
    args = parser.parse_args()
    pooled, weights = [], []
    for folder in sorted(
        p for p in args.root.iterdir() if (p / "gold.csv").exists() and (p / "labels.csv").exists()
    ):
        s = worker_skills(folder)
        sys.stdout.write(
            f"{folder.name:20s} workers {len(s):4d}  skill median {np.median(s):.3f}  mean {s.mean():.3f}\n"
        )
        pooled.append(s)
        weights.append(np.full(len(s), 1.0 / len(s)))
    skills, w = np.concatenate(pooled), np.concatenate(weights)
    order = np.argsort(skills)
    cdf = np.cumsum(w[order]) / w.sum()
    quantiles = np.interp(np.linspace(0, 1, 21), cdf, skills[order])
    sys.stdout.write("quantiles: (" + ", ".join(f"{q:.3f}" for q in np.clip(quantiles, 0.0, 1.0)) + ")\n")


if __name__ == "__main__":
    main()

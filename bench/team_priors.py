"""Worker priors carried over from an earlier job of the same team, measured on real crowd data with gold.

For every dataset of `--datasets` (default ../shared/datasets/crowd; folders with labels.csv item,worker,label
and gold.csv item,label, read in place) and every seed: the items are shuffled and split into an "earlier job"
(`--earlier` share of the items, with all their answers) and a "later" part, fitted as the platform fits a job
(`core.adaptive.fit_worker_model(method="auto")`; labels and confidences: `core.streaming.label_with_model`):

- the earlier job is fitted, and what its model learned per worker (`core.team_priors.learned_skills`: the
  expected confusion counts under its posteriors) is what the service stores;
- the later part is cut into jobs of `--sizes` items each (at most `--max-jobs` of them per size, chosen at
  random; "half" = all of it as one job), and each later job is fitted three ways:
  `none` (no prior: what a new job gets today), `prior` (`team_prior` of the earlier job's skills, at most
  `--weight` answers' worth per worker: the same category set, so confusion counts carry over) and
  `skill` (only the one-coin skill carries over, as between jobs with different categories: the earlier
  job's categories renamed).

Scores, on the gold items of the later jobs (pooled per seed, then the mean over seeds): accuracy (%) and
top-label ECE (%, 15 bins) of the confidences.

    .venv/bin/python bench/team_priors.py [--seeds 3] [--sizes 10,30,half] [--weight 20] [--datasets DIR]
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
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from quorum_consolidation.core.adaptive import fit_worker_model, posteriors  # noqa: E402
from quorum_consolidation.core.answers import Answers  # noqa: E402
from quorum_consolidation.core.calibration import expected_calibration_error  # noqa: E402
from quorum_consolidation.core.side_info import ConfusionPrior  # noqa: E402
from quorum_consolidation.core.streaming import label_with_model  # noqa: E402
from quorum_consolidation.core.team_priors import WorkerSkill, learned_skills, team_prior  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets" / "crowd"
VARIANTS = ("none", "prior", "skill")


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def read_csv(path: Path, columns: tuple[str, ...]) -> list[tuple[str, ...]]:
    with path.open(newline="") as f:
        return [tuple(row[c] for c in columns) for row in csv.DictReader(f)]


def discover(datasets: Path) -> list[Path]:
    return [
        folder
        for folder in sorted(datasets.iterdir())
        if (folder / "labels.csv").is_file() and (folder / "gold.csv").is_file()
    ]


def subset(rows: np.ndarray, items: set[str], categories: tuple[str, ...]) -> Answers:
    """The answers (rows item, worker, label) on these items."""
    keep = np.fromiter((r in items for r in rows[:, 0].tolist()), dtype=bool, count=rows.shape[0])
    part = rows[keep]
    return Answers.from_arrays(part[:, 0], part[:, 1], part[:, 2], categories)


def renamed(skills: list[WorkerSkill]) -> list[WorkerSkill]:
    """The skills as if the earlier job had other categories (only the one-coin skill then carries over)."""
    return [
        WorkerSkill(s.worker_id, s.job_id, tuple(f"other:{c}" for c in s.categories), s.n_answers, s.counts)
        for s in skills
    ]


def run_dataset(folder: Path, seeds: int, sizes: list[str], earlier: float, weight: float, max_jobs: int):  # noqa: ANN201
    # A worker's repeated answer to an item is dropped (the platform keeps the first per object and worker).
    table: dict[tuple[str, str], str] = {}
    for item, worker, label in read_csv(folder / "labels.csv", ("item", "worker", "label")):
        table.setdefault((item, worker), label)
    rows = np.asarray([(i, w, lab) for (i, w), lab in table.items()], dtype=object)
    gold = dict(read_csv(folder / "gold.csv", ("item", "label")))
    categories = tuple(sorted({*rows[:, 2].tolist(), *gold.values()}))
    items = np.asarray(sorted(set(rows[:, 0].tolist())), dtype=object)
    # results[size][variant] = list over seeds of (accuracy, ece, gold items scored)
    results: dict[str, dict[str, list[tuple[float, float, int]]]] = {
        size: {v: [] for v in VARIANTS} for size in sizes
    }
    workers_known: dict[str, list[float]] = {size: [] for size in sizes}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        order = rng.permutation(items.shape[0])
        n_earlier = int(round(earlier * items.shape[0]))
        first = set(items[order[:n_earlier]].tolist())
        later = items[order[n_earlier:]]
        earlier_job = subset(rows, first, categories)
        model = fit_worker_model(earlier_job, method="auto")
        skills = learned_skills(earlier_job, posteriors(model, earlier_job, temper=False), "earlier")
        priors = {"prior": skills, "skill": renamed(skills)}
        for size in sizes:
            chunk = later.shape[0] if size == "half" else int(size)
            jobs = [later[i : i + chunk] for i in range(0, later.shape[0] - chunk + 1, chunk)]
            if len(jobs) > max_jobs:
                jobs = [jobs[j] for j in sorted(rng.choice(len(jobs), max_jobs, replace=False).tolist())]
            pred: dict[str, dict[str, tuple[str, float]]] = {v: {} for v in VARIANTS}
            known_share = []
            for job_items in jobs:
                job = subset(rows, set(job_items.tolist()), categories)
                for variant in VARIANTS:
                    prior: ConfusionPrior | None = None
                    if variant != "none":
                        prior = team_prior(priors[variant], job.worker_ids, categories, max_weight=weight)
                        if variant == "prior":
                            known = 0 if prior is None else len(prior.worker_ids)
                            known_share.append(known / max(job.n_workers, 1))
                    fitted = fit_worker_model(job, method="auto", prior=prior)
                    labels, conf, _ = label_with_model(fitted, job)
                    oids = job.object_ids.tolist()
                    for oid, c, p in zip(oids, labels.tolist(), conf.tolist(), strict=True):
                        pred[variant][str(oid)] = (categories[c], p)
            workers_known[size].append(float(np.mean(known_share)) if known_share else 0.0)
            for variant in VARIANTS:
                scored = [o for o in pred[variant] if o in gold]
                if not scored:
                    continue
                right = np.array([pred[variant][o][0] == gold[o] for o in scored])
                confidence = np.array([pred[variant][o][1] for o in scored])
                acc = 100.0 * float(right.mean())
                ece = 100.0 * expected_calibration_error(confidence, right)
                results[size][variant].append((acc, ece, len(scored)))
    return results, workers_known


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--only", default="", help="comma-separated dataset names (default: all)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sizes", default="10,30,half", help="items per later job; 'half': one later job")
    parser.add_argument("--earlier", type=float, default=0.5, help="share of the items in the earlier job")
    parser.add_argument("--weight", type=float, default=20.0, help="most answers' worth of prior per worker")
    parser.add_argument("--max-jobs", type=int, default=40, help="most later jobs per size and seed")
    args = parser.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    only = {s for s in args.only.split(",") if s}
    out = sys.stdout.write
    out(
        f"team priors: earlier job = {args.earlier:.0%} of the items, weight <= {args.weight:g} answers per "
        f"worker, seeds 0..{args.seeds - 1}, at most {args.max_jobs} later jobs per size\n"
    )
    out(
        f"{'dataset':<20}{'later job':>10}{'known':>7}  "
        + "".join(f"{'acc ' + v:>11}{'ECE ' + v:>11}" for v in VARIANTS)
        + f"{'gold':>7}{'s':>7}\n"
    )
    summary: dict[str, list[list[float]]] = {}
    for folder in discover(args.datasets):
        if only and folder.name not in only:
            continue
        started = time.perf_counter()
        results, known = run_dataset(folder, args.seeds, sizes, args.earlier, args.weight, args.max_jobs)
        seconds = time.perf_counter() - started
        for size in sizes:
            cells: list[Any] = []
            line = []
            for variant in VARIANTS:
                per_seed = results[size][variant]
                acc = float(np.mean([r[0] for r in per_seed])) if per_seed else float("nan")
                ece = float(np.mean([r[1] for r in per_seed])) if per_seed else float("nan")
                cells += [f"{acc:>11.2f}", f"{ece:>11.2f}"]
                line += [acc, ece]
            n_gold = int(np.mean([r[2] for r in results[size]["none"]])) if results[size]["none"] else 0
            summary.setdefault(size, []).append(line)
            out(
                f"{folder.name:<20}{size:>10}{100 * float(np.mean(known[size])):>6.0f}%  "
                + "".join(cells)
                + f"{n_gold:>7}{seconds:>7.0f}\n"
            )
    for size, lines in summary.items():
        mean = np.nanmean(np.asarray(lines), axis=0)
        out(f"{'mean':<20}{size:>10}{'':>7}  " + "".join(f"{v:>11.2f}" for v in mean) + "\n")


if __name__ == "__main__":
    main()

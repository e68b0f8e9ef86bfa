"""Adaptive redundancy replayed on real crowd data: answers a target confidence saves, and at what accuracy.

    .venv/bin/python bench/adaptive_redundancy.py                     # every dataset, DS + auto scoring
    .venv/bin/python bench/adaptive_redundancy.py --no-auto           # Dawid-Skene scoring only (faster)
    .venv/bin/python bench/adaptive_redundancy.py --datasets-only temp,face --seeds 3

Datasets: every folder of `--datasets` (default ../shared/datasets/crowd next to the repository) holding
labels.csv (item,worker,label) and gold.csv (item,label), read in place. Accuracy = share of gold items whose
consolidated label is the gold one.

Replay (per dataset, target and seed): each object's real answers are put in a fixed random order (seeded);
objects are served in rounds (each round, every object that still needs an answer gets its next one, objects
in random order, in chunks of 5% of the objects); after each chunk the policy (`AdaptivePolicy`: target, min
answers, max = the dataset's most answers per object, capped at 10) decides per object whether to ask for
another. The worker model (`fit_worker_model`: Dawid-Skene with mild hierarchical priors, one-coin while too
few objects overlap) is re-estimated from all answers revealed so far whenever they have grown by
`--refit-growth` (default 10%) since the last fit, warm-started from the previous model, the way a live job
would. An object whose real answers run out before the policy is satisfied simply stops there (it has no more
answers to reveal; real answers are never invented). When the replay ends, the job's output is the
consolidation of all revealed answers with the same Dawid-Skene (and with `AutoDawidSkene`).

Baselines, on the same orders: fixed N = 1, 2, ... up to max(the dataset's median answers per object, the
policy's max): the first N answers of every object (objects with fewer answers keep all of theirs),
consolidated by the same Dawid-Skene and by auto.

Headline: among the adaptive runs whose accuracy (DS scoring) is at least the best fixed N's, the fewest
answers, as "% answers saved" against the smallest fixed N that reaches that best accuracy.

A PNG (accuracy vs answers per object, fixed N and adaptive, one panel per dataset) is written to `--plot`
only if matplotlib is importable; the project does not depend on it, so otherwise the plot is skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/platform.py shadows the standard library's `platform` (which numpy imports) for scripts run from this
# folder: take the folder off the import path first.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets" / "crowd"
ORDER = ["temp", "face", "music_genre", "sentiment_polarity", "possent", "adult"]
TARGETS = (0.7, 0.8, 0.9, 0.95, 0.97, 0.99, 0.995, 0.999)
CHUNK_SHARE = 0.05

sys.path[:0] = [str(ROOT / "services" / "consolidation" / "src"), str(ROOT / "cli" / "src")]

from quorum_consolidation.core.adaptive import (  # noqa: E402
    ADAPTIVE_DS_PARAMS,
    MAX_ANSWERS_LIMIT,
    AdaptivePolicy,
    WorkerModel,
    decide,
    fit_worker_model,
)
from quorum_consolidation.core.answers import Answers  # noqa: E402
from quorum_consolidation.core.auto import AutoDawidSkene  # noqa: E402
from quorum_consolidation.core.dawid_skene import DawidSkene  # noqa: E402


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


@dataclass
class Ordered:
    """A dataset's answers sorted by (object, seeded random rank)."""

    answers: Answers  # in the new order
    rank: np.ndarray  # int64 [m]: position of the answer within its object's order
    counts: np.ndarray  # int64 [n]: real answers per object
    gold: np.ndarray  # int64 [n]: gold class index, -1 where none
    n_gold: int  # gold items (including any with no answers: those count as wrong)


def order_answers(answers: Answers, gold: np.ndarray, n_gold: int, seed: int) -> Ordered:
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(answers.n_answers), answers.objects))
    objects = answers.objects[order]
    ordered = Answers(objects, answers.workers[order], answers.classes[order], answers.object_ids,
                      answers.worker_ids, answers.categories)
    counts = answers.answer_counts()
    start = np.cumsum(counts) - counts
    rank = np.arange(answers.n_answers) - start[objects]
    return Ordered(ordered, rank, counts, gold, n_gold)


def subset(answers: Answers, keep: np.ndarray) -> tuple[Answers, np.ndarray]:
    """The kept answers, objects and workers re-indexed compactly; and the original index of each object."""
    objects, workers = answers.objects[keep], answers.workers[keep]
    obj_index, new_objects = np.unique(objects, return_inverse=True)
    wrk_index, new_workers = np.unique(workers, return_inverse=True)
    sub = Answers(new_objects.astype(np.int64).ravel(), new_workers.astype(np.int64).ravel(),
                  answers.classes[keep], answers.object_ids[obj_index], answers.worker_ids[wrk_index],
                  answers.categories)
    return sub, obj_index


def accuracy(labels: np.ndarray, objects: np.ndarray, data: Ordered) -> float:
    """% of gold items right; `labels[i]` is the label of original object `objects[i]`."""
    gold = data.gold[objects]
    return 100.0 * float(((gold >= 0) & (labels == gold)).sum()) / data.n_gold


def consolidate(sub: Answers, objects: np.ndarray, data: Ordered, with_auto: bool) -> dict[str, float]:
    out = {}
    ds = DawidSkene(**dict(ADAPTIVE_DS_PARAMS)).fit(sub)
    assert ds.labels_ is not None
    out["ds"] = accuracy(ds.labels_, objects, data)
    if with_auto:
        auto = AutoDawidSkene().fit(sub)
        assert auto.labels_ is not None
        out["auto"] = accuracy(auto.labels_, objects, data)
    return out


def fixed_n(data: Ordered, n: int, with_auto: bool) -> dict[str, Any]:
    sub, objects = subset(data.answers, data.rank < n)
    res = consolidate(sub, objects, data, with_auto)
    return {"n": n, "answers": sub.n_answers, "per_object": sub.n_answers / data.answers.n_objects, **res}


def replay(
    data: Ordered, policy: AdaptivePolicy, seed: int, refit_growth: float, with_auto: bool
) -> dict[str, Any]:
    """One adaptive job on the dataset's real answers (see the module docstring)."""
    answers = data.answers
    n = answers.n_objects
    rng = np.random.default_rng(seed + 1_000_003)
    revealed = np.zeros(n, dtype=np.int64)
    limit = np.minimum(data.counts, policy.max_answers)
    done = np.zeros(n, dtype=bool)
    online_label = np.full(n, -1, dtype=np.int64)
    model: WorkerModel = fit_worker_model(subset(answers, np.zeros(answers.n_answers, bool))[0])
    last_fit, fits, fit_seconds = 0, 0, 0.0
    chunk_size = max(1, int(round(CHUNK_SHARE * n)))
    min_step = chunk_size
    while True:
        active = np.flatnonzero(~done & (revealed < limit))
        if active.shape[0] == 0:
            break
        active = rng.permutation(active)
        for chunk in np.array_split(active, -(-active.shape[0] // chunk_size)):
            revealed[chunk] += 1
            total = int(revealed.sum())
            if total >= max(last_fit * (1.0 + refit_growth), last_fit + min_step):
                started = time.perf_counter()
                model = fit_worker_model(subset(answers, data.rank < revealed[answers.objects])[0],
                                         previous=model)
                fit_seconds += time.perf_counter() - started
                last_fit, fits = total, fits + 1
            in_chunk = np.zeros(n, dtype=bool)
            in_chunk[chunk] = True
            keep = in_chunk[answers.objects] & (data.rank < revealed[answers.objects])
            sub, objects = subset(answers, keep)
            decision = decide(policy, model, sub)
            done[objects] = decision.done
            online_label[objects] = decision.label
    ran_out = int(((revealed == data.counts) & (revealed < policy.max_answers) & ~done).sum())
    sub, objects = subset(answers, data.rank < revealed[answers.objects])
    res = consolidate(sub, objects, data, with_auto)
    return {
        "target": policy.target_confidence, "answers": sub.n_answers, "per_object": sub.n_answers / n,
        **res, "online": accuracy(online_label[objects], objects, data), "ran_out": ran_out, "fits": fits,
        "fit_seconds": fit_seconds, "stopped_at_max": int((revealed >= policy.max_answers).sum()),
    }


def mean_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool) and key not in ("n", "target"):
            out[key] = float(np.mean([r[key] for r in runs]))
    return out


def headline(
    fixed: list[dict[str, Any]], adaptive: list[dict[str, Any]], slack: float = 0.0
) -> dict[str, Any]:
    best_acc = max(f["ds"] for f in fixed)
    ref = min((f for f in fixed if f["ds"] >= best_acc - 1e-9), key=lambda f: f["answers"])
    hits = [a for a in adaptive if a["ds"] >= best_acc - slack - 1e-9]
    if not hits:
        return {"best_fixed_n": ref["n"], "best_fixed_acc": best_acc, "reached": False}
    top = min(hits, key=lambda a: a["answers"])
    return {
        "best_fixed_n": ref["n"], "best_fixed_acc": best_acc, "best_fixed_answers": ref["answers"],
        "reached": True, "target": top["target"], "answers": top["answers"], "acc": top["ds"],
        "saved_pct": 100.0 * (1.0 - top["answers"] / ref["answers"]),
    }


def versus_fixed(
    fixed: list[dict[str, Any]], adaptive: list[dict[str, Any]], n: int
) -> dict[str, Any] | None:
    """The fewest answers at which adaptive reaches fixed N=`n`'s accuracy (DS scoring), and the saving."""
    ref = next((f for f in fixed if f["n"] == n), None)
    if ref is None:
        return None
    hits = [a for a in adaptive if a["ds"] >= ref["ds"] - 1e-9]
    if not hits:
        return {"n": n, "acc": ref["ds"], "answers": ref["answers"], "reached": False}
    top = min(hits, key=lambda a: a["answers"])
    return {
        "n": n, "acc": ref["ds"], "answers": ref["answers"], "reached": True, "target": top["target"],
        "adaptive_answers": top["answers"], "adaptive_acc": top["ds"],
        "saved_pct": 100.0 * (1.0 - top["answers"] / ref["answers"]),
    }


def run_dataset(
    name: str, labels_csv: Path, gold_csv: Path, seeds: int, targets: tuple[float, ...], min_answers: int,
    refit_growth: float, with_auto: bool,
) -> dict[str, Any]:
    from quorum_cli.consolidate_cmd import read_answers, read_labels  # noqa: PLC0415

    answers = read_answers(labels_csv, duplicates="last")
    gold_map = read_labels(gold_csv)
    cat_index = {c: i for i, c in enumerate(answers.categories)}
    gold = np.array([cat_index.get(gold_map.get(str(o), ""), -1) if str(o) in gold_map else -1
                     for o in answers.object_ids.tolist()], dtype=np.int64)
    counts = answers.answer_counts()
    policy_max = int(min(counts.max(), MAX_ANSWERS_LIMIT))
    n_max = int(max(np.ceil(np.median(counts)), policy_max))
    fixed_runs: list[list[dict[str, Any]]] = [[] for _ in range(n_max)]
    adaptive_runs: list[list[dict[str, Any]]] = [[] for _ in targets]
    for seed in range(seeds):
        data = order_answers(answers, gold, len(gold_map), seed)
        for i in range(n_max):
            fixed_runs[i].append(fixed_n(data, i + 1, with_auto))
        for j, target in enumerate(targets):
            policy = AdaptivePolicy(target, min(min_answers, policy_max), policy_max)
            adaptive_runs[j].append(replay(data, policy, seed, refit_growth, with_auto))
            last = adaptive_runs[j][-1]
            log(f"  {name} seed {seed} target {target}: {last['per_object']:.2f} answers/object, "
                f"DS {last['ds']:.2f}%")
    fixed = [mean_runs(r) for r in fixed_runs]
    adaptive = [mean_runs(r) for r in adaptive_runs]
    return {
        "objects": answers.n_objects, "answers": answers.n_answers, "gold": len(gold_map),
        "policy_max": policy_max, "min_answers": min(min_answers, policy_max), "fixed": fixed,
        "adaptive": adaptive, "headline": headline(fixed, adaptive),
        "headline_half_pp": headline(fixed, adaptive, slack=0.5),
        "versus": [v for v in (versus_fixed(fixed, adaptive, n) for n in (3, 5)) if v is not None],
    }


def print_results(results: dict[str, Any], with_auto: bool) -> None:
    out = sys.stdout
    for name, res in results.items():
        out.write(f"\n## {name}: {res['objects']:,} objects, {res['answers']:,} answers, "
                  f"{res['gold']:,} gold; policy min {res['min_answers']}, max {res['policy_max']}\n\n")
        cols = "| run | answers | answers/object | acc DS % |" + (" acc auto % |" if with_auto else "")
        out.write(cols + " online acc % | objects ran out | refits |\n")
        out.write("|---" * (cols.count("|") - 1 + 3) + "|\n")
        for f in res["fixed"]:
            auto = f" {f['auto']:.2f} |" if with_auto else ""
            out.write(f"| fixed N={f['n']} | {f['answers']:,.0f} | {f['per_object']:.2f} | "
                      f"{f['ds']:.2f} |{auto} | | |\n")
        for a in res["adaptive"]:
            auto = f" {a['auto']:.2f} |" if with_auto else ""
            out.write(f"| adaptive t={a['target']} | {a['answers']:,.0f} | {a['per_object']:.2f} | "
                      f"{a['ds']:.2f} |{auto} {a['online']:.2f} | {a['ran_out']:.0f} | {a['fits']:.0f} |\n")
    out.write("\n## Headline: fewest answers at which adaptive reaches the best fixed N's accuracy "
              "(DS scoring)\n\n")
    out.write("| dataset | best fixed N | its accuracy % | its answers | adaptive target | answers | "
              "accuracy % | answers saved | (within 0.5 pp: target, saved) |\n"
              "|---|---|---|---|---|---|---|---|---|\n")
    for name, res in results.items():
        h, h5 = res["headline"], res["headline_half_pp"]
        loose = f"{h5['target']}, {h5['saved_pct']:.1f}%" if h5["reached"] else "not reached"
        if h["reached"]:
            out.write(f"| {name} | {h['best_fixed_n']} | {h['best_fixed_acc']:.2f} | "
                      f"{h['best_fixed_answers']:,.0f} | {h['target']} | {h['answers']:,.0f} | "
                      f"{h['acc']:.2f} | {h['saved_pct']:.1f}% | {loose} |\n")
        else:
            best = max(res["adaptive"], key=lambda a: a["ds"])
            out.write(f"| {name} | {h['best_fixed_n']} | {h['best_fixed_acc']:.2f} | | not reached (best "
                      f"{best['ds']:.2f} at t={best['target']}) | | | - | {loose} |\n")


    out.write("\n## Against the usual fixed redundancies (N=3, N=5): fewest answers at which adaptive "
              "reaches their accuracy (DS scoring)\n\n")
    out.write("| dataset | fixed N | its accuracy % | its answers | adaptive target | answers | accuracy % | "
              "answers saved |\n|---|---|---|---|---|---|---|---|\n")
    for name, res in results.items():
        for v in res.get("versus", []):
            head = f"| {name} | {v['n']} | {v['acc']:.2f} | {v['answers']:,.0f} |"
            if v["reached"]:
                out.write(f"{head} {v['target']} | {v['adaptive_answers']:,.0f} | {v['adaptive_acc']:.2f} | "
                          f"{v['saved_pct']:.1f}% |\n")
            else:
                out.write(f"{head} not reached | | | - |\n")


def plot(results: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        log("matplotlib is not installed: plot skipped (the project does not depend on it)")
        return
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.6), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items(), strict=True):
        fixed = res["fixed"]
        ax.plot([f["per_object"] for f in fixed], [f["ds"] for f in fixed], "o-", label="fixed N")
        ad = sorted(res["adaptive"], key=lambda a: a["per_object"])
        ax.plot([a["per_object"] for a in ad], [a["ds"] for a in ad], "s-", label="adaptive")
        ax.set_title(name)
        ax.set_xlabel("answers per object")
        ax.set_ylabel("accuracy on gold %")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    log(f"plot written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--datasets-only", help="Comma-separated dataset names.")
    parser.add_argument("--seeds", type=int, default=1, help="Answer orders replayed (results averaged).")
    parser.add_argument("--targets", default=",".join(map(str, TARGETS)))
    parser.add_argument("--min-answers", type=int, default=1)
    parser.add_argument("--refit-growth", type=float, default=0.1)
    parser.add_argument("--no-auto", action="store_true", help="Score with Dawid-Skene only.")
    parser.add_argument("--plot", type=Path, default=ROOT / "bench" / "adaptive_redundancy.png")
    parser.add_argument("--json", type=Path, help="Also write all results here.")
    args = parser.parse_args()

    targets = tuple(float(t) for t in args.targets.split(","))
    only = set(args.datasets_only.split(",")) if args.datasets_only else None
    found = []
    for folder in sorted(args.datasets.iterdir()) if args.datasets.is_dir() else []:
        if (folder / "labels.csv").is_file() and (folder / "gold.csv").is_file():
            if only is None or folder.name in only:
                found.append(folder)
    found.sort(key=lambda f: (ORDER.index(f.name) if f.name in ORDER else len(ORDER), f.name))
    if not found:
        log(f"no datasets under {args.datasets}")
        return
    results: dict[str, Any] = {}
    for folder in found:
        started = time.perf_counter()
        log(f"{folder.name} ...")
        results[folder.name] = run_dataset(
            folder.name, folder / "labels.csv", folder / "gold.csv", args.seeds, targets, args.min_answers,
            args.refit_growth, not args.no_auto,
        )
        log(f"{folder.name}: {time.perf_counter() - started:.1f} s")
    print_results(results, not args.no_auto)
    plot(results, args.plot)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()

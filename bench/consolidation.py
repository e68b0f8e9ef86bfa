"""Consolidation benchmark: Quorum's aggregators against crowd-kit 1.4.2 on real crowd data with gold, and a
1,000,000-answer synthetic speed run.

    .venv/bin/python bench/consolidation.py                 # everything (crowd-kit part: several minutes)
    .venv/bin/python bench/consolidation.py --no-crowdkit   # ours only
    .venv/bin/python bench/consolidation.py --no-speed      # the real datasets only
    .venv/bin/python bench/consolidation.py --speed-only [--skip-crowdkit-speed]

Datasets: every folder of `--datasets` (default ../shared/datasets/crowd next to the repository) holding
labels.csv (item,worker,label) and gold.csv (item,label), read in place. Score = accuracy over the gold items
(a gold item without a prediction counts as wrong) and ECE of the confidence (max posterior; 15 equal-width
bins), seconds of fit (ours: best of `--repeat`).

crowd-kit needs scikit-learn<1.6 and pandas<3, which conflict with the project's environment, so it runs in
its own virtual environment, bench/.venv-crowdkit (git-ignored; created here on first use with
`python -m venv` + `pip install crowd-kit==1.4.2 "scikit-learn<1.6" "pandas<3"`), in a subprocess of this
script (`--crowdkit-worker`), exchanging JSON. If it cannot be installed, the benchmark runs ours alone and
says so.

Speed run: 200,000 objects x 5 answers from 2,000 workers with random confusion matrices, 5 classes (seeded):
our DawidSkene for exactly 20 EM iterations (best and median of `--repeat`), majority vote, auto, crowd-kit's
DawidSkene for 20 iterations in the same run (the ratio), and the whole `quorum consolidate` command on the
CSV in a fresh interpreter (wall time and peak memory).
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
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets" / "crowd"
CROWDKIT_VENV = ROOT / "bench" / ".venv-crowdkit"
CROWDKIT_REQUIREMENTS = ["crowd-kit==1.4.2", "scikit-learn<1.6", "pandas<3"]
CROWDKIT_METHODS = ["MV", "Wawa", "DS", "OneCoinDS", "GLAD", "MACE", "ZBS"]

#: crowd-kit 1.4.2's best accuracy per dataset, from shared/datasets/README.md (the numbers to beat).
README_BEST = {
    "temp": 94.37,
    "face": 64.04,
    "music_genre": 80.00,
    "sentiment_polarity": 91.66,
    "possent": 96.00,
    "adult": 76.58,
}
OUR_METHODS = ["mv", "ds", "one_coin_ds", "glad", "mace", "auto"]

SYNTH = {"objects": 200_000, "per_object": 5, "workers": 2_000, "classes": 5, "seed": 0}


# ----------------------------------------------------------------------------------------------------
# crowd-kit side: runs inside bench/.venv-crowdkit (only stdlib, numpy, pandas and crowdkit imported here)
# ----------------------------------------------------------------------------------------------------
def crowdkit_worker(request_path: str) -> None:
    import pandas as pd  # noqa: PLC0415 - only in the crowd-kit interpreter
    from crowdkit.aggregation import (  # noqa: PLC0415
        GLAD,
        MACE,
        DawidSkene,
        MajorityVote,
        OneCoinDawidSkene,
        Wawa,
        ZeroBasedSkill,
    )

    request = json.loads(Path(request_path).read_text())
    factories = {
        "MV": MajorityVote,
        "Wawa": Wawa,
        "DS": DawidSkene,
        "OneCoinDS": OneCoinDawidSkene,
        "GLAD": GLAD,
        "MACE": MACE,
        "ZBS": ZeroBasedSkill,
    }
    out: dict[str, Any] = {}
    for job in request["jobs"]:
        df = pd.read_csv(job["labels"], dtype=str, keep_default_na=False).rename(columns={"item": "task"})
        df = df[["task", "worker", "label"]]
        results = {}
        for method in job["methods"]:
            kwargs = job.get("kwargs", {}).get(method, {})
            if "tol" in kwargs and kwargs["tol"] == "-inf":
                kwargs = {**kwargs, "tol": float("-inf")}
            agg = factories[method](**kwargs)
            started = time.perf_counter()
            try:
                probas = agg.fit_predict_proba(df)
            except Exception as err:  # noqa: BLE001 - report and go on with the other methods
                results[method] = {"error": f"{type(err).__name__}: {err}"}
                continue
            seconds = time.perf_counter() - started
            labels = probas.idxmax(axis=1)
            results[method] = {
                "seconds": seconds,
                "labels": dict(zip(map(str, labels.index), map(str, labels.values), strict=True)),
                "confidence": dict(
                    zip(map(str, probas.index), map(float, probas.max(axis=1).values), strict=True)
                ),
            }
        out[job["name"]] = results
    Path(request["output"]).write_text(json.dumps(out))


def ensure_crowdkit() -> tuple[Path | None, str]:
    """The crowd-kit interpreter, creating its venv on first use; (None, why) if that fails."""
    python = CROWDKIT_VENV / "bin" / "python"
    check = [str(python), "-c", "import crowdkit, sklearn, pandas; print(crowdkit.__version__)"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python, "ok"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(CROWDKIT_VENV)], check=True, capture_output=True)
        (CROWDKIT_VENV / ".gitignore").write_text("*\n")  # keep the venv out of git
        log(f"installing {' '.join(CROWDKIT_REQUIREMENTS)} into {CROWDKIT_VENV} ...")
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *CROWDKIT_REQUIREMENTS],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", "") or str(err)
        return None, f"crowd-kit could not be installed: {detail.strip().splitlines()[-1:]}"
    if subprocess.run(check, capture_output=True).returncode != 0:
        return None, "crowd-kit installed but does not import"
    return python, "ok"


def run_crowdkit(python: Path, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="quorum-bench-") as tmp:
        request = Path(tmp) / "request.json"
        output = Path(tmp) / "out.json"
        request.write_text(json.dumps({"jobs": jobs, "output": str(output)}))
        proc = subprocess.run(
            [str(python), __file__, "--crowdkit-worker", str(request)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(f"crowd-kit worker failed: {proc.stderr.strip()[-2000:]}")
        return json.loads(output.read_text())


# ----------------------------------------------------------------------------------------------------
# our side
# ----------------------------------------------------------------------------------------------------
def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def discover(datasets: Path) -> list[tuple[str, Path, Path]]:
    found = []
    for folder in sorted(datasets.iterdir()) if datasets.is_dir() else []:
        labels, gold = folder / "labels.csv", folder / "gold.csv"
        if labels.is_file() and gold.is_file():
            found.append((folder.name, labels, gold))
    order = {name: i for i, name in enumerate(README_BEST)}
    return sorted(found, key=lambda f: (order.get(f[0], len(order)), f[0]))


def score_labels(pred: dict[str, str], conf: dict[str, float], gold: dict[str, str]) -> tuple[float, float]:
    from quorum_cli.consolidate_cmd import expected_calibration_error  # noqa: PLC0415

    hits = [o for o in gold if o in pred]
    correct = np.array([pred[o] == gold[o] for o in hits], dtype=bool)
    confidence = np.array([conf[o] for o in hits], dtype=np.float64)
    return 100.0 * float(correct.sum()) / len(gold), 100.0 * expected_calibration_error(confidence, correct)


def run_ours(labels_csv: Path, gold: dict[str, str], repeat: int) -> dict[str, dict[str, Any]]:
    from quorum_cli.consolidate_cmd import make_method, read_answers  # noqa: PLC0415

    answers = read_answers(labels_csv)
    ids = [str(o) for o in answers.object_ids.tolist()]
    out = {}
    for name in OUR_METHODS:
        times = []
        for _ in range(repeat if name not in ("glad",) else 1):
            agg = make_method(name)
            started = time.perf_counter()
            agg.fit(answers)
            times.append(time.perf_counter() - started)
        assert agg.labels_ is not None
        pred = dict(zip(ids, (answers.categories[c] for c in agg.labels_.tolist()), strict=True))
        conf = dict(zip(ids, agg.confidences().tolist(), strict=True))
        acc, ece = score_labels(pred, conf, gold)
        out[name] = {"accuracy": acc, "ece": ece, "seconds": min(times)}
        if name == "auto":
            out[name]["chosen"] = agg.chosen_  # type: ignore[attr-defined]
            factors = agg.class_factors_  # type: ignore[attr-defined]
            if factors is not None:
                out[name]["class_factors"] = dict(zip(answers.categories, factors.tolist(), strict=True))
            out[name]["_reliability"] = reliability_points(pred, conf, gold)
        out[name]["_labels"] = pred
    return out


def reliability_points(pred: dict[str, str], conf: dict[str, float], gold: dict[str, str]) -> dict[str, Any]:
    hits = [o for o in gold if o in pred]
    return {
        "confidence": np.array([conf[o] for o in hits], dtype=np.float64),
        "correct": np.array([pred[o] == gold[o] for o in hits], dtype=bool),
    }


def run_known(labels_csv: Path, gold: dict[str, str], share: float, seeds: int) -> dict[str, Any]:
    """`auto` given a random `share` of the gold items as known answers (as a requester seeds known-answer
    objects), scored on the other gold items; mean over `seeds` draws. Returns accuracy, ECE and the pooled
    reliability points."""
    from quorum_cli.consolidate_cmd import make_method, read_answers  # noqa: PLC0415
    from quorum_consolidation.core.side_info import KnownLabels  # noqa: PLC0415

    answers = read_answers(labels_csv)
    ids = [str(o) for o in answers.object_ids.tolist()]
    items = sorted(gold)
    accs, eces, confs, rights = [], [], [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        pick = rng.random(len(items)) < share
        known = {o: gold[o] for o, p in zip(items, pick, strict=True) if p}
        rest = {o: gold[o] for o, p in zip(items, pick, strict=True) if not p}
        agg = make_method("auto")
        agg.fit(answers, known=KnownLabels.from_ids(answers, known))  # type: ignore[call-arg]
        assert agg.labels_ is not None
        pred = dict(zip(ids, (answers.categories[c] for c in agg.labels_.tolist()), strict=True))
        conf = dict(zip(ids, agg.confidences().tolist(), strict=True))
        acc, ece = score_labels(pred, conf, rest)
        accs.append(acc)
        eces.append(ece)
        points = reliability_points(pred, conf, rest)
        confs.append(points["confidence"])
        rights.append(points["correct"])
    return {
        "accuracy": float(np.mean(accs)),
        "ece": float(np.mean(eces)),
        "known_share": share,
        "seeds": seeds,
        "_reliability": {"confidence": np.concatenate(confs), "correct": np.concatenate(rights)},
    }


def plot_reliability(name: str, curves: dict[str, dict[str, Any]], out_dir: Path) -> Path | None:
    """One PNG per dataset: accuracy against confidence (15 bins) for each curve, the diagonal, and how many
    objects fall in each bin. Needs matplotlib (`pip install -e ".[bench]"`)."""
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        log("matplotlib is not installed: no reliability diagrams (pip install -e '.[bench]')")
        return None
    from quorum_consolidation.core.calibration import ECE_BINS, reliability_bins  # noqa: PLC0415

    out_dir.mkdir(parents=True, exist_ok=True)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(4.2, 5.0), sharex=True, gridspec_kw={"height_ratios": [3, 1]}, dpi=100
    )
    top.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect")
    centers = (np.arange(ECE_BINS) + 0.5) / ECE_BINS
    width = 1.0 / ECE_BINS / (len(curves) + 0.5)
    for i, (label, points) in enumerate(curves.items()):
        count, mean_conf, acc = reliability_bins(points["confidence"], points["correct"])
        shown = count > 0
        top.plot(mean_conf[shown], acc[shown], marker="o", markersize=3, label=label)
        bottom.bar(centers - 0.5 / ECE_BINS + (i + 0.75) * width, count / count.sum(), width=width)
    top.set_ylabel("accuracy")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.set_title(f"{name}: reliability (15 bins)", fontsize=10)
    top.legend(fontsize=7, loc="upper left")
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("share")
    fig.tight_layout()
    path = out_dir / f"reliability-{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def synthetic_answers(objects: int, per_object: int, workers: int, classes: int, seed: int):  # noqa: ANN201
    """The speed job: `per_object` distinct workers per object, each with a random confusion matrix
    (accuracy uniform in [0.5, 0.95] per row, errors Dirichlet(1)-spread over the other classes), uniform
    true classes (`quorum_consolidation.core.simulate`)."""
    from quorum_consolidation.core.simulate import random_confusions, simulate  # noqa: PLC0415

    confusions = random_confusions(np.random.default_rng(seed), workers, classes)
    crowd = simulate(confusions, objects, per_object, seed=seed + 1)
    return crowd.answers, crowd.truth


def write_synthetic_csv(answers, path: Path) -> None:  # noqa: ANN001
    cats = np.asarray(answers.categories)
    with path.open("w") as f:
        f.write("item,worker,label\n")
        lines = map(
            ",".join,
            zip(
                np.char.add("o", answers.objects.astype(str)).tolist(),
                np.char.add("w", answers.workers.astype(str)).tolist(),
                cats[answers.classes].tolist(),
                strict=True,
            ),
        )
        f.write("\n".join(lines))
        f.write("\n")


def timed(fn, repeat: int) -> tuple[float, float, Any]:  # noqa: ANN001
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), result


def speed_run(repeat: int, crowdkit: Path | None, tmp: Path) -> dict[str, Any]:
    from quorum_consolidation.core.auto import AutoDawidSkene  # noqa: PLC0415
    from quorum_consolidation.core.dawid_skene import DawidSkene  # noqa: PLC0415
    from quorum_consolidation.core.majority_vote import MajorityVote  # noqa: PLC0415

    answers, truth = synthetic_answers(**SYNTH)
    out: dict[str, Any] = {"job": dict(SYNTH), "n_answers": answers.n_answers}
    best, median, ds = timed(lambda: DawidSkene(n_iter=20, tol=0.0).fit(answers), repeat)
    out["ds20"] = {"best_s": best, "median_s": median, "accuracy": float((ds.labels_ == truth).mean())}
    best, median, ds64 = timed(lambda: DawidSkene(n_iter=20, tol=0.0, dtype="float64").fit(answers), repeat)
    out["ds20_float64"] = {"best_s": best, "median_s": median}
    best, median, mv = timed(lambda: MajorityVote().fit(answers), repeat)
    out["mv"] = {"best_s": best, "median_s": median, "accuracy": float((mv.labels_ == truth).mean())}
    best, median, auto = timed(lambda: AutoDawidSkene().fit(answers), max(1, repeat // 2))
    out["auto"] = {
        "best_s": best,
        "median_s": median,
        "accuracy": float((auto.labels_ == truth).mean()),
        "chosen": auto.chosen_,
    }

    csv_path = tmp / "synthetic_1m.csv"
    write_synthetic_csv(answers, csv_path)
    # The whole command in a fresh interpreter: imports, parsing, auto, writing.
    script = (
        "import typer, sys; from quorum_cli.consolidate_cmd import consolidate; "
        "sys.argv = ['quorum-consolidate', *sys.argv[1:]]; typer.run(consolidate)"
    )
    walls = []
    for _ in range(max(3, repeat)):
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", script, str(csv_path), "-o", str(tmp / "pred.csv")],
            capture_output=True,
            text=True,
        )
        walls.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise RuntimeError(f"consolidate command failed: {proc.stderr[-2000:]}")
    out["cli_auto"] = {
        "best_s": min(walls),
        "median_s": statistics.median(walls),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }

    if crowdkit is not None:
        log("crowd-kit DawidSkene, 20 iterations, on the 1M-answer job ...")
        job = {
            "name": "synthetic",
            "labels": str(csv_path),
            "methods": ["DS"],
            "kwargs": {"DS": {"n_iter": 20, "tol": "-inf"}},
        }
        ck = run_crowdkit(crowdkit, [job])["synthetic"]["DS"]
        if "error" in ck:
            out["crowdkit_ds20"] = ck
        else:
            ours = {f"o{i}": answers.categories[c] for i, c in enumerate(ds64.labels_.tolist())}
            agree = float(np.mean([ours[k] == v for k, v in ck["labels"].items()]))
            out["crowdkit_ds20"] = {
                "seconds": ck["seconds"],
                "agreement_with_ours": agree,
                "speedup_ours_best": ck["seconds"] / out["ds20"]["best_s"],
            }
    return out


# ----------------------------------------------------------------------------------------------------
def fmt(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "-"
    if "error" in cell:
        return "error"
    return f"{cell['accuracy']:.2f} / {cell['ece']:.1f} / {cell['seconds']:.2f}s"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--repeat", type=int, default=3, help="Runs per timing of ours (best reported).")
    parser.add_argument("--no-crowdkit", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--skip-crowdkit-speed", action="store_true", help="Skip crowd-kit's 1M-answer DS.")
    parser.add_argument("--json", type=Path, help="Also write all results here.")
    parser.add_argument(
        "--known-share",
        type=float,
        default=0.1,
        help="Share of gold items given to auto as known answers (0: no such table).",
    )
    parser.add_argument("--known-seeds", type=int, default=3)
    parser.add_argument("--plots", type=Path, help="Write a reliability diagram PNG per dataset here.")
    parser.add_argument("--crowdkit-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.crowdkit_worker:
        crowdkit_worker(args.crowdkit_worker)
        return

    sys.path[:0] = [str(ROOT / "services" / "consolidation" / "src"), str(ROOT / "cli" / "src")]
    results: dict[str, Any] = {"host": {"python": sys.version.split()[0], "cpus": os.cpu_count()}}
    crowdkit, why = (None, "disabled by --no-crowdkit") if args.no_crowdkit else ensure_crowdkit()
    if crowdkit is None:
        log(f"crowd-kit: not compared ({why})")
    results["crowdkit"] = why

    if not args.speed_only:
        from quorum_cli.consolidate_cmd import read_labels  # noqa: PLC0415

        datasets = discover(args.datasets)
        if not datasets:
            log(f"no datasets under {args.datasets}")
        table: dict[str, Any] = {}
        for name, labels_csv, gold_csv in datasets:
            gold = read_labels(gold_csv)
            log(f"{name}: ours ...")
            ours = run_ours(labels_csv, gold, args.repeat)
            if args.known_share > 0:
                log(f"{name}: auto with {100 * args.known_share:.0f}% known answers ...")
                ours["auto_known"] = run_known(labels_csv, gold, args.known_share, args.known_seeds)
            if args.plots is not None:
                curves = {"auto (no gold)": ours["auto"]["_reliability"]}
                if "auto_known" in ours:
                    curves[f"auto + {100 * args.known_share:.0f}% known"] = ours["auto_known"]["_reliability"]
                path = plot_reliability(name, curves, args.plots)
                if path is not None:
                    log(f"{name}: {path}")
            theirs: dict[str, Any] = {}
            if crowdkit is not None:
                log(f"{name}: crowd-kit ...")
                job = {"name": name, "labels": str(labels_csv), "methods": CROWDKIT_METHODS}
                ck = run_crowdkit(crowdkit, [job])
                for method, res in ck[name].items():
                    if "error" in res:
                        theirs[method] = res
                        continue
                    acc, ece = score_labels(res["labels"], res["confidence"], gold)
                    theirs[method] = {"accuracy": acc, "ece": ece, "seconds": res["seconds"]}
                    if method == "DS":
                        our_ds = ours["ds"]["_labels"]
                        theirs[method]["agreement_with_our_ds"] = float(
                            np.mean([our_ds.get(k) == v for k, v in res["labels"].items()])
                        )
            for cell in ours.values():
                cell.pop("_labels", None)
                cell.pop("_reliability", None)
            table[name] = {"ours": ours, "crowdkit": theirs}
        results["datasets"] = table
        print_tables(table)

    if not args.no_speed:
        with tempfile.TemporaryDirectory(prefix="quorum-bench-") as tmp:
            ck = None if args.skip_crowdkit_speed else crowdkit
            results["speed"] = speed = speed_run(args.repeat, ck, Path(tmp))
        print_speed(speed)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))


def print_tables(table: dict[str, Any]) -> None:
    out = sys.stdout
    out.write("\n## Accuracy % / ECE % / seconds per dataset (gold items)\n\n")
    ck_methods = CROWDKIT_METHODS
    header = ["dataset", *[f"ours {m}" for m in OUR_METHODS], *[f"ck {m}" for m in ck_methods]]
    out.write("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n")
    for name, res in table.items():
        cells = [fmt(res["ours"].get(m)) for m in OUR_METHODS]
        cells += [fmt(res["crowdkit"].get(m)) for m in ck_methods]
        out.write(f"| {name} | " + " | ".join(cells) + " |\n")
    out.write("\n## auto vs the best crowd-kit number (README) and the best crowd-kit method here\n\n")
    out.write(
        "| dataset | auto | README best | auto - README best | best ck here "
        "| chosen (s, u, T, rho, slope; per-class factors > 1) |\n"
    )
    out.write("|---|---|---|---|---|---|\n")
    autos, bests = [], []
    for name, res in table.items():
        auto = res["ours"]["auto"]
        readme = README_BEST.get(name)
        here = max((c["accuracy"] for c in res["crowdkit"].values() if "accuracy" in c), default=float("nan"))
        ch = auto.get("chosen", {})
        chosen = (
            f"{ch.get('population_prior')}, {ch.get('spam_prior')}, {ch.get('temperature', 0):.2f}, "
            f"{ch.get('correlation', 0):.3f}, {ch.get('count_slope', 0):.2f}"
        )
        hotter = [f"{c} x{f:.2f}" for c, f in auto.get("class_factors", {}).items() if f > 1.0]
        chosen += f"; {', '.join(hotter)}" if hotter else ""
        diff = "" if readme is None else f"{auto['accuracy'] - readme:+.2f}"
        out.write(
            f"| {name} | {auto['accuracy']:.2f} | {readme if readme is not None else '-'} | {diff} | "
            f"{here:.2f} | {chosen} |\n"
        )
        if readme is not None:
            autos.append(auto["accuracy"])
            bests.append(readme)
    if autos:
        gap = np.mean(autos) - np.mean(bests)
        out.write(f"| mean | {np.mean(autos):.3f} | {np.mean(bests):.3f} | {gap:+.3f} | | |\n")
    known = {n: r["ours"]["auto_known"] for n, r in table.items() if "auto_known" in r["ours"]}
    if known:
        share = 100 * next(iter(known.values()))["known_share"]
        out.write(
            f"\n## Calibration: top-label ECE % (15 bins) of auto, without gold and with "
            f"{share:.0f}% of the gold items as known answers (scored on the other gold items)\n\n"
        )
        out.write("| dataset | auto acc | auto ECE | + known: acc | + known: ECE |\n|---|---|---|---|---|\n")
        for name, cell in known.items():
            auto = table[name]["ours"]["auto"]
            out.write(
                f"| {name} | {auto['accuracy']:.2f} | {auto['ece']:.1f} | {cell['accuracy']:.2f} | "
                f"{cell['ece']:.1f} |\n"
            )
        plain = [table[n]["ours"]["auto"]["ece"] for n in known]
        kn = [c["ece"] for c in known.values()]
        out.write(
            f"| mean / max | | {np.mean(plain):.1f} / {np.max(plain):.1f} | | "
            f"{np.mean(kn):.1f} / {np.max(kn):.1f} |\n"
        )
    agree = {n: r["crowdkit"].get("DS", {}).get("agreement_with_our_ds") for n, r in table.items()}
    if any(v is not None for v in agree.values()):
        out.write(
            "\nour DS (defaults) vs crowd-kit DS (defaults), share of objects with the same label: "
            + ", ".join(f"{n} {100 * v:.2f}%" for n, v in agree.items() if v is not None)
            + "\n"
        )


def print_speed(speed: dict[str, Any]) -> None:
    out = sys.stdout
    job = speed["job"]
    out.write(
        f"\n## Speed: {speed['n_answers']:,} answers ({job['objects']:,} objects x "
        f"{job['per_object']}, {job['workers']:,} workers, {job['classes']} classes)\n\n"
    )
    out.write("| what | best s | median s | note |\n|---|---|---|---|\n")
    out.write(
        f"| our DawidSkene, 20 EM iterations (auto dtype: float32) | {speed['ds20']['best_s']:.3f} | "
        f"{speed['ds20']['median_s']:.3f} | accuracy {100 * speed['ds20']['accuracy']:.2f}% |\n"
    )
    out.write(
        f"| our DawidSkene, 20 EM iterations, float64 | {speed['ds20_float64']['best_s']:.3f} | "
        f"{speed['ds20_float64']['median_s']:.3f} | |\n"
    )
    out.write(
        f"| majority vote | {speed['mv']['best_s']:.3f} | {speed['mv']['median_s']:.3f} | "
        f"accuracy {100 * speed['mv']['accuracy']:.2f}% |\n"
    )
    auto = speed["auto"]
    out.write(
        f"| auto (selection + final fit) | {auto['best_s']:.3f} | {auto['median_s']:.3f} | "
        f"accuracy {100 * auto['accuracy']:.2f}% |\n"
    )
    cli = speed["cli_auto"]
    out.write(
        f"| `quorum consolidate` (auto) on the CSV, fresh interpreter | {cli['best_s']:.3f} | "
        f"{cli['median_s']:.3f} | peak RSS {cli['peak_rss_mb']:.0f} MB |\n"
    )
    ck = speed.get("crowdkit_ds20")
    if ck and "seconds" in ck:
        out.write(
            f"| crowd-kit DawidSkene, 20 iterations | {ck['seconds']:.3f} | | ours (best) is "
            f"{ck['speedup_ours_best']:.0f}x faster; same label on "
            f"{100 * ck['agreement_with_ours']:.3f}% of objects |\n"
        )
    elif ck:
        out.write(f"| crowd-kit DawidSkene | error | | {ck.get('error')} |\n")


if __name__ == "__main__":
    main()

"""Does picking the threshold on the same draws, again at every iteration, break the 95 % promise? (issue 5)

The inference service certifies the *largest* top-confidence set of the random draws whose noisy
Clopper-Pearson bound clears the target (`pooled_certification`), and does so again at every iteration as
draws accumulate, machine-labeling at the first success. Each bound alone covers the truth with 95 %
probability; the set chosen by scanning many thresholds, on many looks, need not. This simulation measures
the promise the requester gets: how often the *population* accuracy of the first certified set (all objects
above its threshold, not just the draws) is below the target.

Population: a model confidence c ~ U(0, 1) per object, right with probability a(c) = 1 - m (1 - c)^g, so the
objects above threshold t are A(t) = 1 - m (1 - t)^g / (g + 1) right (known exactly). Draws: each with
that model's prediction, and a human label wrong with probability eps_i (Beta, mean `--label-noise`, told to
the bound as the label's consolidated confidence 1 - eps_i: calibrated); a wrong label or prediction is
uniform over the other K - 1 classes. Looks: the draws grow by `--step` up to `--max-draws`, the same model
throughout (a new model each iteration adds more chances, so this is the mild case). Prints, per setting,
the share of runs that certified, the share of all runs that certified a set below the target (a 95 %
bound promises at most 5 %), the share of the certified runs that did (what a requester whose job certified
sees) and their mean accuracy, and the mean share of the population machine-labeled (what a
stricter rule costs), for one look (the last, all draws) and for the first of many looks; for each
`--levels` confidence level (the baseline: one level at every look), and with `--spending-base B` the
service's rule that tightens the level as the draws double since B (`look_confidence_level`).
`--model-change D` trains a new model at every look (each draw's confidence and correctness redrawn with
correlation 1 - D to the first model's, the population curve unchanged), as the service does at every
iteration; `--looks-per-doubling L` applies the service's rule of certifying L times per doubling of the
draws (`look_at`) instead of at every look; `--improve B` lets the model get better as draws grow (the
service's does: its error scale m x (max_draws / draws)^B at each look).

    .venv/bin/python bench/selection_coverage.py [--reps 2000] [--levels 0.95 0.99] [--spending-base 100]
        [--model-change 0.3] [--looks-per-doubling 1] [--improve 0.5]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/platform.py shadows the standard library's `platform` (which numpy imports): leave this folder out.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402
from scipy.stats import norm  # noqa: E402

from quorum_inference.core.thresholds import (  # noqa: E402
    look_at,
    look_confidence_level,
    pooled_certification,
)


def population_accuracy(threshold: float, m: float, g: float) -> float:
    return 1.0 - m * (1.0 - threshold) ** g / (g + 1.0)


def certify(
    conf: np.ndarray,
    model_ok: np.ndarray,
    label_ok: np.ndarray,
    eps: np.ndarray,
    k: int,
    target: float,
    level: float,
    rng: np.random.Generator,
) -> float | None:
    """The threshold `pooled_certification` picks on these draws (None: it certifies nothing)."""
    n = len(conf)
    wrong = 1 + rng.integers(0, k - 1, size=n)
    predicted = np.where(model_ok, 0, wrong)
    other = 1 + rng.integers(0, k - 1, size=n)
    label = np.where(label_ok, 0, other)
    thresholds, _ = pooled_certification(
        predicted, conf, label, k, target_accuracy=target, confidence_level=level, object_noise=eps
    )
    cut = thresholds[0].threshold
    return None if cut is None else float(cut)


def run(setting: dict, args: argparse.Namespace, level: float, base: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    m, g, k = setting["m"], setting["g"], setting["k"]
    target = args.target
    looks = list(range(args.start or args.step, args.max_draws + 1, args.step))
    single, first = [], []
    for _ in range(args.reps):
        n = args.max_draws
        conf = rng.random(n)
        u_ok = rng.random(n)
        model_ok = u_ok < 1.0 - m * (1.0 - conf) ** g
        mean = args.label_noise
        eps = rng.beta(2.0, 2.0 * (1.0 - mean) / mean, size=n)
        label_ok = rng.random(n) >= eps
        one = look_confidence_level(level, n, base, args.looks_per_doubling)
        cut = certify(conf, model_ok, label_ok, eps, k, target, one, rng)
        single.append(None if cut is None else (population_accuracy(cut, m, g), 1.0 - cut))
        hit = None
        # A new model at every look (`--model-change`): each draw's confidence and correctness are redrawn,
        # correlated with the first model's by `rho` through a Gaussian copula, so that every look's model has
        # the same population curve a(c) but gives the same draws a fresh chance to look good.
        z_conf, z_ok = norm.ppf(conf), norm.ppf(u_ok)
        last_epoch = None
        for look, size in enumerate(looks):
            at = look_confidence_level(level, size, base, args.looks_per_doubling)
            if args.looks_per_doubling and base > 0:
                epoch = look_at(
                    size,
                    size,
                    base,
                    last_epoch,
                    target_accuracy=target,
                    confidence_level=at,
                    pooled_with_earlier=False,
                    looks_per_doubling=args.looks_per_doubling,
                )
                if epoch is None:
                    continue
                last_epoch = epoch
            if look and args.model_change > 0.0:
                rho = 1.0 - args.model_change
                fresh = np.sqrt(1.0 - rho**2)
                conf = norm.cdf(rho * z_conf + fresh * rng.standard_normal(n))
                u_ok = norm.cdf(rho * z_ok + fresh * rng.standard_normal(n))
            # `--improve B`: a model that learns from the growing labels, its error scale m times
            # (max_draws / size)^B at a look on `size` draws (at most 1), the setting's m at the last.
            m_now = min(1.0, m * (args.max_draws / size) ** args.improve)
            model_ok = u_ok < 1.0 - m_now * (1.0 - conf) ** g
            cut = certify(conf[:size], model_ok[:size], label_ok[:size], eps[:size], k, target, at, rng)
            if cut is not None:
                hit = (population_accuracy(cut, m_now, g), 1.0 - cut)
                break
        first.append(hit)

    def summary(results: list[tuple[float, float] | None]) -> dict:
        done = np.array([r for r in results if r is not None]).reshape(-1, 2)
        acc, share = done[:, 0], done[:, 1]
        return {
            "certified": round(len(done) / len(results), 3),
            "miss_rate": round(float((acc < target).mean()), 4) if len(done) else None,
            # what the 95 % promises: at most 5 % of all runs machine-label a set below the target
            "missed_share_of_runs": round(float((acc < target).sum() / len(results)), 4),
            "mean_accuracy": round(float(acc.mean()), 4) if len(done) else None,
            # the share of the population above the threshold, over all runs (0 when nothing certified)
            "mean_machine_share": round(float(share.sum() / len(results)), 4),
        }

    return {
        **setting,
        "confidence_level": level,
        "spending_base": base,
        "looks_per_doubling": args.looks_per_doubling if base > 0 else 0,
        "model_change": args.model_change,
        "improve": args.improve,
        "one_look": summary(single),
        f"first_of_{len(looks)}_looks": summary(first),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--label-noise", type=float, default=0.03, help="mean human label error of a draw")
    parser.add_argument("--step", type=int, default=50, help="draws added per look")
    parser.add_argument("--start", type=int, default=0, help="draws at the first look (default: --step)")
    parser.add_argument("--max-draws", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--looks-per-doubling",
        type=int,
        default=0,
        help="the service's rule (LOOKS_PER_DOUBLING, default 1): certify this many times each time the "
        "draws double from --spending-base, each at that share of the doubling's error rate (0: every look)",
    )
    parser.add_argument(
        "--improve",
        type=float,
        default=0.0,
        help="a model that improves as labels grow: its error scale m x (max_draws / draws)^B at each look "
        "(0: the same model quality throughout)",
    )
    parser.add_argument(
        "--model-change",
        type=float,
        default=0.0,
        help="1 - the correlation of each draw's confidence and correctness between looks (0: one model "
        "for every look; the service trains a new one at every iteration)",
    )
    parser.add_argument(
        "--levels", type=float, nargs="+", default=[0.95], help="confidence levels (the service: 0.95)"
    )
    parser.add_argument(
        "--spending-base",
        type=int,
        nargs="+",
        default=[0],
        help="look_confidence_level's base draws per row (0: one level at every look; the service: 100)",
    )
    args = parser.parse_args()
    # m, g: how fast the model's accuracy falls with its confidence; k classes. The largest set right 95 % of
    # the time is the top 1 - t* with (1 - t*)^g = 0.05 (g + 1) / m.
    settings = [
        {"name": "binary, steep", "m": 0.5, "g": 2.0, "k": 2},
        {"name": "binary, gentle", "m": 0.25, "g": 1.0, "k": 2},
        {"name": "10 classes, steep", "m": 0.6, "g": 3.0, "k": 10},
        {"name": "6 classes, gentle", "m": 0.3, "g": 1.5, "k": 6},
        {"name": "10 classes, easy", "m": 0.3, "g": 4.0, "k": 10},
    ]
    out = [
        run(s, args, level, base, args.seed + i)
        for i, s in enumerate(settings)
        for level in args.levels
        for base in args.spending_base
    ]
    sys.stdout.write(
        json.dumps({"target": args.target, "label_noise": args.label_noise, "runs": out}, indent=2)
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

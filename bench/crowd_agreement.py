"""How often the crowd's majority is right, by how strongly it agrees: where gold-free calibration ends.

    .venv/bin/python bench/crowd_agreement.py [--datasets ../shared/datasets/crowd]

For every dataset folder with labels.csv (item,worker,label) and gold.csv (item,label), read in place: the
answers' accuracy against gold, and the majority label's accuracy on gold items grouped by the share of the
object's answers that voted for it (ties broken by the first label in sorted order). If answers erred
independently, a 7-of-9 majority would almost never be wrong; where it often is (face, adult), the crowd errs
together, which answers alone cannot reveal, so no answer-only model's confidence can be calibrated there.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/platform.py shadows the standard library's `platform` (which numpy imports) for scripts run from this
# folder: take the folder off the import path first.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets" / "crowd"
EDGES = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.999, 1.0)


def agreement_table(labels_csv: Path, gold_csv: Path) -> tuple[float, list[tuple[str, int, float]]]:
    from quorum_cli.consolidate_cmd import read_answers, read_labels  # noqa: PLC0415

    answers = read_answers(labels_csv)
    gold = read_labels(gold_csv)
    n, k = answers.n_objects, answers.n_classes
    votes = np.zeros((n, k))
    np.add.at(votes, (answers.objects, answers.classes), 1.0)
    top = votes.argmax(axis=1)
    share = votes.max(axis=1) / votes.sum(axis=1)
    cat = {c: i for i, c in enumerate(answers.categories)}
    ids = [str(o) for o in answers.object_ids.tolist()]
    truth = np.array([cat.get(gold.get(o, ""), -1) if o in gold else -2 for o in ids])
    has_gold = truth != -2
    answer_right = truth[answers.objects] == answers.classes
    answer_acc = float(answer_right[has_gold[answers.objects]].mean())
    rows = []
    for lo, hi in zip(EDGES[:-1], EDGES[1:], strict=True):
        sel = has_gold & (share > lo) & (share <= hi)
        if sel.any():
            rows.append((f"({lo:.3g}, {hi:.3g}]", int(sel.sum()), float((top[sel] == truth[sel]).mean())))
    return answer_acc, rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT / "services" / "consolidation" / "src"), str(ROOT / "cli" / "src")]
    for folder in sorted(p for p in args.datasets.iterdir() if (p / "labels.csv").is_file()):
        if not (folder / "gold.csv").is_file():
            continue
        answer_acc, rows = agreement_table(folder / "labels.csv", folder / "gold.csv")
        out = sys.stdout
        out.write(f"\n## {folder.name}: answers right {100 * answer_acc:.1f} %\n\n")
        out.write("| majority share | objects | majority right % |\n|---|---|---|\n")
        for span, count, acc in rows:
            out.write(f"| {span} | {count} | {100 * acc:.1f} |\n")


if __name__ == "__main__":
    main()

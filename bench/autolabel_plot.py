"""Plot of the savings per iteration of `quorum autolabel-bench` runs, from their summary.json files.

    .venv/bin/python bench/autolabel_plot.py OUT/summary.json [...] --to docs/img

writes docs/img/autolabel-<dataset>.png per run (matplotlib: `pip install -e ".[bench]"`).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/platform.py shadows the standard library's `platform` (which numpy imports): leave this folder out.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse  # noqa: E402
import json  # noqa: E402

from quorum_cli.autolabel_bench import plot_iterations  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("summaries", nargs="+", type=Path)
    parser.add_argument("--to", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    args.to.mkdir(parents=True, exist_ok=True)
    for path in args.summaries:
        summary = json.loads(path.read_text())
        out = args.to / f"autolabel-{summary['dataset']}.png"
        title = (
            f"{summary['dataset']}: {summary['machine_labeled_objects']} of {summary['objects']} "
            f"machine-labeled (accuracy {summary['machine_label_accuracy']})"
        )
        if not plot_iterations(out, summary["iterations"], summary["objects"], title):
            raise SystemExit("matplotlib is not installed: pip install -e '.[bench]'")
        sys.stdout.write(f"{out}\n")


if __name__ == "__main__":
    main()

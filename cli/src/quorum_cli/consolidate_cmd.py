"""`quorum consolidate`: labels from a CSV of crowd answers, offline (no platform needed).

    quorum consolidate answers.csv -o predictions.csv [--method auto] [--gold gold.csv] [--known known.csv]

Input: a header naming the columns `item`, `worker` and `label` (any order; other columns are ignored) and one
answer per row; labels are any strings. Output: `item,label,confidence`, one row per item, sorted by item.
With `--gold` (item,label) it prints accuracy (a gold item without a prediction counts as wrong) and the
expected calibration error of the confidences. Reading is vectorised (one split of the whole text, dict
indexing), with Python's csv module only for files that use quotes.
"""

from __future__ import annotations

import csv
import importlib
import io
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from quorum_consolidation.core.answers import Answers, ConsolidationInputError
from quorum_consolidation.core.base import BaseClassificationAggregator
from quorum_consolidation.core.calibration import expected_calibration_error
from quorum_consolidation.core.side_info import KnownLabels

#: Methods by CLI name (the consolidation service's registry names): module under quorum_consolidation.core,
#: class, and whether `fit` takes known answers. Imported on use, so `auto` does not pay for scipy.optimize.
CLI_METHODS: Mapping[str, tuple[str, str, bool]] = {
    "auto": ("auto", "AutoDawidSkene", True),
    "ds": ("dawid_skene", "DawidSkene", True),
    "one_coin_ds": ("one_coin", "OneCoinDawidSkene", True),
    "glad": ("glad", "GLAD", True),
    "mace": ("mace", "MACE", True),
    "mv": ("majority_vote", "MajorityVote", False),
}


class CsvFormatError(ValueError):
    """Malformed input; the message names the file, line and column."""


@dataclass(frozen=True)
class Table:
    """Columns of a CSV file as lists of strings, plus the file line number of each row."""

    path: Path
    columns: dict[str, list[str]]
    first_line: int  # file line of row 0 (rows are consecutive unless `line_numbers` is set)
    line_numbers: list[int] | None = None

    def line_of(self, row: int) -> int:
        return self.line_numbers[row] if self.line_numbers is not None else self.first_line + row

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))


def read_table(path: Path, required: tuple[str, ...]) -> Table:
    """Read the `required` columns of a headed CSV file; raises CsvFormatError naming line and column."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CsvFormatError(f"{path}: cannot read: {err.strerror or err}") from err
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise CsvFormatError(f"{path}:{line}: not UTF-8 text ({err.reason})") from err
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    header_end = text.find("\n")
    header_line = text if header_end < 0 else text[:header_end]
    if not header_line.strip():
        raise CsvFormatError(f"{path}:1: missing header; expected the columns {', '.join(required)}")
    header = next(csv.reader([header_line]))
    names = [h.strip().lower() for h in header]
    missing = [r for r in required if r not in names]
    if missing:
        raise CsvFormatError(
            f"{path}:1: header {header_line!r} lacks column(s) {', '.join(missing)}; "
            f"expected {','.join(required)}"
        )
    dup = sorted({n for n in names if names.count(n) > 1 and n in required})
    if dup:
        raise CsvFormatError(f"{path}:1: column(s) {', '.join(dup)} appear more than once in the header")
    body = "" if header_end < 0 else text[header_end + 1 :]
    body = body.rstrip("\n")
    width = len(names)
    positions = {r: names.index(r) for r in required}
    if not body:
        return Table(path, {r: [] for r in required}, 2)
    if '"' in body or "\n\n" in body:
        return _read_with_csv(path, body, names, positions)

    # Fast path: no quoting, no blank lines. Check every line has `width` fields (vectorised), then split the
    # whole text at once.
    data = np.frombuffer(body.encode("utf-8"), dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    commas = np.flatnonzero(data == 44)
    n_lines = newlines.shape[0] + 1
    per_line = np.bincount(np.searchsorted(newlines, commas), minlength=n_lines)
    bad = np.flatnonzero(per_line != width - 1)
    if bad.shape[0]:
        row = int(bad[0])
        raise CsvFormatError(
            f"{path}:{row + 2}: expected {width} columns ({','.join(header)}), got {int(per_line[row]) + 1}"
        )
    tokens = body.replace("\n", ",").split(",")
    columns = {r: tokens[p::width] for r, p in positions.items()}
    table = Table(path, columns, 2)
    # An empty field is two adjacent delimiters (or one at either end); look for the culprit only then.
    delim = (data == 44) | (data == 10)
    if delim[0] or delim[-1] or bool((delim[1:] & delim[:-1]).any()):
        _check_empty(table)
    return table


def _read_with_csv(path: Path, body: str, names: list[str], positions: dict[str, int]) -> Table:
    columns: dict[str, list[str]] = {r: [] for r in positions}
    lines: list[int] = []
    width = len(names)
    reader = csv.reader(io.StringIO(body))
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                raise CsvFormatError(
                    f"{path}:{reader.line_num + 1}: expected {width} columns ({','.join(names)}), "
                    f"got {len(row)}"
                )
            for r, p in positions.items():
                columns[r].append(row[p])
            lines.append(reader.line_num + 1)
    except csv.Error as err:
        raise CsvFormatError(f"{path}:{reader.line_num + 1}: {err}") from err
    table = Table(path, columns, 2, lines)
    _check_empty(table)
    return table


def _check_empty(table: Table) -> None:
    for name, values in table.columns.items():
        if "" in values:
            row = values.index("")
            raise CsvFormatError(f"{table.path}:{table.line_of(row)}: column {name!r} is empty")


def _index(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Codes into the sorted distinct values (C-level dict operations: faster than np.unique on strings)."""
    keys = sorted(dict.fromkeys(values))
    position = dict(zip(keys, range(len(keys)), strict=True))
    return np.array(list(map(position.__getitem__, values)), dtype=np.int64), keys


def read_answers(path: Path, duplicates: str = "keep") -> Answers:
    """Answers from an `item,worker,label` CSV. `duplicates` (a worker answering an item again): "keep"
    every row as an answer (crowd-kit's behaviour), keep the "last" one, or raise ("error")."""
    table = read_table(path, ("item", "worker", "label"))
    if len(table) == 0:
        raise CsvFormatError(f"{path}: no answers after the header")
    objects, object_ids = _index(table.columns["item"])
    workers, worker_ids = _index(table.columns["worker"])
    classes, categories = _index(table.columns["label"])
    if len(categories) < 2:
        raise CsvFormatError(
            f"{path}: every answer has the label {categories[0]!r}; need at least 2 distinct labels"
        )
    if duplicates != "keep":
        pair = objects * len(worker_ids) + workers
        if duplicates == "error":
            order = np.argsort(pair, kind="stable")
            same = np.flatnonzero(pair[order][1:] == pair[order][:-1])
            if same.shape[0]:
                row = int(order[same[0] + 1])
                raise CsvFormatError(
                    f"{path}:{table.line_of(row)}: worker {table.columns['worker'][row]!r} already answered "
                    f"item {table.columns['item'][row]!r}"
                )
        else:  # last
            _, last_rev = np.unique(pair[::-1], return_index=True)
            keep = np.sort(pair.shape[0] - 1 - last_rev)
            objects, workers, classes = objects[keep], workers[keep], classes[keep]
    return Answers(
        objects,
        workers,
        classes,
        np.asarray(object_ids, dtype=object),
        np.asarray(worker_ids, dtype=object),
        tuple(categories),
    )


def read_labels(path: Path) -> dict[str, str]:
    """`item,label` CSV (gold or known answers) as a dict; raises CsvFormatError."""
    table = read_table(path, ("item", "label"))
    items, labels = table.columns["item"], table.columns["label"]
    out = dict(zip(items, labels, strict=True))
    if len(out) != len(items):
        seen: set[str] = set()
        for row, item in enumerate(items):
            if item in seen:
                raise CsvFormatError(f"{path}:{table.line_of(row)}: item {item!r} appears twice")
            seen.add(item)
    return out


def score(
    object_ids: list[str], labels: list[str], confidences: np.ndarray, gold: Mapping[str, str]
) -> dict[str, float]:
    """Accuracy over the gold items (one without a prediction counts as wrong) and expected calibration
    error (ECE: |accuracy - mean confidence| per equal-width confidence bin, weighted by the bin's share
    of the predicted gold items; 15 equal-width bins)."""
    index = {o: i for i, o in enumerate(object_ids)}
    hits = [(index[o], lab) for o, lab in gold.items() if o in index]
    rows = np.fromiter((i for i, _ in hits), dtype=np.int64, count=len(hits))
    correct = np.fromiter((labels[i] == lab for i, lab in hits), dtype=bool, count=len(hits))
    conf = confidences[rows] if rows.shape[0] else np.zeros(0)
    ece = expected_calibration_error(conf, correct)
    return {
        "gold_items": float(len(gold)),
        "predicted_gold_items": float(len(hits)),
        "accuracy": float(correct.sum() / len(gold)) if gold else float("nan"),
        "ece": ece,
    }


def write_predictions(path: Path, object_ids: list[str], labels: list[str], confidences: np.ndarray) -> None:
    """`item,label,confidence` (4 decimals), quoting only when a value needs it."""
    conf = confidences.tolist()
    with path.open("w", encoding="utf-8", newline="") as f:
        if not _needs_quoting(object_ids) and not _needs_quoting(sorted(set(labels))):
            f.write("item,label,confidence\n")
            f.write("\n".join(map("%s,%s,%.4f".__mod__, zip(object_ids, labels, conf, strict=True))))
            f.write("\n")
        else:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["item", "label", "confidence"])
            writer.writerows(zip(object_ids, labels, (f"{c:.4f}" for c in conf), strict=True))


def _needs_quoting(values: list[str]) -> bool:
    joined = "\x00".join(values)
    return "," in joined or '"' in joined or "\n" in joined


def make_method(name: str) -> BaseClassificationAggregator:
    """A fresh aggregator with default hyperparameters for a CLI method name."""
    entry = CLI_METHODS.get(name)
    if entry is None:
        raise CsvFormatError(f"unknown method {name!r}; known: {', '.join(CLI_METHODS)}")
    module = importlib.import_module(f"quorum_consolidation.core.{entry[0]}")
    aggregator: BaseClassificationAggregator = getattr(module, entry[1])()
    return aggregator


def run(
    answers_csv: Path,
    method: str,
    output: Path,
    gold: Path | None = None,
    known: Path | None = None,
    duplicates: str = "keep",
) -> dict[str, Any]:
    """The command without the CLI: returns timings and, with `gold`, the scores."""
    if duplicates not in ("keep", "last", "error"):
        raise CsvFormatError(f"--duplicates must be keep, last or error, got {duplicates!r}")
    aggregator = make_method(method)
    started = time.perf_counter()
    answers = read_answers(answers_csv, duplicates)
    read_s = time.perf_counter() - started
    known_labels = None
    if known is not None:
        if not CLI_METHODS[method][2]:
            raise CsvFormatError(f"method {method!r} does not take known answers")
        known_labels = KnownLabels.from_ids(answers, read_labels(known))
    fit_started = time.perf_counter()
    if known_labels is not None:
        aggregator.fit(answers, known=known_labels)  # type: ignore[call-arg]
    else:
        aggregator.fit(answers)
    fit_s = time.perf_counter() - fit_started
    assert aggregator.labels_ is not None
    cats = answers.categories
    object_ids: list[str] = answers.object_ids.tolist()
    labels = [cats[c] for c in aggregator.labels_.tolist()]
    confidences = aggregator.confidences()
    write_predictions(output, object_ids, labels, confidences)
    result: dict[str, Any] = {
        "answers": answers.n_answers,
        "items": answers.n_objects,
        "workers": answers.n_workers,
        "classes": answers.n_classes,
        "read_s": read_s,
        "fit_s": fit_s,
        "total_s": time.perf_counter() - started,
    }
    if gold is not None:
        result.update(score(object_ids, labels, confidences, read_labels(gold)))
    return result


def consolidate(
    answers_csv: Annotated[
        Path, typer.Argument(help="CSV with a header and columns item,worker,label (one answer per row).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write item,label,confidence.")],
    method: Annotated[
        str, typer.Option("--method", "-m", help=f"One of: {', '.join(CLI_METHODS)}.")
    ] = "auto",
    gold: Annotated[
        Path | None, typer.Option("--gold", help="item,label CSV of true labels: print accuracy and ECE.")
    ] = None,
    known: Annotated[
        Path | None,
        typer.Option("--known", help="item,label CSV of known answers, clamped while fitting (not mv)."),
    ] = None,
    duplicates: Annotated[
        str,
        typer.Option(
            "--duplicates", help="A worker answering an item again: keep (every row counts), last, error."
        ),
    ] = "keep",
) -> None:
    """Consolidate crowd answers into one label per item, with a calibrated confidence."""
    try:
        result = run(answers_csv, method, output, gold, known, duplicates)
    except (CsvFormatError, ConsolidationInputError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=2) from err
    typer.echo(
        f"{result['items']} items, {result['answers']} answers, {result['workers']} workers, "
        f"{result['classes']} classes; method {method}: wrote {output} in {result['total_s']:.2f} s",
        err=True,
    )
    if gold is not None:
        sys.stdout.write(
            f"accuracy {100 * result['accuracy']:.2f}% on {int(result['gold_items'])} gold items "
            f"({int(result['predicted_gold_items'])} predicted), ECE {100 * result['ece']:.2f}%\n"
        )

"""`quorum consolidate`: CSV in, item,label,confidence out; clear errors for malformed input."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from quorum_cli.consolidate_cmd import (
    CsvFormatError,
    expected_calibration_error,
    read_answers,
    read_labels,
    run,
)
from quorum_cli.consolidate_cmd import consolidate as consolidate_command

app = typer.Typer()
app.command()(consolidate_command)


@app.callback()
def _root() -> None:
    """Keep `consolidate` a named subcommand, as in `quorum consolidate`."""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def crowd_csv(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    cats = ["cat", "dog", "bird"]
    truth = rng.integers(0, 3, 60)
    lines, gold = ["item,worker,label"], ["item,label"]
    for i, t in enumerate(truth):
        gold.append(f"img{i},{cats[t]}")
        for w in range(5):
            right = rng.random() < (0.9 if w < 3 else 0.5)
            lab = t if right else (t + 1 + rng.integers(0, 2)) % 3
            lines.append(f"img{i},worker-{w},{cats[lab]}")
    answers = write(tmp_path / "answers.csv", "\n".join(lines) + "\n")
    return answers, write(tmp_path / "gold.csv", "\n".join(gold))


@pytest.mark.parametrize("method", ["auto", "ds", "one_coin_ds", "glad", "mace", "mv"])
def test_writes_predictions_and_scores_against_gold(tmp_path: Path, method: str) -> None:
    answers, gold = crowd_csv(tmp_path)
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(
        app, ["consolidate", str(answers), "-o", str(out), "--method", method, "--gold", str(gold)]
    )
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.stdout and "ECE" in result.stdout
    with out.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["item", "label", "confidence"]
    assert [r[0] for r in rows[1:]] == sorted(f"img{i}" for i in range(60))
    assert {r[1] for r in rows[1:]} <= {"cat", "dog", "bird"}
    assert all(0.0 < float(r[2]) <= 1.0 for r in rows[1:])
    scores = run(answers, method, out, gold)
    assert scores["accuracy"] > 0.9


def test_quoted_fields_any_column_order_and_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", 'label,item,worker\n"a, b",x1,w1\n\n"a, b",x1,w2\nc,x1,w3\nc,"x,2",w1\n')
    answers = read_answers(path)
    assert answers.categories == ("a, b", "c")
    assert answers.object_ids.tolist() == ["x,2", "x1"]
    out = tmp_path / "p.csv"
    run(path, "mv", out)
    with out.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[1][0] == "x,2" and rows[2] == ["x1", "a, b", rows[2][2]]


def test_crlf_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes("\ufeffitem,worker,label\r\ni,w1,yes\r\ni,w2,no\r\nj,w1,yes\r\n".encode())
    answers = read_answers(path)
    assert answers.n_answers == 3 and answers.categories == ("no", "yes")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("item,worker,label\na,w1,x\nb,w2\n", r"a\.csv:3: expected 3 columns \(item,worker,label\), got 2"),
        ("item,worker,label\na,w1,x,extra\n", r"a\.csv:2: expected 3 columns .*got 4"),
        ('item,worker,label\n"a",w1,x\nb,w1,y,z\n', r"a\.csv:3: expected 3 columns"),
        ("item,worker,label\na,,x\nb,w2,y\n", r"a\.csv:2: column 'worker' is empty"),
        ("item,user,label\na,w1,x\n", r"a\.csv:1: header .* lacks column\(s\) worker"),
        ("", r"a\.csv:1: missing header"),
        ("item,worker,label\n", r"no answers after the header"),
        ("item,worker,label\na,w1,x\nb,w1,x\n", r"need at least 2 distinct labels"),
        ("item,item,worker,label\na,a,w1,x\n", r"column\(s\) item appear more than once"),
    ],
)
def test_malformed_input_names_line_and_column(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path / "a.csv", text)
    with pytest.raises(CsvFormatError, match=match):
        read_answers(path)


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"item,worker,label\na,w1,x\nb,w2,\xff\xfe\n")
    with pytest.raises(CsvFormatError, match=r"a\.csv:3: not UTF-8"):
        read_answers(path)


def test_cli_reports_errors_with_exit_code_2(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "item,worker,label\na,w1,x\nb,w2\n")
    result = CliRunner().invoke(app, ["consolidate", str(path), "-o", str(tmp_path / "p.csv")])
    assert result.exit_code == 2
    assert "a.csv:3: expected 3 columns" in result.output
    answers, _ = crowd_csv(tmp_path)
    args = ["consolidate", str(answers), "-o", str(tmp_path / "p.csv"), "-m", "nope"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "unknown method 'nope'" in result.output


def test_duplicates(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "item,worker,label\na,w1,x\na,w2,y\nb,w1,y\na,w1,y\n")
    assert read_answers(path).n_answers == 4  # keep: every row is an answer, as in crowd-kit
    last = read_answers(path, "last")
    assert last.n_answers == 3 and sorted(last.classes.tolist()) == [1, 1, 1]
    with pytest.raises(CsvFormatError, match=r"a\.csv:5: worker 'w1' already answered item 'a'"):
        read_answers(path, "error")


def test_known_answers_are_clamped(tmp_path: Path) -> None:
    answers, _ = crowd_csv(tmp_path)
    known = write(tmp_path / "known.csv", "item,label\nimg0,bird\nimg1,bird\nunseen,cat\n")
    out = tmp_path / "p.csv"
    run(answers, "auto", out, known=known)
    rows = {r[0]: r for r in csv.reader(out.open(newline=""))}
    assert rows["img0"][1:] == ["bird", "1.0000"] and rows["img1"][1] == "bird"
    with pytest.raises(CsvFormatError, match="does not take known answers"):
        run(answers, "mv", out, known=known)
    bad = write(tmp_path / "bad.csv", "item,label\nimg0,fish\n")
    with pytest.raises(ValueError, match="known label not in categories"):
        run(answers, "ds", out, known=bad)


def test_gold_file_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "g.csv", "item,label\na,x\na,y\n")
    with pytest.raises(CsvFormatError, match=r"g\.csv:3: item 'a' appears twice"):
        read_labels(path)


def test_expected_calibration_error() -> None:
    conf = np.array([0.95, 0.95, 0.55, 0.55, 1.0])
    right = np.array([True, False, True, True, True])
    # bins: 0.9-1.0 holds 0.95, 0.95, 1.0 (2 right of 3); 0.5-0.6 holds 0.55, 0.55 (2 right of 2)
    expected = (abs(2.9 - 2) + abs(1.1 - 2)) / 5
    assert expected_calibration_error(conf, right) == pytest.approx(expected)
    assert np.isnan(expected_calibration_error(np.zeros(0), np.zeros(0, dtype=bool)))

"""`quorum autolabel-bench`'s pieces that need no platform: reading a content dataset, simulated crowds drawn
from real crowds' skills, and the frozen one-shot reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from quorum_cli.autolabel_bench import _machine_accuracy, frozen_baseline
from quorum_cli.simulation import CROWD_SKILL_QUANTILES, content_dataset, crowd_confusions


def write_dataset(root: Path, items: list[dict], gold: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    (root / "gold.csv").write_text("item,label\n" + "".join(f"{k},{v}\n" for k, v in gold.items()))
    return root


def test_content_dataset_reads_text_and_image_items_and_skips_items_without_gold(tmp_path: Path) -> None:
    text = write_dataset(
        tmp_path / "t",
        [{"item": 1, "source": "good"}, {"item": 2, "source": "bad"}, {"item": 3, "source": "no gold"}],
        {"1": "pos", "2": "neg"},
    )
    data = content_dataset(text, n_workers=4, seed=1)
    assert data.items == ["1", "2"] and data.categories == ["neg", "pos"]
    assert data.task_type == "text-classification"
    assert [json.loads(line) for line in data.manifest_lines()][0] == {"source": "good", "item": "1"}
    assert data.confusion is not None and data.confusion.shape == (4, 2, 2)

    images = write_dataset(
        tmp_path / "i", [{"item": "a", "source-ref": "images/a.png"}], {"a": "x", "b": "y"}
    )
    with pytest.raises(ValueError, match="fewer than 2 classes"):
        content_dataset(images)
    both = [{"item": "a", "source-ref": "images/a.png"}, {"item": "b", "source-ref": "b.png"}]
    write_dataset(tmp_path / "i", both, {"a": "x", "b": "y"})
    data = content_dataset(images)
    assert data.task_type == "image-classification"
    assert data.contents["a"]["source-ref"] == (images / "images/a.png").resolve().as_uri()


@pytest.mark.parametrize(
    ("items", "gold", "message"),
    [
        ([{"item": 1, "source": "a"}, {"item": 2, "source-ref": "b.png"}], {"1": "x", "2": "y"}, "mix text"),
        ([{"source": "a"}], {"1": "x"}, "line 1: needs `item`"),
        ([{"item": 9, "source": "a"}], {"1": "x"}, "no item of items.jsonl has a gold label"),
    ],
)
def test_bad_datasets_are_named(
    tmp_path: Path, items: list[dict], gold: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        content_dataset(write_dataset(tmp_path / "d", items, gold))
    with pytest.raises(FileNotFoundError, match="items.jsonl is missing"):
        content_dataset(tmp_path / "missing")


def test_simulated_workers_have_real_crowds_skills() -> None:
    for k in (2, 6, 10):
        conf = crowd_confusions(400, k, seed=3)
        np.testing.assert_allclose(conf.sum(axis=2), 1.0)
        acc = np.diagonal(conf, axis1=1, axis2=2)[:, 0]
        skill = (acc - 1 / k) / (1 - 1 / k)
        assert abs(np.median(skill) - CROWD_SKILL_QUANTILES[10]) < 0.05
        assert skill.min() >= 0.0 and skill.max() <= 1.0
    np.testing.assert_array_equal(crowd_confusions(5, 3, seed=1), crowd_confusions(5, 3, seed=1))


def test_machine_and_human_labels_are_scored_separately() -> None:
    lines = [
        {"item": "a", "x-metadata": {"class-name": "p", "human-annotated": "no"}},
        {"item": "b", "x-metadata": {"class-name": "n", "human-annotated": "no"}},
        {"item": "c", "x-metadata": {"class-name": "n", "human-annotated": "yes"}},
        {"item": "d", "x-metadata": {"failure-reason": "no consensus"}},
    ]
    scored = _machine_accuracy(lines, "x", {"a": "p", "b": "p", "c": "n", "d": "n"})
    assert scored == {
        "machine_labeled": 2,
        "machine_accuracy": 0.5,
        "human_labeled": 1,
        "human_label_accuracy": 1.0,
    }


def test_frozen_reference_labels_a_share_at_the_target_precision() -> None:
    rng = np.random.default_rng(0)
    words = {"sports": ["goal", "match", "striker"], "weather": ["rain", "storm", "sunny"]}
    labels = [str(rng.choice(list(words))) for _ in range(600)]
    texts = [
        f"the {rng.choice(words[y])} was {rng.choice(['big', 'late', 'new'])} ({i})"
        for i, y in enumerate(labels)
    ]
    result = frozen_baseline(texts, labels, 0.9, seed=0)
    assert result["human_labeled_share_percent"] == 20.0
    assert result["machine_labeled_share_percent"] > 50 and result["machine_accuracy"] >= 0.9


def test_sigterm_inside_a_borrowed_platform_exits_through_its_cleanup() -> None:
    """`timeout` sends SIGTERM: the platform a run started must still be stopped (the `finally` must run)."""
    import os
    import signal

    from quorum_cli.platform import borrowed_platform

    class Quiet:
        def print(self, *args: object) -> None:
            pass

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as info:
        with borrowed_platform("http://127.0.0.1:9", "key", Quiet(), requester_name="t") as (api, key):
            assert (api, key) == ("http://127.0.0.1:9", "key")
            os.kill(os.getpid(), signal.SIGTERM)
    assert info.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == before

"""Crowd datasets and simulated workers for `quorum demo`, the benchmark and the end-to-end tests.

A dataset in the format of shared/datasets/crowd/ has `labels.csv` (item,worker,label), `gold.csv`
(item,label) and optionally `items.jsonl` ({"item", "source"|"source-ref"}). Each real worker becomes a
simulated worker who gives its real answer when the dataset has one, and otherwise draws from its confusion
matrix estimated against gold (smoothed toward the population's matrix, since most workers are sparse).
"""

from __future__ import annotations

import csv
import json
import struct
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class CrowdDataset:
    name: str
    items: list[str]
    categories: list[str]
    gold: dict[str, str]
    contents: dict[str, dict[str, str]] = field(default_factory=dict)
    answers: dict[tuple[str, str], str] = field(default_factory=dict)  # (worker, item) -> label
    workers: list[str] = field(default_factory=list)
    # Explicit per-worker confusion matrices (W x K x K, rows = true class) for generated datasets.
    confusion: np.ndarray | None = None

    @property
    def task_type(self) -> str:
        first = self.contents.get(self.items[0], {}) if self.items else {}
        return "image-classification" if "source-ref" in first else "text-classification"

    def manifest_lines(self) -> list[str]:
        """One JSON line per item; the dataset's item id travels under `item` (passed through)."""
        lines = []
        for item in self.items:
            content = self.contents.get(item) or {"source": f"item {item}"}
            lines.append(json.dumps({**content, "item": item}))
        return lines

    @classmethod
    def load(cls, directory: Path, *, limit: int | None = None) -> CrowdDataset:
        directory = Path(directory)
        labels_csv, gold_csv = directory / "labels.csv", directory / "gold.csv"
        for required in (labels_csv, gold_csv):
            if not required.exists():
                raise FileNotFoundError(f"{required} is missing (expected item,worker,label and item,label)")
        answers: dict[tuple[str, str], str] = {}
        item_order: dict[str, None] = {}
        workers: dict[str, None] = {}
        with labels_csv.open(newline="") as f:
            for row in csv.DictReader(f):
                item, worker, label = row["item"], row["worker"], row["label"]
                answers[(worker, item)] = label
                item_order.setdefault(item, None)
                workers.setdefault(worker, None)
        with gold_csv.open(newline="") as f:
            gold = {row["item"]: row["label"] for row in csv.DictReader(f)}
        contents: dict[str, dict[str, str]] = {}
        items_jsonl = directory / "items.jsonl"
        if items_jsonl.exists():
            with items_jsonl.open() as f:
                for line in f:
                    if line.strip():
                        obj = json.loads(line)
                        key = "source-ref" if "source-ref" in obj else "source"
                        value = obj[key]
                        if key == "source-ref" and "://" not in value:
                            value = (directory / value).resolve().as_uri()
                        contents[str(obj["item"])] = {key: value}
        items = list(item_order)
        if limit is not None:
            items = items[:limit]
            keep = set(items)
            answers = {k: v for k, v in answers.items() if k[1] in keep}
        categories = sorted({*answers.values(), *(gold[i] for i in items if i in gold)})
        return cls(directory.name, items, categories, gold, contents, answers, list(workers))


def simulated_digits(
    out_dir: Path, *, n_items: int = 300, n_workers: int = 12, seed: int = 7
) -> CrowdDataset:
    """scikit-learn's digits as PNG files plus simulated workers with varied skill (no real answers)."""
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    digits = load_digits()
    image_dir = out_dir / "digits"
    image_dir.mkdir(parents=True, exist_ok=True)
    items, contents, gold = [], {}, {}
    for i in range(min(n_items, len(digits.images))):
        item = f"digit-{i:04d}"
        path = image_dir / f"{item}.png"
        pixels = (digits.images[i] / 16.0 * 255).astype(np.uint8)
        path.write_bytes(_png_gray(np.kron(pixels, np.ones((4, 4), dtype=np.uint8))))
        items.append(item)
        contents[item] = {"source-ref": path.resolve().as_uri()}
        gold[item] = str(int(digits.target[i]))
    categories = [str(d) for d in range(10)]
    k = len(categories)
    accuracy = rng.uniform(0.55, 0.95, size=n_workers)
    confusion = np.empty((n_workers, k, k))
    for w in range(n_workers):
        # Mistakes concentrate on a few look-alike classes, as real annotators' do.
        off = rng.dirichlet(np.full(k, 0.3), size=k)
        np.fill_diagonal(off, 0)
        off /= off.sum(axis=1, keepdims=True)
        confusion[w] = off * (1 - accuracy[w]) + np.eye(k) * accuracy[w]
    workers = [f"sim-worker-{w:02d}" for w in range(n_workers)]
    return CrowdDataset("sklearn-digits", items, categories, gold, contents, {}, workers, confusion)


# Chance-corrected skill s = (accuracy - 1/k) / (1 - 1/k) of real crowd workers: the 0, 5, ..., 100 % quant.
# over every worker with >= 20 gold answers in shared/datasets/crowd (adult, face, music_genre, possent,
# sentiment_polarity, temp; each dataset weighted equally), printed by `bench/crowd_worker_skill.py`. Kept
# here so simulated crowds are the same on every machine, with or without the shared datasets.
CROWD_SKILL_QUANTILES = (
    0.000, 0.006, 0.240, 0.364, 0.413, 0.439, 0.495, 0.533, 0.583, 0.607, 0.660,
    0.700, 0.719, 0.749, 0.778, 0.800, 0.830, 0.850, 0.878, 0.900, 1.000,
)  # fmt: skip


def crowd_confusions(n_workers: int, n_classes: int, seed: int) -> np.ndarray:
    """(W, K, K) confusion matrices of simulated workers whose skills are drawn from real crowds'
    (CROWD_SKILL_QUANTILES): worker w answers right with 1/K + s_w (1 - 1/K); its mistakes favour a few
    classes per true class (Dirichlet(0.5) rows), as real annotators confuse look-alike classes."""
    rng = np.random.default_rng(seed)
    k = n_classes
    skills = np.interp(
        rng.uniform(size=n_workers), np.linspace(0, 1, len(CROWD_SKILL_QUANTILES)), CROWD_SKILL_QUANTILES
    )
    accuracy = 1.0 / k + skills * (1.0 - 1.0 / k)
    confusion = np.empty((n_workers, k, k))
    for w in range(n_workers):
        off = rng.dirichlet(np.full(k - 1, 0.5), size=k) if k > 2 else np.ones((k, 1))
        rows = np.zeros((k, k))
        for t in range(k):
            rows[t, [c for c in range(k) if c != t]] = off[t] * (1.0 - accuracy[w])
            rows[t, t] = accuracy[w]
        confusion[w] = rows
    return confusion


def content_dataset(directory: Path, *, n_workers: int = 10, seed: int = 0) -> CrowdDataset:
    """A dataset in the format of shared/datasets/content (items.jsonl with `source` text or a `source-ref`
    path relative to the folder, gold.csv item,label) with simulated workers (crowd_confusions). Items
    without gold are left out: they could not be scored."""
    directory = Path(directory)
    items_jsonl, gold_csv = directory / "items.jsonl", directory / "gold.csv"
    for required in (items_jsonl, gold_csv):
        if not required.exists():
            raise FileNotFoundError(f"{required} is missing (expected items.jsonl and gold.csv item,label)")
    with gold_csv.open(newline="") as f:
        gold = {row["item"]: row["label"] for row in csv.DictReader(f)}
    items: list[str] = []
    contents: dict[str, dict[str, str]] = {}
    with items_jsonl.open() as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            obj = json.loads(line)
            if "item" not in obj or not ("source" in obj or "source-ref" in obj):
                raise ValueError(f"{items_jsonl} line {line_no}: needs `item` and `source` or `source-ref`")
            item = str(obj["item"])
            if item not in gold or item in contents:
                continue
            if "source" in obj:
                contents[item] = {"source": str(obj["source"])}
            else:
                ref = str(obj["source-ref"])
                contents[item] = {"source-ref": ref if "://" in ref else (directory / ref).resolve().as_uri()}
            items.append(item)
    if not items:
        raise ValueError(f"{directory}: no item of items.jsonl has a gold label")
    kinds = {next(iter(c)) for c in contents.values()}
    if len(kinds) > 1:
        raise ValueError(f"{directory}: items mix text (`source`) and images (`source-ref`); use one kind")
    categories = sorted({gold[i] for i in items})
    if len(categories) < 2:
        raise ValueError(f"{directory}: gold.csv has fewer than 2 classes")
    workers = [f"sim-worker-{w:02d}" for w in range(n_workers)]
    confusion = crowd_confusions(n_workers, len(categories), seed)
    return CrowdDataset(directory.name, items, categories, gold, contents, {}, workers, confusion)


def _png_gray(pixels: np.ndarray) -> bytes:
    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class CrowdSimulator:
    """Answers tasks as the dataset's workers would."""

    def __init__(self, dataset: CrowdDataset, *, seed: int = 0, prior_strength: float = 2.0) -> None:
        self.dataset = dataset
        self.rng = np.random.default_rng(seed)
        self.class_index = {c: i for i, c in enumerate(dataset.categories)}
        self.worker_index = {w: i for i, w in enumerate(dataset.workers)}
        self.truth = self._proxy_truth()
        self.confusion = (
            dataset.confusion if dataset.confusion is not None else self._estimate(prior_strength)
        )

    def _proxy_truth(self) -> dict[str, int]:
        """Gold where known; otherwise the majority of the real answers (the best stand-in we have)."""
        votes: dict[str, Counter[str]] = defaultdict(Counter)
        for (_worker, item), label in self.dataset.answers.items():
            votes[item][label] += 1
        truth = {}
        for item in self.dataset.items:
            if item in self.dataset.gold:
                truth[item] = self.class_index[self.dataset.gold[item]]
            elif votes[item]:
                truth[item] = self.class_index[votes[item].most_common(1)[0][0]]
            else:
                truth[item] = int(self.rng.integers(len(self.dataset.categories)))
        return truth

    def _estimate(self, prior_strength: float) -> np.ndarray:
        k, n_workers = len(self.dataset.categories), len(self.dataset.workers)
        counts = np.zeros((n_workers, k, k))
        for (worker, item), label in self.dataset.answers.items():
            if item in self.dataset.gold:
                counts[self.worker_index[worker], self.truth[item], self.class_index[label]] += 1
        population = counts.sum(axis=0) + 1.0  # Laplace so every row is a distribution
        population /= population.sum(axis=1, keepdims=True)
        smoothed = counts + prior_strength * population[None, :, :]
        return smoothed / smoothed.sum(axis=2, keepdims=True)

    def answer(self, worker: str, item: str) -> str:
        real = self.dataset.answers.get((worker, item))
        if real is not None:
            return real
        row = self.confusion[self.worker_index[worker], self.truth[item]]
        return self.dataset.categories[int(self.rng.choice(len(row), p=row))]


def accuracy(predictions: dict[str, str], gold: dict[str, str]) -> tuple[float, int]:
    """Share of gold items predicted right (a gold item with no prediction counts as wrong)."""
    if not gold:
        return float("nan"), 0
    right = sum(predictions.get(item) == label for item, label in gold.items())
    return right / len(gold), len(gold)


def majority_vote(answers: list[tuple[str, str]], seed: int = 0) -> dict[str, str]:
    """Plain majority vote over (item, label) pairs, ties broken at random: the baseline to compare with."""
    rng = np.random.default_rng(seed)
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for item, label in answers:
        votes[item][label] += 1
    result = {}
    for item, counter in votes.items():
        top = max(counter.values())
        tied = sorted(label for label, n in counter.items() if n == top)
        result[item] = tied[int(rng.integers(len(tied)))]
    return result

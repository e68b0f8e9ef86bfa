"""torch networks for automated labelling, their training loop, and their files on disk."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from numpy.typing import NDArray
from torch import nn


@dataclass(frozen=True)
class Arch:
    """Everything needed to rebuild a network before loading its weights."""

    kind: str  # "head" (on embeddings), "cnn" or "cnn_wide" (on images)
    input_shape: tuple[int, ...]  # (dim,) or (channels, height, width)
    n_classes: int
    hidden: int = 256  # head: 0 = logistic regression
    # head on text: the fine-tuned encoder whose embeddings it takes (a path under the models folder; see
    # adapters/finetune.py), "" = frozen MiniLM.
    encoder: str = ""
    # text: the bag-of-words expert whose log-probabilities are added to the head's logits (a path under the
    # models folder; see adapters/lexicon.py), "" = none.
    lexicon: str = ""

    def to_json(self) -> dict[str, Any]:
        out = {**asdict(self), "input_shape": list(self.input_shape)}
        for optional in ("encoder", "lexicon"):
            if not out[optional]:
                del out[optional]  # versions without them keep the records they had
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Arch:
        return cls(
            data["kind"],
            tuple(data["input_shape"]),
            int(data["n_classes"]),
            int(data["hidden"]),
            str(data.get("encoder", "")),
            str(data.get("lexicon", "")),
        )


class SmallCNN(nn.Module):
    """Three conv blocks and a linear classifier: enough for digits-sized images, trains in seconds on CPU."""

    def __init__(self, channels: int, n_classes: int) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)
            )

        self.features = nn.Sequential(
            block(channels, 16), block(16, 32), block(32, 64), nn.AdaptiveAvgPool2d(1)
        )
        self.classifier = nn.Linear(64, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class WideCNN(nn.Module):
    """SmallCNN plus a linear model of the image pooled to 8 x 8, summed into the logits ("wide & deep"):
    the linear part learns from a few dozen images (tiny digits), the CNN adds shapes as labels grow."""

    def __init__(self, channels: int, n_classes: int) -> None:
        super().__init__()
        self.cnn = SmallCNN(channels, n_classes)
        self.pool = nn.AdaptiveAvgPool2d(8)
        self.linear = nn.Linear(channels * 64, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cnn(x) + self.linear(torch.flatten(self.pool(x), 1))


MIN_IMAGE_SIDE = 16  # SmallCNN pools three times


def input_side(native: int, largest: int) -> int:
    """The side images go in at: `largest`, or their own (median) side rounded up to a multiple of 8 when
    smaller (upscaling 8 x 8 digits to 32 x 32 costs 4x the compute and adds nothing); at least
    MIN_IMAGE_SIDE."""
    return max(MIN_IMAGE_SIDE, min(largest, -(-native // 8) * 8))


def build(arch: Arch) -> nn.Module:
    if arch.kind == "head":
        dim = arch.input_shape[0]
        if arch.hidden <= 0:
            return nn.Sequential(nn.Linear(dim, arch.n_classes))
        return nn.Sequential(
            nn.Linear(dim, arch.hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(arch.hidden, arch.n_classes)
        )
    if arch.kind == "cnn":
        return SmallCNN(arch.input_shape[0], arch.n_classes)
    if arch.kind == "cnn_wide":
        return WideCNN(arch.input_shape[0], arch.n_classes)
    raise ValueError(f"unknown network kind {arch.kind!r}")


def pick_device(prefer: str = "auto") -> torch.device:
    """GPU when one is present (or asked for), CPU otherwise."""
    if prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(prefer)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 60
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    # Images: random small rotations, scalings and shifts of every training batch (digits, photos).
    augment: bool = True
    # Label smoothing of the cross-entropy: noisy human labels then cost less, and confidences stay graded.
    label_smoothing: float = 0.0
    # At least this many optimiser steps however few the examples (30 epochs of 200 images are 90 steps:
    # a CNN is still far from converged there).
    min_steps: int = 0


def _augment(xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per-image random affine: rotation +-12 degrees, scale 0.9-1.1, shift +-10%, border padding."""
    n = len(xb)
    r = torch.rand((n, 4), generator=gen).to(xb.device)
    angle = (r[:, 0] - 0.5) * (2 * 12 * np.pi / 180)
    scale = 0.9 + 0.2 * r[:, 1]
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos, -sin, (r[:, 2] - 0.5) * 0.2], dim=1),
            torch.stack([sin, cos, (r[:, 3] - 0.5) * 0.2], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(xb.shape), align_corners=False)
    return F.grid_sample(xb, grid, padding_mode="border", align_corners=False)


def soft_targets(
    y: NDArray[np.int64], confidence: NDArray[np.floating], n_classes: int
) -> NDArray[np.float32]:
    """Training targets from crowd labels and their consolidated confidences q: q on the label, the rest
    spread evenly over the other classes (a label at q <= 0, unknown, is taken as certain). A wrong crowd
    label mostly comes with a low q, so it pulls the network less: on the digit sets' crowd labels the CNN
    gained 2.8 and 3.5 points of accuracy over the bare labels (bench/image_training.py)."""
    q = np.asarray(confidence, dtype=np.float64)
    q = np.where(q > 0.0, np.clip(q, 1.0 / n_classes, 1.0), 1.0)
    out = np.repeat(((1.0 - q) / max(1, n_classes - 1))[:, None], n_classes, axis=1)
    out[np.arange(len(y)), np.asarray(y, dtype=np.int64)] = q
    return out.astype(np.float32)


def train(
    arch: Arch,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    config: TrainConfig,
    *,
    device: torch.device,
    init_state: dict[str, torch.Tensor] | None = None,
    confidence: NDArray[np.floating] | None = None,
) -> nn.Module:
    """Train a fresh network (or one warm-started from `init_state`) with Adam and cross-entropy; with each
    label's `confidence`, against soft_targets."""
    torch.manual_seed(config.seed)
    model = build(arch)
    if init_state is not None:
        model.load_state_dict(init_state)
    model.to(device).train()
    if len(x):
        xt = torch.as_tensor(x, dtype=torch.float32, device=device)
        yt = torch.as_tensor(
            y if confidence is None else soft_targets(y, confidence, arch.n_classes),
            dtype=torch.int64 if confidence is None else torch.float32,
            device=device,
        )
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        augment = config.augment and arch.kind != "head"
        gen = torch.Generator(device="cpu").manual_seed(config.seed)
        # Cosine decay to 0: the last epochs take small steps, so the returned weights are not whatever an
        # Adam spike left at the end (a constant rate let a CNN fall from 0.99 to 0.64 validation accuracy).
        per_epoch = -(-len(xt) // config.batch_size)
        epochs = max(config.epochs, -(-config.min_steps // per_epoch))
        steps = epochs * per_epoch
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
        for _ in range(epochs):
            order = torch.randperm(len(xt), generator=gen).to(device)
            for start in range(0, len(xt), config.batch_size):
                idx = order[start : start + config.batch_size]
                if len(idx) < 2 and arch.kind != "head":
                    continue  # BatchNorm needs more than one sample
                opt.zero_grad()
                xb = _augment(xt[idx], gen) if augment else xt[idx]
                loss_fn(model(xb), yt[idx]).backward()
                opt.step()
                schedule.step()
    return model.eval()


def fold_indices(y: NDArray[np.int64], folds: int, seed: int = 0) -> NDArray[np.int64]:
    """A fold number per row, stratified by label (each class dealt round-robin in a seeded order)."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(y), dtype=np.int64)
    offset = 0
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        fold[rows] = (np.arange(len(rows)) + offset) % folds
        offset += len(rows)
    return fold


def cross_fit_folds(y: NDArray[np.int64], folds: int, seed: int = 0) -> NDArray[np.int64]:
    """The fold of each row in `cross_fit` (between 2 and len(y) folds): other models cross-fitted beside a
    network (e.g. the text lexicon) use the same folds, so no row's models ever saw it."""
    return fold_indices(y, max(2, min(folds, len(y))), seed)


def cross_fit(
    arch: Arch,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    config: TrainConfig,
    *,
    device: torch.device,
    folds: int = 5,
    init_state: dict[str, torch.Tensor] | None = None,
    fold_init_state: dict[str, torch.Tensor] | None = None,
    confidence: NDArray[np.floating] | None = None,
) -> tuple[nn.Module, NDArray[np.float32]]:
    """Cross-fitting: out-of-fold logits for every row (`folds` networks, each trained without one fold)
    and the network trained on all rows, which is the one kept. Every human label then both trains the
    kept network and, once, is held out to calibrate and certify it; the kept network saw (folds-1)/folds
    of the data more, so held-out accuracy slightly understates its own. `init_state` starts the kept
    network, `fold_init_state` the fold networks: never weights that saw these rows (a same-job version).
    `confidence`: each label's consolidated confidence (see `train`)."""
    fold = cross_fit_folds(y, folds, config.seed)
    oof = np.zeros((len(y), arch.n_classes), dtype=np.float32)
    for f in range(max(2, min(folds, len(y)))):
        held = fold == f
        if not held.any():
            continue
        model = train(
            arch,
            x[~held],
            y[~held],
            config,
            device=device,
            init_state=fold_init_state,
            confidence=None if confidence is None else confidence[~held],
        )
        oof[held] = logits(model, x[held])
    return train(arch, x, y, config, device=device, init_state=init_state, confidence=confidence), oof


@torch.no_grad()
def logits(model: nn.Module, x: NDArray[np.float32], batch_size: int = 1024) -> NDArray[np.float32]:
    device = next(model.parameters()).device
    out = [
        model(torch.as_tensor(x[i : i + batch_size], dtype=torch.float32, device=device))
        .float()
        .cpu()
        .numpy()
        for i in range(0, len(x), batch_size)
    ]
    n_classes = model(torch.zeros((1, *x.shape[1:]), device=device)).shape[1] if not out else out[0].shape[1]
    return np.concatenate(out) if out else np.zeros((0, n_classes), dtype=np.float32)


def warm_start_state(
    arch: Arch, old: dict[str, torch.Tensor], old_categories: list[str], new_categories: list[str]
) -> dict[str, torch.Tensor]:
    """A new network's initial weights from an earlier version: every layer copied; the output layer's rows
    follow the category names (a category the earlier job lacked keeps its fresh initialisation)."""
    fresh = build(arch).state_dict()
    out_keys = [k for k in fresh if k.endswith(("weight", "bias"))][-2:]  # the final Linear
    state: dict[str, torch.Tensor] = {}
    for key, value in fresh.items():
        if key not in old or (key not in out_keys and old[key].shape != value.shape):
            raise ValueError(f"earlier version's layer {key!r} does not match this network")
        if key in out_keys:
            merged = value.clone()
            for i, name in enumerate(new_categories):
                if name in old_categories:
                    merged[i] = old[key][old_categories.index(name)]
            state[key] = merged
        else:
            state[key] = old[key].clone()
    return state


def save(path: Path, arch: Arch, model: nn.Module) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"arch": arch.to_json(), "state": {k: v.cpu() for k, v in model.state_dict().items()}}, tmp)
    tmp.replace(path)  # a crash never leaves a half-written version behind


def load(path: Path, device: torch.device) -> tuple[Arch, nn.Module, dict[str, torch.Tensor]]:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    arch = Arch.from_json(blob["arch"])
    model = build(arch)
    model.load_state_dict(blob["state"])
    return arch, model.to(device).eval(), blob["state"]

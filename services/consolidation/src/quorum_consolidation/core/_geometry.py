"""Vectorised geometry shared by the box, span and adjustment aggregators (private)."""

from __future__ import annotations

import numpy as np


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` ``[n, 4]`` with every box in `b` ``[m, 4]`` -> ``[n, m]``
    (corners x1, y1, x2, y2).

    Boxes of zero area have IoU 0 with everything (including themselves).
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    iy = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(ix, 0.0, None) * np.clip(iy, 0.0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return iou


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box `a[i]` with box `b[i]` (both ``[n, 4]`` corners) -> ``[n]``."""
    ix = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    iy = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(ix, 0.0, None) * np.clip(iy, 0.0, None)
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def pairwise_span_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Jaccard index of character ranges ``[start, end)``: `a` ``[n, 2]`` x `b` ``[m, 2]`` -> ``[n, m]``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    inter = np.clip(
        np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None
    )
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted median over axis 0 of `values` ``[n, d]`` with `weights` ``[n]`` (> 0) -> ``[d]``.

    The lower weighted median, averaged with the next value when the cumulative weight hits exactly half
    (so two equal-weight values give their mean, like the ordinary median).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    w = np.asarray(weights, dtype=np.float64)
    order = np.argsort(values, axis=0, kind="stable")
    v = np.take_along_axis(values, order, axis=0)
    cw = np.cumsum(w[order], axis=0)
    half = 0.5 * cw[-1]
    idx = (cw < half - 1e-12 * cw[-1]).sum(axis=0)  # first index with cumulative weight >= half
    cols = np.arange(v.shape[1])
    lower = v[idx, cols]
    exact = np.abs(cw[idx, cols] - half) <= 1e-12 * cw[-1]
    upper = v[np.minimum(idx + 1, v.shape[0] - 1), cols]
    return np.where(exact, 0.5 * (lower + upper), lower)


def xywh_to_corners(xywh: np.ndarray) -> np.ndarray:
    """``[n, 4]`` left, top, width, height -> x1, y1, x2, y2."""
    xywh = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def corners_to_int_xywh(corners: np.ndarray) -> np.ndarray:
    """``[n, 4]`` float corners -> int64 left, top, width, height (corners rounded; GT writes ints)."""
    c = np.rint(np.asarray(corners, dtype=np.float64).reshape(-1, 4)).astype(np.int64)
    return np.stack([c[:, 0], c[:, 1], c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]], axis=1)

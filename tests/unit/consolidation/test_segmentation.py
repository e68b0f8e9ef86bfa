"""SegmentationConsolidator: voting + smoothing removes salt-and-pepper noise; reliability; bad input."""

from __future__ import annotations

import numpy as np
import pytest

from quorum_consolidation.core.answers import ConsolidationInputError
from quorum_consolidation.core.segmentation import SegmentationConsolidator


def scene(seed: int = 0):
    """A 40x40 mask with a rectangle (class 1) and a disc (class 2); three workers copy it with 25% of
    pixels replaced by random classes, and a fourth answers noise everywhere."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((40, 40), dtype=np.int64)
    truth[5:20, 5:30] = 1
    yy, xx = np.mgrid[:40, :40]
    truth[(yy - 30) ** 2 + (xx - 28) ** 2 < 64] = 2
    masks = []
    for w in range(3):
        m = truth.copy()
        flip = rng.random(truth.shape) < 0.25
        m[flip] = rng.integers(0, 3, int(flip.sum()))
        masks.append((f"w{w}", m))
    masks.append(("noise", rng.integers(0, 3, truth.shape)))
    return truth, masks


def test_smoothing_removes_salt_and_pepper() -> None:
    truth, masks = scene()
    smooth = SegmentationConsolidator(n_classes=3).fit([masks])
    raw = SegmentationConsolidator(n_classes=3, smoothing=1, n_rounds=1).fit([masks])
    err_smooth = (smooth.labels_[0] != truth).mean()
    err_raw = (raw.labels_[0] != truth).mean()
    err_worker = (masks[0][1] != truth).mean()
    assert err_smooth < 0.03 and err_smooth < err_raw / 2 and err_raw < err_worker
    assert 0 < smooth.confidences_[0] <= 1
    noise = list(smooth.worker_ids_).index("noise")
    assert np.argmin(smooth.accuracy_) == noise and np.argmin(smooth.weights_) == noise


def test_unanimous_and_single_worker() -> None:
    m = np.array([[0, 1], [1, 1]])
    model = SegmentationConsolidator(n_classes=2, smoothing=1).fit([[("a", m), ("b", m)], [("a", m)]])
    np.testing.assert_array_equal(model.labels_[0], m)
    assert model.confidences_ == [1.0, 0.0]
    cmap = model.internal_color_map(0, ["BACKGROUND", "car"], ["#ffffff", "#2acf59"])
    assert cmap == {
        "0": {"class-name": "BACKGROUND", "confidence": 1.0, "hex-color": "#ffffff"},
        "1": {"class-name": "car", "confidence": 1.0, "hex-color": "#2acf59"},
    }


@pytest.mark.parametrize(
    ("images", "match"),
    [
        ([[]], "no masks"),
        ([[("a", np.zeros((2, 2), int)), ("b", np.zeros((3, 2), int))]], "one shape"),
        ([[("a", np.full((2, 2), 5))]], r"lie in \[0, 3\)"),
        ([[("a", np.zeros((2, 2)))]], "integer"),
        ([[("a", np.zeros((2, 2), int)), ("a", np.zeros((2, 2), int))]], "more than one mask"),
    ],
)
def test_bad_input(images: list, match: str) -> None:
    with pytest.raises(ConsolidationInputError, match=match):
        SegmentationConsolidator(n_classes=3).fit(images)


def test_bad_hyperparameters() -> None:
    with pytest.raises(ValueError, match="smoothing"):
        SegmentationConsolidator(n_classes=3, smoothing=2)
    with pytest.raises(ValueError, match="n_classes"):
        SegmentationConsolidator(n_classes=1)

"""Which file backs an object's image or consolidated mask (quorum_jobs.core.content)."""

from __future__ import annotations

import json

from quorum_jobs.core.content import image_ref, mask_ref


def test_image_ref_is_the_source_ref_of_an_image_object() -> None:
    assert image_ref({"source-ref": "/data/a.png", "n": 1}) == "/data/a.png"
    assert image_ref({"source": "a cat purrs"}) is None
    assert image_ref({"source-ref": ""}) is None


def test_mask_ref_only_for_segmentation_labels() -> None:
    seg = json.dumps({"task_type": "semantic-segmentation", "label": "/m/0.png", "metadata": {}})
    assert mask_ref("semantic-segmentation", seg) == "/m/0.png"
    assert mask_ref("adjustment", seg) == "/m/0.png"  # an adjusted mask
    boxes = json.dumps({"task_type": "bounding-box", "label": {"annotations": []}, "metadata": {}})
    assert mask_ref("adjustment", boxes) is None
    assert mask_ref("semantic-segmentation", None) is None  # not labeled yet
    assert mask_ref("image-classification", "cat") is None  # a class name, not JSON
    assert mask_ref("image-classification", "1") is None

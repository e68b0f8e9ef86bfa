"""Worker answers per task type (the portal contract): a bad payload is refused with a reason naming it."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from quorum_common.task_types import color_map
from quorum_consolidation.adapters.task_labels import decode_mask as consolidation_decode_mask
from quorum_workforce.core.answers import MAX_MASK_PAYLOAD_BYTES, normalize_answer
from quorum_workforce.core.task_answers import AnswerContext, decode_mask, with_image_size
from quorum_workforce.errors import InvalidArgument

CATS = ("dog", "bone")


def refused(task_type: str, payload: object, label: str = "", **context: object) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        normalize_answer(task_type, CATS, label, json.dumps(payload), **context)  # type: ignore[arg-type]
    return info.value


def png(pixels: np.ndarray, mode: str = "RGB") -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels, mode=mode).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def rgb(color: str) -> list[int]:
    return [int(color[i : i + 2], 16) for i in (1, 3, 5)]


def test_multilabel_takes_a_set_of_categories_including_none() -> None:
    for labels in ([], ["dog"], ["bone", "dog"]):
        payload = json.dumps({"labels": labels})
        assert normalize_answer("image-classification-multilabel", CATS, "", payload) == payload
    err = refused("text-classification-multilabel", {"labels": ["cat"]})
    assert err.reason == "invalid_label" and "labels[0] 'cat' is not a category" in err.message
    assert refused("text-classification-multilabel", {"labels": ["dog", "dog"]}).reason == "duplicate_label"
    assert "payload needs 'labels'" in refused("image-classification-multilabel", {"label": "dog"}).message


def box(**changes: object) -> dict[str, object]:
    return {"label": "dog", "left": 10, "top": 20.5, "width": 30, "height": 40, **changes}


def test_boxes_must_lie_inside_the_image_and_name_a_category() -> None:
    size = {"width": 100, "height": 80}
    ok = json.dumps({"boxes": [box(), box(label="bone", left=70)], "image_size": size})
    assert normalize_answer("bounding-box", CATS, "", ok) == ok
    nothing = json.dumps({"boxes": [], "image_size": size})  # "nothing to label"
    assert normalize_answer("bounding-box", CATS, "", nothing) == nothing
    err = refused("bounding-box", {"boxes": [box(), box(left=80)], "image_size": size})
    assert err.reason == "box_outside_image"
    assert err.message == "boxes[1] [80, 20.5, 110, 60.5] lies outside the image (0..100 x 0..80)"
    assert (
        refused("bounding-box", {"boxes": [box(label="cat")], "image_size": size}).reason == "invalid_label"
    )
    assert refused("bounding-box", {"boxes": [box(width=0)], "image_size": size}).reason == "box_invalid"
    assert (
        "boxes[0].top must be a finite number"
        in refused("bounding-box", {"boxes": [box(top="1")], "image_size": size}).message
    )
    assert "needs 'image_size'" in refused("bounding-box", {"boxes": [box()]}).message
    assert normalize_answer("bounding-box", CATS, "", '{"boxes": []}') == '{"boxes": []}'


def test_the_images_real_size_bounds_the_boxes_when_the_service_knows_it() -> None:
    claimed = {"width": 1000, "height": 1000}  # the portal's word loses against the file's header
    err = refused("bounding-box", {"boxes": [box(left=80)], "image_size": claimed}, image_size=(100, 80))
    assert err.reason == "box_outside_image" and "(0..100 x 0..80)" in err.message
    ok = json.dumps({"boxes": [box()]})
    assert normalize_answer("bounding-box", CATS, "", ok, image_size=(100, 80)) == ok
    assert refused("bounding-box", {}, label="dog").reason == "payload_invalid"


def test_entities_are_offsets_into_the_text_and_must_not_overlap() -> None:
    text = "Rex chewed the bone."
    ok = json.dumps(
        {"entities": [{"label": "dog", "start": 0, "end": 3}, {"label": "bone", "start": 15, "end": 19}]}
    )
    assert normalize_answer("named-entity-recognition", CATS, "", ok, text=text) == ok
    overlap = {"entities": [{"label": "dog", "start": 0, "end": 6}, {"label": "bone", "start": 4, "end": 10}]}
    err = refused("named-entity-recognition", overlap, text=text)
    assert err.reason == "spans_overlap"
    assert err.message == "entities[0] and entities[1] overlap ([0, 6) and [4, 10)); spans must not overlap"
    past_end = {"entities": [{"label": "dog", "start": 15, "end": 21}]}
    assert "<= 20 (the text's length)" in refused("named-entity-recognition", past_end, text=text).message
    assert (
        refused(
            "named-entity-recognition", {"entities": [{"label": "dog", "start": 3, "end": 3}]}, text=text
        ).reason
        == "span_invalid"
    )


def test_masks_are_pngs_of_the_image_size_in_the_colour_map() -> None:
    colors = color_map(len(CATS))
    pixels = np.full((8, 12, 3), 255, dtype=np.uint8)
    pixels[2:4, 3:6] = rgb(colors[1])
    pixels[5:7, 0:2] = rgb(colors[0])
    payload = json.dumps({"mask_png": png(pixels)})
    assert normalize_answer("semantic-segmentation", CATS, "", payload, image_size=(12, 8)) == payload
    classes = decode_mask(png(pixels), colors)
    assert classes[2, 3] == 2 and classes[5, 0] == 1 and classes[0, 0] == 0 and int((classes > 0).sum()) == 10
    # Consolidation decodes the very same classes.
    assert np.array_equal(consolidation_decode_mask(png(pixels), color_map(len(CATS))), classes)
    err = refused("semantic-segmentation", {"mask_png": png(pixels)}, image_size=(13, 8))
    assert (
        err.reason == "mask_wrong_size" and err.message == "mask_png is 12 x 8 pixels but the image is 13 x 8"
    )
    pixels[0, 1] = [1, 2, 3]
    err = refused("semantic-segmentation", {"mask_png": png(pixels)}, image_size=(12, 8))
    assert err.reason == "mask_unknown_color" and "pixel (1, 0) has colour #010203" in err.message
    assert refused("semantic-segmentation", {"mask_png": "not base64!"}).reason == "mask_invalid"
    assert (
        refused("semantic-segmentation", {"mask_png": base64.b64encode(b"GIF89a....").decode()}).reason
        == "mask_invalid"
    )
    transparent = np.zeros((8, 12, 4), dtype=np.uint8)  # fully transparent = background
    assert decode_mask(png(transparent, "RGBA"), colors).max() == 0


def test_masks_may_be_larger_than_other_payloads_but_are_bounded() -> None:
    big = json.dumps({"mask_png": "A" * MAX_MASK_PAYLOAD_BYTES})
    assert refused("semantic-segmentation", json.loads(big)).reason == "payload_too_large"


def test_verification_label_is_a_verdict_with_an_optional_comment() -> None:
    verdicts = ("good", "bad")
    payload = json.dumps({"comment": "the box is too wide"})
    assert normalize_answer("label-verification", verdicts, "bad", payload) == payload
    assert json.loads(normalize_answer("label-verification", verdicts, "good", "")) == {"label": "good"}
    with pytest.raises(InvalidArgument) as info:
        normalize_answer("label-verification", verdicts, "maybe", "")
    assert info.value.reason == "invalid_label"
    with pytest.raises(InvalidArgument) as info:
        normalize_answer("label-verification", verdicts, "bad", json.dumps({"comment": 3}))
    assert "comment must be a string" in info.value.message


def test_adjustment_answers_are_the_base_payload_plus_adjusted() -> None:
    size = {"width": 100, "height": 80}
    ok = json.dumps({"boxes": [box()], "image_size": size, "adjusted": True})
    assert normalize_answer("adjustment", CATS, "", ok, base_type="bounding-box") == ok
    err = refused("adjustment", {"boxes": [box()], "image_size": size}, base_type="bounding-box")
    assert "'adjusted': true or false" in err.message
    assert (
        refused(
            "adjustment",
            {"boxes": [box(left=99)], "image_size": size, "adjusted": True},
            base_type="bounding-box",
        ).reason
        == "box_outside_image"
    )
    spans = {"entities": [{"label": "dog", "start": 0, "end": 9}], "adjusted": False}
    assert (
        refused("adjustment", spans, base_type="named-entity-recognition", text="Rex").reason
        == "span_invalid"
    )


def test_colour_map_is_distinct_and_never_white() -> None:
    for n in (2, 20, 21, 100):
        colors = color_map(n)
        assert len(colors) == len(set(colors)) == n and "#ffffff" not in colors
    assert color_map(3) == ["#2ca02c", "#1f77b4", "#ff7f0e"]  # Ground Truth's palette first


def test_a_boxes_payload_without_image_size_gets_the_real_one() -> None:
    context = AnswerContext(image_size=(100, 80))
    assert json.loads(with_image_size('{"boxes":[]}', "bounding-box", context)) == {
        "boxes": [],
        "image_size": {"width": 100, "height": 80},
    }
    given = '{"boxes":[],"image_size":{"width":5,"height":5}}'
    assert with_image_size(given, "bounding-box", context) == given
    assert with_image_size('{"labels":[]}', "image-classification-multilabel", context) == '{"labels":[]}'
    adjusting = AnswerContext(image_size=(100, 80), base_type="bounding-box")
    assert "image_size" in with_image_size('{"boxes":[],"adjusted":false}', "adjustment", adjusting)
    assert with_image_size('{"boxes":[]}', "bounding-box", AnswerContext()) == '{"boxes":[]}'

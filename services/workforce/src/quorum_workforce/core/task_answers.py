"""Per task type: what a worker's payload must hold (the task-type contract shared with the worker portal).

- multi-label: {"labels": [<category>, ...]} (empty = none applies);
- bounding-box: {"boxes": [{"label", "left", "top", "width", "height"}], "image_size": {"width", "height"}};
- semantic-segmentation: {"mask_png": <base64 PNG>} coloured with the job's colour map, background white or
  fully transparent, as large as the image;
- named-entity-recognition: {"entities": [{"label", "start", "end"}]}, offsets into the text, end exclusive,
  no overlaps;
- label-verification: label = one of the job's categories (the verdicts), payload {"comment": "..."} optional;
- adjustment: the base type's payload plus "adjusted": true|false.

Pure: the PNG is decoded in memory (Pillow), nothing is read from storage here.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from quorum_common.task_types import (
    ADJUSTMENT,
    BOUNDING_BOX,
    LABEL_VERIFICATION,
    MULTILABEL_TYPES,
    NAMED_ENTITY_RECOGNITION,
    SEMANTIC_SEGMENTATION,
    STRUCTURED_TYPES,
    color_map,
)
from quorum_workforce.errors import InvalidArgument

#: Types whose answers need a payload (a verification answer is a verdict label, its comment optional).
PAYLOAD_TYPES = STRUCTURED_TYPES - {LABEL_VERIFICATION}
#: Tasks whose Task carries the job's colour map (adjustment: when the adjusted label is a mask).
MASK_TYPES = frozenset({SEMANTIC_SEGMENTATION, ADJUSTMENT})
#: Tasks whose answers are checked against the object itself (its text, image size or previous label).
NEEDS_OBJECT = frozenset({NAMED_ENTITY_RECOGNITION, SEMANTIC_SEGMENTATION, BOUNDING_BOX, ADJUSTMENT})
#: Tasks whose answers are checked against the image's real size (when it is a local file).
SIZED_TYPES = frozenset({SEMANTIC_SEGMENTATION, BOUNDING_BOX})
MAX_BOXES = 1000
MAX_ENTITIES = 1000
MAX_COMMENT_CHARS = 2000
MAX_MASK_PIXELS = 50_000_000  # Pillow's own decompression-bomb threshold is ~89M; masks stay below this


@dataclass(frozen=True, slots=True)
class AnswerContext:
    """What checking an answer needs beyond the payload (see check_payload)."""

    text: str = ""
    image_size: tuple[int, int] | None = None
    base_type: str = ""
    previous_json: str = ""


def previous_type(previous_json: str) -> str:
    """The task type of a stored previous label ({"task_type": ..., "label", "metadata"}), or ""."""
    if not previous_json:
        return ""
    try:
        value = json.loads(previous_json)
    except ValueError:
        return ""
    kind = value.get("task_type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else ""


def previous_mask_ref(previous_json: str) -> str:
    """The mask file of a previous segmentation label (its GT value is the PNG's URI), or ""."""
    if previous_type(previous_json) != SEMANTIC_SEGMENTATION:
        return ""
    label = json.loads(previous_json).get("label")
    return label if isinstance(label, str) else ""


def with_image_size(payload_json: str, task_type: str, context: AnswerContext) -> str:
    """A boxes payload without `image_size` gets the image's real size when the service read it, so the
    output's object-detection `image_size` is never empty; any other payload is returned as given."""
    boxes = BOUNDING_BOX in (task_type, context.base_type if task_type == ADJUSTMENT else "")
    if not boxes or context.image_size is None or '"image_size"' in payload_json:
        return payload_json
    payload = json.loads(payload_json)
    width, height = context.image_size
    return json.dumps({**payload, "image_size": {"width": width, "height": height}}, separators=(",", ":"))


def bad(message: str, reason: str = "payload_invalid") -> InvalidArgument:
    return InvalidArgument(message, reason=reason)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _category(value: Any, categories: Sequence[str], where: str) -> str:
    if not isinstance(value, str) or value not in categories:
        allowed = ", ".join(repr(c) for c in categories)
        raise bad(
            f"{where} {value!r} is not a category of this job; choose one of: {allowed}", "invalid_label"
        )
    return value


def _list(payload: dict[str, Any], key: str, limit: int) -> list[Any]:
    value = payload.get(key)
    if not isinstance(value, list):
        raise bad(f"payload needs {key!r}: a list (empty when there is nothing to label)")
    if len(value) > limit:
        raise bad(f"payload {key!r} has {len(value)} items; the limit is {limit}")
    return value


def check_multilabel(payload: dict[str, Any], categories: Sequence[str]) -> None:
    labels = _list(payload, "labels", len(categories))
    for i, label in enumerate(labels):
        _category(label, categories, f"labels[{i}]")
    if len(set(labels)) != len(labels):
        raise bad("labels repeats a category", "duplicate_label")


def check_boxes(
    payload: dict[str, Any], categories: Sequence[str], image_size: tuple[int, int] | None = None
) -> None:
    """Boxes inside the image: its real size when the service could read it (`image_size`), else the
    portal's `image_size`, which is required then unless there are no boxes ("nothing to label")."""
    boxes = _list(payload, "boxes", MAX_BOXES)
    size = payload.get("image_size")
    if size is not None or (boxes and image_size is None):
        if not isinstance(size, dict):
            raise bad("payload needs 'image_size': {'width': W, 'height': H} in pixels")
        width = _number(size.get("width"), "image_size.width")
        height = _number(size.get("height"), "image_size.height")
        if width <= 0 or height <= 0:
            raise bad(f"image_size must be positive, got {width:g} x {height:g}")
    if image_size is not None:
        width, height = float(image_size[0]), float(image_size[1])
    for i, box in enumerate(boxes):
        where = f"boxes[{i}]"
        if not isinstance(box, dict):
            raise bad(f"{where} must be an object with label, left, top, width, height")
        _category(box.get("label"), categories, f"{where}.label")
        left, top = _number(box.get("left"), f"{where}.left"), _number(box.get("top"), f"{where}.top")
        w, h = _number(box.get("width"), f"{where}.width"), _number(box.get("height"), f"{where}.height")
        if w <= 0 or h <= 0:
            raise bad(f"{where} must have a positive width and height, got {w:g} x {h:g}", "box_invalid")
        if left < 0 or top < 0 or left + w > width or top + h > height:
            raise bad(
                f"{where} [{left:g}, {top:g}, {left + w:g}, {top + h:g}] lies outside the image "
                f"(0..{width:g} x 0..{height:g})",
                "box_outside_image",
            )


def check_entities(payload: dict[str, Any], categories: Sequence[str], text: str) -> None:
    spans: list[tuple[int, int, int]] = []
    for i, ent in enumerate(_list(payload, "entities", MAX_ENTITIES)):
        where = f"entities[{i}]"
        if not isinstance(ent, dict):
            raise bad(f"{where} must be an object with label, start, end")
        _category(ent.get("label"), categories, f"{where}.label")
        start, end = ent.get("start"), ent.get("end")
        if (
            isinstance(start, bool)
            or isinstance(end, bool)
            or not isinstance(start, int)
            or not isinstance(end, int)
        ):
            raise bad(f"{where} start and end must be integers (character offsets), got {start!r}, {end!r}")
        if not 0 <= start < end <= len(text):
            raise bad(
                f"{where} needs 0 <= start < end <= {len(text)} (the text's length), got [{start}, {end})",
                "span_invalid",
            )
        spans.append((start, end, i))
    spans.sort()
    for (s1, e1, i1), (s2, e2, i2) in zip(spans, spans[1:], strict=False):
        if s2 < e1:
            a, b = sorted((i1, i2))
            raise bad(
                f"entities[{a}] and entities[{b}] overlap ([{s1}, {e1}) and [{s2}, {e2})); "
                "spans must not overlap",
                "spans_overlap",
            )


def _hex_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def decode_mask(
    mask_png: Any, colors: Sequence[str], expected_size: tuple[int, int] | None = None
) -> np.ndarray:
    """The mask as class indices [H, W] (0 = background, i + 1 = category i), or InvalidArgument naming the
    problem (not base64, not a PNG, wrong size, a colour outside the job's colour map)."""
    if not isinstance(mask_png, str) or not mask_png:
        raise bad("payload needs 'mask_png': the mask as a base64 PNG", "mask_invalid")
    text = mask_png.split(",", 1)[1] if mask_png.startswith("data:") else mask_png  # a data: URL is fine
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise bad(f"mask_png is not valid base64: {err}", "mask_invalid") from err
    try:
        with Image.open(io.BytesIO(raw)) as img:
            if img.format != "PNG":
                raise bad(f"mask_png must be a PNG, got {img.format}", "mask_invalid")
            if img.width * img.height > MAX_MASK_PIXELS:
                raise bad(f"mask_png is {img.width} x {img.height}, too large", "mask_invalid")
            rgba = np.asarray(img.convert("RGBA"))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise bad(f"mask_png cannot be decoded as a PNG: {err}", "mask_invalid") from err
    h, w = rgba.shape[:2]
    if expected_size is not None and (w, h) != expected_size:
        raise bad(
            f"mask_png is {w} x {h} pixels but the image is {expected_size[0]} x {expected_size[1]}",
            "mask_wrong_size",
        )
    rgb = rgba[..., :3].astype(np.int64)
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    lut_codes = np.asarray([(r << 16) | (g << 8) | b for r, g, b in map(_hex_rgb, colors)], dtype=np.int64)
    out = np.zeros((h, w), dtype=np.int64)
    known = (rgba[..., 3] == 0) | (code == 0xFFFFFF)
    for k, c in enumerate(lut_codes.tolist()):
        hit = (code == c) & (rgba[..., 3] > 0)
        out[hit] = k + 1
        known |= hit
    if not known.all():
        y, x = np.argwhere(~known)[0].tolist()
        r, g, b = rgb[y, x].tolist()
        raise bad(
            f"mask_png pixel ({x}, {y}) has colour #{r:02x}{g:02x}{b:02x}, which is not in the job's "
            "colour map (anti-aliasing must be off; background is #ffffff or transparent)",
            "mask_unknown_color",
        )
    return out


def check_payload(
    task_type: str,
    categories: Sequence[str],
    label: str,
    payload: dict[str, Any],
    *,
    base_type: str = "",
    text: str = "",
    image_size: tuple[int, int] | None = None,
) -> None:
    """Raise InvalidArgument (naming the field and the problem) unless `payload` fits the task type.

    `base_type`: for adjustment jobs, the type of the previous label being adjusted; `text`: the source of
    named-entity tasks; `image_size`: (width, height) of the image when known (segmentation, boxes)."""
    if task_type == ADJUSTMENT:
        if not isinstance(payload.get("adjusted"), bool):
            raise bad("an adjustment answer needs 'adjusted': true or false (whether anything was changed)")
        task_type = base_type
    if task_type in MULTILABEL_TYPES:
        check_multilabel(payload, categories)
    elif task_type == BOUNDING_BOX:
        check_boxes(payload, categories, image_size)
    elif task_type == NAMED_ENTITY_RECOGNITION:
        check_entities(payload, categories, text)
    elif task_type == SEMANTIC_SEGMENTATION:
        decode_mask(payload.get("mask_png"), color_map(len(categories)), image_size)
    elif task_type == LABEL_VERIFICATION:
        _category(label, categories, "label")
        comment = payload.get("comment", "")
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS:
            raise bad(f"comment must be a string of at most {MAX_COMMENT_CHARS} characters")
    else:
        raise bad(f"cannot check answers of task type {task_type!r}", "task_type_unknown")

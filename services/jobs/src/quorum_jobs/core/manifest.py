"""Input manifest parsing: JSON lines of data objects, validated whole before anything is stored.

Each line is an object with `source` (inline text) or `source-ref` (a URI), never both; every other key
passes through to the output unchanged, so a Ground Truth output manifest (lines that already carry label
attributes) is a valid input (chaining). Completely blank lines are ignored but still count for the line
numbers in error messages, which always name the physical, 1-based line.

Object ids are dense and zero-based in manifest order (blank lines skipped), like Ground Truth's
`datasetObjectId`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from quorum_jobs.errors import InvalidArgument

MAX_LINE_BYTES = 100 * 1024  # Ground Truth: one manifest line can be up to 100 KB
MAX_OBJECTS = 100_000  # Ground Truth quota: items per labeling job
MAX_REPORTED_ERRORS = 10

SOURCE = "source"
SOURCE_REF = "source-ref"
URI_SCHEMES = ("file", "http", "https", "s3")

_JSON_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    type(None): "null",
}


@dataclass(frozen=True, slots=True)
class ManifestObject:
    """One data object: a manifest line, parsed."""

    object_id: int
    line_no: int
    data: dict[str, Any]
    # The line re-serialised compactly with keys in their original order (the output line's prefix).
    canonical: str

    @property
    def source(self) -> str | None:
        value = self.data.get(SOURCE)
        return value if isinstance(value, str) else None

    @property
    def source_ref(self) -> str | None:
        value = self.data.get(SOURCE_REF)
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Manifest:
    objects: list[ManifestObject]

    def __len__(self) -> int:
        return len(self.objects)


def canonical_json(value: Any) -> str:
    """Compact JSON as Ground Truth writes it (`","`/`":"`), UTF-8 text kept readable."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _type_name(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def check_source_ref(value: str) -> str | None:
    """Why a `source-ref` is not an acceptable URI, or None. Syntax only: nothing is fetched here."""
    if not value.strip():
        return "'source-ref' must not be empty"
    if "://" not in value:
        return None  # a plain path (GT docs even show "bucket/key" without a scheme)
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in URI_SCHEMES:
        allowed = ", ".join(f"{s}://" for s in URI_SCHEMES)
        return f"'source-ref' scheme {parts.scheme + '://'!r} is not supported (use a path or {allowed})"
    if scheme in ("http", "https", "s3") and not parts.netloc:
        what = "bucket" if scheme == "s3" else "host"
        return f"'source-ref' {value!r} has no {what}"
    if scheme == "s3" and not parts.path.strip("/"):
        return f"'source-ref' {value!r} has no object key"
    if scheme == "file" and not parts.path:
        return f"'source-ref' {value!r} has no path"
    return None


def check_line_object(data: Any) -> str | None:
    """Why a decoded line is not a data object, or None."""
    if not isinstance(data, dict):
        return f"must be a JSON object, got {_type_name(data)}"
    has_source, has_ref = SOURCE in data, SOURCE_REF in data
    if has_source == has_ref:
        return "needs exactly one of 'source' or 'source-ref'"
    if has_source:
        value = data[SOURCE]
        if not isinstance(value, str):
            return f"'source' must be a string, got {_type_name(value)}"
        if not value.strip():
            return "'source' must not be empty"
        return None
    value = data[SOURCE_REF]
    if not isinstance(value, str):
        return f"'source-ref' must be a string, got {_type_name(value)}"
    return check_source_ref(value)


def _physical_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    start = 0
    line_no = 0
    size = len(data)
    while start < size:
        end = data.find(b"\n", start)
        if end < 0:
            end = size
        line_no += 1
        yield line_no, data[start:end]
        start = end + 1


def parse_manifest(
    data: bytes, *, max_objects: int = MAX_OBJECTS, max_line_bytes: int = MAX_LINE_BYTES
) -> Manifest:
    """Parse and validate a whole manifest; raise InvalidArgument(reason="manifest_invalid") on any bad line.

    The message names the first bad lines (up to MAX_REPORTED_ERRORS) by physical 1-based line number.
    """
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark left by some editors
        data = data[3:]
    errors: list[str] = []
    error_count = 0
    objects: list[ManifestObject] = []
    too_many = False

    def bad(line_no: int, why: str) -> None:
        nonlocal error_count
        error_count += 1
        if len(errors) < MAX_REPORTED_ERRORS:
            errors.append(f"manifest line {line_no}: {why}")

    for line_no, raw in _physical_lines(data):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip():
            continue
        if len(raw) > max_line_bytes:
            bad(line_no, f"line is {len(raw)} bytes, the limit is {max_line_bytes} bytes (100 KB)")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            bad(line_no, f"not valid UTF-8 (byte {err.start + 1} of the line)")
            continue
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as err:
            bad(line_no, f"invalid JSON: {err.msg} at column {err.colno}")
            continue
        except ValueError as err:  # NaN / Infinity
            bad(line_no, f"invalid JSON: {err}")
            continue
        why = check_line_object(value)
        if why is not None:
            bad(line_no, why)
            continue
        if len(objects) >= max_objects:
            too_many = True
            continue
        objects.append(ManifestObject(len(objects), line_no, value, canonical_json(value)))

    if too_many:
        errors.insert(0, f"manifest has more than {max_objects} objects (the limit per job)")
        error_count += 1
    if errors:
        more = error_count - len(errors)
        message = "; ".join(errors) + (f"; and {more} more bad line(s)" if more > 0 else "")
        raise InvalidArgument(message, reason="manifest_invalid")
    if not objects:
        raise InvalidArgument(
            "manifest has no data objects (at least 1 is required)", reason="manifest_invalid"
        )
    return Manifest(objects)

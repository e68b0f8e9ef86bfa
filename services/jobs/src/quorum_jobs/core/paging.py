"""Opaque page tokens for newest-first listings: the (created_at, job_id) of the last row served."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from quorum_jobs.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class Cursor:
    created_at_us: int
    job_id: str


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument(
            f"page_size must be between 0 and {MAX_PAGE_SIZE}, got {requested}", reason="invalid_page_size"
        )
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.created_at_us, cursor.job_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created_at_us, job_id = json.loads(raw)
        if not isinstance(created_at_us, int) or not isinstance(job_id, str):
            raise ValueError("bad cursor")
    except (ValueError, TypeError, binascii.Error) as err:
        raise InvalidArgument(
            "page_token is not a token this service returned", reason="invalid_page_token"
        ) from err
    return Cursor(created_at_us, job_id)

"""Wall-clock helpers (epoch milliseconds travel in protos and events)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return int(time.time() * 1000)


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_ms(value: datetime | None) -> int:
    return int(value.timestamp() * 1000) if value is not None else 0

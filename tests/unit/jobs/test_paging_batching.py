"""Page tokens and PutJobObjects batching."""

from __future__ import annotations

import pytest

from quorum_common.errors import InvalidArgument
from quorum_jobs.core.batching import DataObject, batches
from quorum_jobs.core.paging import Cursor, decode_cursor, encode_cursor, page_size


def test_page_size_defaults_and_caps() -> None:
    assert page_size(0) == 50
    assert page_size(7) == 7
    assert page_size(10_000) == 500
    with pytest.raises(InvalidArgument):
        page_size(-1)


def test_cursor_round_trip_and_garbage() -> None:
    cursor = Cursor(1_789_000_000_123_456, "ab" * 16)
    token = encode_cursor(cursor)
    assert "=" not in token and decode_cursor(token) == cursor
    assert decode_cursor("") is None
    for bad in ["%%%", "bm90IGpzb24", encode_cursor(Cursor(1, "x"))[:-3], "WzEsMl0"]:
        with pytest.raises(InvalidArgument) as info:
            decode_cursor(bad)
        assert info.value.reason == "invalid_page_token"


def test_batches_respect_the_byte_budget_and_keep_order() -> None:
    objs = [DataObject(i, source="x" * 100) for i in range(100)]
    out = list(batches(objs, max_bytes=1000))
    assert [o.object_id for b in out for o in b] == list(range(100))
    assert all(sum(o.approx_bytes() for o in b) <= 1000 for b in out)
    assert len(out) == 13  # 8 objects of 124 bytes per batch
    huge = DataObject(0, source="y" * 5000)
    assert list(batches([huge], max_bytes=1000)) == [[huge]]
    assert list(batches([], max_bytes=1000)) == []

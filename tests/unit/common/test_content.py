"""The shared image reader (quorum_common.content) used by workforce and jobs: only real, local images under
the configured roots and within the size limit are served, each refusal with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from quorum_common.content import local_image_size, local_path, open_image, read_chunks, split_roots
from quorum_common.errors import FailedPrecondition, NotFound


@pytest.fixture()
def png(tmp_path: Path) -> Path:
    path = tmp_path / "roots" / "a.png"
    path.parent.mkdir()
    Image.new("RGB", (7, 5), "#123456").save(path)
    return path


def test_a_local_image_is_opened_with_its_type_size_and_bytes(png: Path) -> None:
    for ref in (str(png), png.as_uri()):
        image = open_image(ref, [], max_bytes=1 << 20)
        assert (image.content_type, image.width, image.height) == ("image/png", 7, 5)
        assert image.size == png.stat().st_size
        assert b"".join(read_chunks(image)) == png.read_bytes()
    assert local_image_size(str(png), []) == (7, 5)


def test_refusals_name_their_reason(png: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("hello")
    cases = [
        ("s3://bucket/a.png", [], FailedPrecondition, "content_not_local"),
        (str(tmp_path / "missing.png"), [], NotFound, "content_not_found"),
        (str(text), [], NotFound, "content_not_image"),
        (str(png), [str(tmp_path / "elsewhere")], NotFound, "content_not_found"),
        ("bad\0name.png", [], NotFound, "content_not_found"),
    ]
    for ref, roots, error, reason in cases:
        with pytest.raises(error) as info:
            open_image(ref, roots, max_bytes=1 << 20)
        assert info.value.reason == reason, ref
    with pytest.raises(FailedPrecondition) as too_big:
        open_image(str(png), [png.parent], max_bytes=10)
    assert too_big.value.reason == "content_too_large"
    assert local_image_size(str(text), []) is None


def test_helpers() -> None:
    assert local_path("http://x/y.png") is None and local_path("/a/b.png") == Path("/a/b.png")
    assert split_roots(" /a, ,/b ") == ["/a", "/b"] and split_roots(["/c"]) == ["/c"]

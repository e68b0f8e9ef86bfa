"""The shared image reader (quorum_common.content) used by workforce and jobs: only real images, local ones
under the configured roots or URLs under the configured prefixes, within the size limit, are served, each
refusal with its reason."""

from __future__ import annotations

import http.server
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from quorum_common.content import local_image_size, local_path, open_image, read_chunks
from quorum_common.errors import FailedPrecondition, NotFound
from quorum_common.settings import split_list


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
    assert split_list(" /a, ,/b ") == ["/a", "/b"] and split_list(["/c"]) == ["/c"]


@pytest.fixture()
def web(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving `tmp_path/site`, plus a redirect at /moved."""
    site = tmp_path / "site"
    site.mkdir()
    Image.new("RGB", (9, 4), "#654321").save(site / "b.png")
    (site / "notes.png").write_text("hello")
    (site / "big.png").write_bytes(b"\0" * 5000)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(site), **kwargs)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/moved":
                self.send_response(301)
                self.send_header("Location", "/b.png")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_urls_under_an_allowed_prefix_are_fetched_and_the_copy_removed_once_read(web: str) -> None:
    image = open_image(f"{web}/b.png", [], max_bytes=1 << 20, url_prefixes=[f"{web}/"])
    assert (image.content_type, image.width, image.height, image.temporary) == ("image/png", 9, 4, True)
    data = b"".join(read_chunks(image))
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) == image.size
    assert not image.path.exists()
    assert local_image_size(f"{web}/b.png", []) is None  # not fetched just to check a box's bounds


def test_url_refusals_name_their_reason_and_leave_no_file(web: str, tmp_path: Path) -> None:
    before = set(Path(tempfile.gettempdir()).glob("quorum-content-*"))
    allowed = [f"{web}/"]
    cases = [
        (f"{web}/b.png", [], FailedPrecondition, "content_not_local"),  # no prefix configured: never fetched
        (f"{web}/b.png", ["https://images.example/"], FailedPrecondition, "content_not_local"),
        (f"{web}/missing.png", allowed, NotFound, "content_not_found"),
        (f"{web}/moved", allowed, NotFound, "content_not_found"),  # redirects are not followed
        (f"{web}/notes.png", allowed, NotFound, "content_not_image"),
        (f"{web}/big.png", allowed, FailedPrecondition, "content_too_large"),
        ("http://127.0.0.1:9/nothing.png", ["http://127.0.0.1:9/"], NotFound, "content_not_found"),
    ]
    for ref, prefixes, error, reason in cases:
        with pytest.raises(error) as caught:
            open_image(ref, [], max_bytes=4000, url_prefixes=prefixes)
        assert caught.value.reason == reason, ref
    assert set(Path(tempfile.gettempdir()).glob("quorum-content-*")) == before

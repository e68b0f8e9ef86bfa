"""Reading an object's image (or a label file such as a segmentation mask) from a local path, a file:// URI or
an http(s):// URL, for the services that serve them: workforce (to the worker holding a task) and jobs (to the
job's owner).

Only images are served (Pillow must recognise the file), at most `max_bytes`, and only under the configured
roots when any are set: a manifest line cannot turn the gateway into a reader of arbitrary files. URLs are
fetched only when they start with one of the configured `url_prefixes` (none by default: a server that fetches
whatever URL a manifest names could be pointed at internal hosts), without following redirects, into a
temporary file that `read_chunks` removes. The limits, roots and prefixes are each service's own settings
(CONTENT_ROOTS, CONTENT_MAX_BYTES, CONTENT_URL_PREFIXES); this module holds no state.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
from PIL import Image, UnidentifiedImageError

from quorum_common.errors import FailedPrecondition, NotFound

CHUNK_BYTES = 256 * 1024
_MIME = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
}


@dataclass(frozen=True, slots=True)
class ImageFile:
    path: Path
    content_type: str
    size: int
    width: int
    height: int
    temporary: bool = False  # a downloaded copy, removed once read


def local_path(source_ref: str) -> Path | None:
    """The file a `source-ref` names on this machine, or None for remote URIs (s3://, http(s)://)."""
    if "://" not in source_ref:
        return Path(source_ref)
    parts = urlsplit(source_ref)
    if parts.scheme.lower() == "file":
        return Path(unquote(parts.path))
    return None


def _allowed(path: Path, roots: Sequence[str | Path]) -> bool:
    if not roots:
        return True
    resolved = path.resolve()
    return any(resolved.is_relative_to(Path(r).resolve()) for r in roots)


#: Seconds to wait for an image URL's server (connect and each read).
URL_TIMEOUT_S = 10.0


def _download(url: str, max_bytes: int) -> Path:
    """The body of `url` in a temporary file (the caller removes it), at most `max_bytes`."""
    fd, name = tempfile.mkstemp(prefix="quorum-content-", suffix=".img")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, httpx.stream("GET", url, timeout=URL_TIMEOUT_S) as resp:
            if resp.status_code != 200:
                raise NotFound(
                    f"the object's image URL answered HTTP {resp.status_code}", reason="content_not_found"
                )
            total = 0
            for chunk in resp.iter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise FailedPrecondition(
                        f"the object's image is over {max_bytes} bytes (CONTENT_MAX_BYTES)",
                        reason="content_too_large",
                    )
                out.write(chunk)
        return path
    except httpx.HTTPError as err:
        path.unlink(missing_ok=True)
        message = f"the object's image URL could not be read: {err}"
        raise NotFound(message, reason="content_not_found") from err
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _remote_path(source_ref: str, url_prefixes: Sequence[str], max_bytes: int) -> Path:
    scheme = urlsplit(source_ref).scheme.lower()
    if scheme in ("http", "https") and any(source_ref.startswith(p) for p in url_prefixes):
        return _download(source_ref, max_bytes)
    where = "allowed URL prefix (CONTENT_URL_PREFIXES)" if scheme in ("http", "https") else "local file"
    raise FailedPrecondition(
        f"the object's source-ref {source_ref!r} is not a {where}; only those are served",
        reason="content_not_local",
    )


def open_image(
    source_ref: str, roots: Sequence[str | Path], max_bytes: int, url_prefixes: Sequence[str] = ()
) -> ImageFile:
    """The image behind a source-ref, checked; NotFound / FailedPrecondition name why it cannot be served."""
    path = local_path(source_ref)
    temporary = path is None
    if path is None:
        path = _remote_path(source_ref, url_prefixes, max_bytes)
    try:
        return _checked_image(path, roots if not temporary else (), max_bytes, temporary)
    except BaseException:
        if temporary:
            path.unlink(missing_ok=True)
        raise


def _checked_image(path: Path, roots: Sequence[str | Path], max_bytes: int, temporary: bool) -> ImageFile:
    try:
        if not _allowed(path, roots) or not path.is_file():
            raise NotFound("the object's image is not available", reason="content_not_found")
        size = path.stat().st_size
    except (OSError, ValueError) as err:  # e.g. a name too long, a NUL byte, no permission
        raise NotFound("the object's image is not available", reason="content_not_found") from err
    if size > max_bytes:
        raise FailedPrecondition(
            f"the object's image is {size} bytes; the limit is {max_bytes} (CONTENT_MAX_BYTES)",
            reason="content_too_large",
        )
    try:
        with Image.open(path) as img:  # reads the header only
            fmt, width, height = img.format or "", img.width, img.height
    except (UnidentifiedImageError, OSError) as err:
        raise NotFound("the object's content is not an image", reason="content_not_image") from err
    return ImageFile(path, _MIME.get(fmt, "application/octet-stream"), size, width, height, temporary)


def read_chunks(image: ImageFile) -> Iterator[bytes]:
    try:
        with image.path.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield chunk
    finally:
        if image.temporary:
            image.path.unlink(missing_ok=True)


def local_image_size(source_ref: str, roots: Sequence[str | Path]) -> tuple[int, int] | None:
    """(width, height) of a local image, or None when it cannot be read here (the size goes unchecked; URLs
    are not fetched for this)."""
    if local_path(source_ref) is None:
        return None
    try:
        image = open_image(source_ref, roots, max_bytes=1 << 62)
    except (NotFound, FailedPrecondition):
        return None
    return image.width, image.height

"""Reading an object's image (or a label file such as a segmentation mask) from a local path or file:// URI,
for the services that serve them: workforce (to the worker holding a task) and jobs (to the job's owner).

Only images are served (Pillow must recognise the file), at most `max_bytes`, and only under the configured
roots when any are set: a manifest line cannot turn the gateway into a reader of arbitrary files. The limits
and roots are each service's own settings (CONTENT_ROOTS, CONTENT_MAX_BYTES); this module holds no state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

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


def split_roots(value: object) -> object:
    """A settings validator's helper: "a, b" -> ["a", "b"] (other values unchanged)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


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


def open_image(source_ref: str, roots: Sequence[str | Path], max_bytes: int) -> ImageFile:
    """The image behind a source-ref, checked; NotFound / FailedPrecondition name why it cannot be served."""
    path = local_path(source_ref)
    if path is None:
        raise FailedPrecondition(
            f"the object's source-ref {source_ref!r} is not a local file; only file paths are served",
            reason="content_not_local",
        )
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
    return ImageFile(path, _MIME.get(fmt, "application/octet-stream"), size, width, height)


def read_chunks(image: ImageFile) -> Iterator[bytes]:
    with image.path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            yield chunk


def local_image_size(source_ref: str, roots: Sequence[str | Path]) -> tuple[int, int] | None:
    """(width, height) of a local image, or None when it cannot be read here (the size goes unchecked)."""
    try:
        image = open_image(source_ref, roots, max_bytes=1 << 62)
    except (NotFound, FailedPrecondition):
        return None
    return image.width, image.height

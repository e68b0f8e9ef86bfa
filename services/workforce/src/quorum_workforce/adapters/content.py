"""Reading an object's image from its `source-ref` for the worker portal: the shared, checked reader of
quorum_common.content (also used by the jobs service for requesters); the roots and size limit are this
service's settings (CONTENT_ROOTS, CONTENT_MAX_BYTES)."""

from __future__ import annotations

from quorum_common.content import (
    CHUNK_BYTES,
    ImageFile,
    local_image_size,
    local_path,
    open_image,
    read_chunks,
)

__all__ = ["CHUNK_BYTES", "ImageFile", "local_image_size", "local_path", "open_image", "read_chunks"]

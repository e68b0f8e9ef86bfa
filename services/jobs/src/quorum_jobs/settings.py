from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from quorum_common.content import split_roots
from quorum_common.settings import ServiceSettings


class JobsSettings(ServiceSettings):
    workforce_addr: str = Field("127.0.0.1:50052", description="host:port of the workforce service.")
    workforce_timeout_s: float = Field(10.0, gt=0, description="Deadline of every call to workforce.")
    progress_timeout_s: float = Field(3.0, gt=0, description="Deadline of GetJobProgress on read paths.")
    reconcile_interval_s: float = Field(5.0, gt=0, description="How often the reconciler runs.")
    replay_after_s: float = Field(
        15.0, ge=0, description="Ask workforce to replay answers of objects complete but unlabeled this long."
    )
    max_manifest_bytes: int = Field(200 * 1024 * 1024, ge=1, description="Largest manifest accepted.")
    manifest_root: Path | None = Field(
        None,
        description="If set, manifest paths must lie under this directory (relative ones resolve in it).",
    )
    put_objects_batch_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Size of one PutJobObjects call."
    )
    content_roots: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Directories the objects' images may be served from to their requester "
        "(comma-separated); empty: any local image file a manifest names.",
    )
    content_max_bytes: int = Field(
        50 * 1024 * 1024, ge=1, description="Largest image or mask served to a requester (GetObjectContent)."
    )
    content_url_prefixes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="http(s) URL prefixes objects' images may be fetched from (comma-separated, e.g. "
        "'https://images.example.com/'); empty: URLs are never fetched (a manifest could name internal "
        "hosts).",
    )
    label_files_dir: Path = Field(
        Path(tempfile.gettempdir()) / "quorum" / "label-files",
        description="Where consolidation writes label files (segmentation masks; the consolidation "
        "service's LABEL_FILES_DIR): masks are served to requesters only from under it.",
    )

    @field_validator("content_roots", "content_url_prefixes", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        return split_roots(value)

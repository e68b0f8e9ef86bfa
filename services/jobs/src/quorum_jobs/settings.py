from __future__ import annotations

from pathlib import Path

from pydantic import Field

from quorum_common.settings import DEFAULT_LABEL_FILES_DIR, ContentServiceSettings


class JobsSettings(ContentServiceSettings):
    workforce_addr: str = Field("127.0.0.1:50052", description="host:port of the workforce service.")
    inference_addr: str = Field("127.0.0.1:50054", description="host:port of the inference service.")
    inference_timeout_s: float = Field(
        1800.0, gt=0, description="Deadline of a training or scoring call of the automated-labeling loop."
    )
    autolabel_interval_s: float = Field(
        2.0, gt=0, description="How often the automated-labeling loop looks for a finished human batch."
    )
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
    model_annotator: bool = Field(
        False,
        description="Automated labeling: each object an iteration sends to humans (except the random draws "
        "that certify later models) carries the model's predicted class, which consolidation counts as one "
        "answer of a pseudo-worker whose reliability it learns (false: the humans' answers only). Off by "
        "default: it made the human labels more accurate but the next models, trained on labels nudged "
        "towards their predecessor, certified less (docs/benchmarks.md, trec6 with and without).",
    )
    label_files_dir: Path = Field(
        DEFAULT_LABEL_FILES_DIR,
        description="Where consolidation writes label files (segmentation masks; the consolidation "
        "service's LABEL_FILES_DIR): masks are served to requesters only from under it.",
    )

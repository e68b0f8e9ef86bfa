"""Tables of the `jobs` schema (SQLAlchemy Core). Keep migrations/versions in step with this file."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from quorum_common.kafka import consumer_offsets_table
from quorum_common.outbox import outbox_table
from quorum_jobs import SCHEMA

metadata = MetaData(schema=SCHEMA)

requesters = Table(
    "requesters",
    metadata,
    Column("requester_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    # sha256 hex of the API key; the key itself is shown once and never stored.
    Column("api_key_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("requester_id", String(32), ForeignKey(f"{SCHEMA}.requesters.requester_id"), nullable=False),
    Column("name", String(63), nullable=False),
    Column("task_type", String(64), nullable=False),
    Column("label_attribute_name", String(127), nullable=False),
    Column("categories", ARRAY(Text), nullable=False),
    Column("workers_per_object", Integer, nullable=False),
    Column("task_time_limit_s", Integer, nullable=False),
    Column("price_per_task_usd", Double, nullable=False),
    Column("team_id", String(64), nullable=False),
    Column("instructions", Text, nullable=False, server_default=""),
    # Adaptive redundancy (0 = off); workers_per_object is then the maximum (migration 0002).
    Column("target_confidence", Double, nullable=False, server_default="0"),
    Column("min_workers_per_object", Integer, nullable=False, server_default="0"),
    # Verification / adjustment jobs: the input attribute holding the previous label (migration 0003).
    Column("source_label_attribute", Text, nullable=False, server_default=""),
    # Custom jobs: the HTML template and the post-processing, "majority" | "all" (migration 0005).
    Column("template", Text, nullable=False, server_default=""),
    Column("custom_consolidation", String(20), nullable=False, server_default=""),
    # Automated labeling (migration 0006): 0 values mean the defaults.
    Column("auto_labeling", Boolean, nullable=False, server_default="false"),
    Column("auto_target_accuracy", Double, nullable=False, server_default="0"),
    Column("auto_min_dataset_size", Integer, nullable=False, server_default="0"),
    Column("auto_max_human_labeled", BigInteger, nullable=False, server_default="0"),
    Column("auto_validation_workers", Integer, nullable=False, server_default="0"),  # migration 0009
    # Classification jobs: the manifest attribute marking known-answer objects, "" = none (migration 0007).
    Column("known_answer_attribute", Text, nullable=False, server_default=""),
    Column("status", String(20), nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("human_labeled", BigInteger, nullable=False, server_default="0"),
    Column("machine_labeled", BigInteger, nullable=False, server_default="0"),
    Column("failed", BigInteger, nullable=False, server_default="0"),
    # Sum of answer_count over labeled objects: the answer count when workforce cannot be asked.
    Column("label_answers", BigInteger, nullable=False, server_default="0"),
    Column("failure_reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    # When the reconciler may next retry this job's pending workforce call (claimed across replicas).
    Column("next_retry_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_jobs_requester_created", "requester_id", text("created_at DESC"), text("job_id DESC")),
    Index("uq_jobs_requester_name", "requester_id", text("lower(name)"), unique=True),
    Index(
        "ix_jobs_active_status",
        "status",
        postgresql_where=text("status IN ('initializing', 'in_progress', 'stopping')"),
    ),
)

job_objects = Table(
    "job_objects",
    metadata,
    Column("job_id", String(32), ForeignKey(f"{SCHEMA}.jobs.job_id", ondelete="CASCADE"), primary_key=True),
    Column("object_id", BigInteger, primary_key=True, autoincrement=False),
    # The input line, re-serialised compactly with its keys in the original order (text, not JSONB,
    # because JSONB reorders keys and the output must keep them).
    Column("line", Text, nullable=False),
    Column("label", Text, nullable=True),
    Column("class_index", Integer, nullable=True),
    Column("confidence", Double, nullable=True),
    Column("human_annotated", Boolean, nullable=True),
    Column("labeled_at", DateTime(timezone=True), nullable=True),
    Column("answer_count", Integer, nullable=True),
    # Set when the object ended without a label (its output line carries it as `failure-reason`).
    Column("failure_reason", Text, nullable=True),
    # Revision of the label: consolidation revises labels given from an early worker model (migration 0004).
    Column("label_revision", Integer, nullable=False, server_default="0"),
    # Automated-labeling jobs (migration 0006): the loop iteration that sent the object to humans or
    # machine-labeled it (NULL: neither yet, or not an automated-labeling job), and whether it is one of the
    # human-labeled validation objects that certify thresholds.
    Column("auto_iteration", Integer, nullable=True),
    Column("auto_validation", Boolean, nullable=False, server_default="false"),
    # Automated labeling (migration 0008): the class the iteration's model predicted for an object it sent to
    # humans ("" for the random draws, without a model, or with MODEL_ANNOTATOR off); it goes to workforce
    # with the object and consolidation counts it as the pseudo-worker's answer.
    Column("model_label", Text, nullable=False, server_default=""),
    # Automated-labeling jobs (migration 0009): a random draw's own answer count (its label certifies the
    # model; core/autolabel.py: draw_answers), 0 = the job's rule; workforce gets it with the object.
    Column("required_answers", Integer, nullable=False, server_default="0"),
    # The automated-labeling loop asks "is anything still with humans?" every few seconds.
    Index(
        "ix_job_objects_auto_pending",
        "job_id",
        postgresql_where=text("auto_iteration IS NOT NULL AND label IS NULL AND failure_reason IS NULL"),
    ),
)

autolabel_iterations = Table(
    "autolabel_iterations",
    metadata,
    Column("job_id", String(32), ForeignKey(f"{SCHEMA}.jobs.job_id", ondelete="CASCADE"), primary_key=True),
    Column("iteration", Integer, primary_key=True, autoincrement=False),
    Column("model_version", Integer, nullable=False, server_default="0"),
    Column("model_id", Text, nullable=False, server_default=""),
    # The model's metrics as the inference service reported them (thresholds, validation figures).
    Column("metrics", JSONB, nullable=False, server_default="{}"),
    Column("machine_labeled", BigInteger, nullable=False),
    Column("sent_to_humans", BigInteger, nullable=False),
    Column("human_labeled_total", BigInteger, nullable=False),
    Column("machine_labeled_total", BigInteger, nullable=False),
    Column("unlabeled", BigInteger, nullable=False),
    Column("decision", String(20), nullable=False),
    # False until the objects sent to humans are in workforce (the loop retries until they are).
    Column("released", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = outbox_table(metadata)
consumer_offsets = consumer_offsets_table(metadata)

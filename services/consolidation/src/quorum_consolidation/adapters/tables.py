"""Tables of the consolidation schema (the migrations in ../migrations create the same)."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY

from quorum_common.kafka import consumer_offsets_table
from quorum_common.outbox import outbox_table
from quorum_consolidation import SCHEMA

metadata = MetaData(schema=SCHEMA)

# Every answer received once; the unique key makes redelivered events no-ops. Includes the automated-labeling
# model's answers (worker core.model_annotator.MODEL_WORKER_ID), which are not human answers.
answers = Table(
    "answers",
    metadata,
    Column("answer_id", String(64), primary_key=True),
    Column("job_id", String(64), nullable=False),
    Column("object_id", BigInteger, nullable=False),
    Column("worker_id", String(128), nullable=False),
    Column("label", String(256), nullable=False),
    Column("submitted_at_ms", BigInteger, nullable=False),
    # Structured task types: the worker's payload as JSON (migration 0003); "" for classification.
    Column("payload_json", Text, nullable=False, server_default=""),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("job_id", "object_id", "worker_id", name="uq_answers_job_object_worker"),
)

# One row per object seen: what it needs (from its first answer event) and, once consolidated, its label.
object_state = Table(
    "object_state",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("object_id", BigInteger, primary_key=True),
    Column("required_answers", Integer, nullable=False),
    Column("task_type", String(100), nullable=False),
    Column("categories", JSON, nullable=False),
    # Adaptive redundancy (target 0 = off): labeled from min_answers on once the posterior reaches the target,
    # always at required_answers (the maximum). Migration 0002.
    Column("min_answers", Integer, nullable=False, server_default="0"),
    Column("target_confidence", Float, nullable=False, server_default="0"),
    Column("label", String(256), nullable=True),
    Column("class_index", Integer, nullable=True),
    Column("confidence", Float, nullable=True),
    Column("method", String(32), nullable=True),
    Column("answer_count", Integer, nullable=True),
    Column("worker_ids", ARRAY(String(128)), nullable=True),
    Column("consolidated_at", DateTime(timezone=True), nullable=True),
    # Verification / adjustment: the previous label (workforce PreviousLabel JSON); migration 0003.
    Column("previous_json", Text, nullable=False, server_default=""),
    # Structured task types: the consolidated label as JSON ({"task_type", "label", "metadata"}).
    Column("label_json", Text, nullable=True),
    # 0 for the first label; +1 each time a refitted job model changed it (migration 0004).
    Column("revision", Integer, nullable=False, server_default="0"),
    # Classification jobs' known-answer objects: the known class, "" for the others (migration 0005). The
    # object is labeled with it (confidence 1) and it anchors the job's worker model.
    Column("known_label", String(256), nullable=False, server_default=""),
    # Automated-labeling jobs: the model's predicted class when the object was sent to humans, "" for the
    # others (migration 0007). It is also stored in `answers` as the one answer of the pseudo-worker
    # core.model_annotator.MODEL_WORKER_ID, which never counts as a human answer.
    Column("model_label", String(256), nullable=False, server_default=""),
)

# The team of each job, from its answer events (AnswerSubmitted.team_id; migration 0006).
job_teams = Table(
    "job_teams",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("team_id", String(64), nullable=False),
)

# What each job's worker model learned about each worker from that job's answers (core.team_priors): the
# expected confusion counts under the job's posteriors (JSON [K][K], row = true class, in the order of
# `categories`). Rewritten at each refit of the job's model; a team's later jobs start from the rows of its
# other jobs (migration 0006).
worker_skills = Table(
    "worker_skills",
    metadata,
    Column("team_id", String(64), primary_key=True),
    Column("worker_id", String(128), primary_key=True),
    Column("job_id", String(64), primary_key=True),
    Column("categories", JSON, nullable=False),
    Column("n_answers", Integer, nullable=False),
    Column("correct", Float, nullable=False),
    Column("counts", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = outbox_table(metadata)
consumer_offsets = consumer_offsets_table(metadata)

"""PostgreSQL tables of the workforce schema (the truth; Redis only caches dispatch state)."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
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
from quorum_workforce import SCHEMA

metadata = MetaData(schema=SCHEMA)

teams = Table(
    "teams",
    metadata,
    Column("team_id", String(64), primary_key=True),
    Column("owner_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("owner_id", "name", name="uq_teams_owner_name"),
)

workers = Table(
    "workers",
    metadata,
    Column("worker_id", String(64), primary_key=True),
    Column("owner_id", String(64), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    # sha256 hex of the API token; the token itself is shown once and never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

worker_teams = Table(
    "worker_teams",
    metadata,
    Column("worker_id", String(64), ForeignKey("workers.worker_id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", String(64), ForeignKey("teams.team_id", ondelete="CASCADE"), primary_key=True),
    Index("ix_worker_teams_team", "team_id"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("owner_id", String(64), nullable=False),
    Column("team_id", String(64), nullable=False, index=True),
    Column("name", String(500), nullable=False),
    Column("task_type", String(100), nullable=False),
    Column("categories", ARRAY(Text), nullable=False),
    Column("workers_per_object", Integer, nullable=False),
    Column("task_time_limit_s", Integer, nullable=False),
    Column("price_per_task_usd", Float, nullable=False, server_default="0"),
    Column("instructions", Text, nullable=False, server_default=""),
    Column("object_count", BigInteger, nullable=False, server_default="0"),
    # Adaptive redundancy (0 = off): workers_per_object is then the maximum (migration 0002).
    Column("target_confidence", Float, nullable=False, server_default="0"),
    Column("min_workers_per_object", Integer, nullable=False, server_default="0"),
    # Custom jobs: the HTML template shown to workers (migration 0004).
    Column("template", Text, nullable=False, server_default=""),
    # open | closed
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Loaded (possibly in batches) before OpenJob, so no foreign key to jobs.
job_objects = Table(
    "job_objects",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("object_id", BigInteger, primary_key=True),
    Column("source", Text, nullable=False, server_default=""),
    Column("source_ref", Text, nullable=False, server_default=""),
    # Verification / adjustment: the previous label shown to the worker, as JSON (migration 0003).
    Column("previous_json", Text, nullable=False, server_default=""),
    # Custom jobs: the task input, the whole manifest line as JSON (migration 0004).
    Column("input_json", Text, nullable=False, server_default=""),
    # Classification jobs' known-answer objects: the known class, "" for the others (migration 0005).
    # Travels to consolidation in the answer events only; never in a task.
    Column("known_label", Text, nullable=False, server_default=""),
    # Automated-labeling jobs: the model's predicted class when the object was sent to humans, "" otherwise
    # (migration 0006). Travels to consolidation in the answer events only; never in a task.
    Column("model_label", Text, nullable=False, server_default=""),
    # Answers the object gets, without an adaptive job's early stop; 0 = the job's rule (migration 0007): the
    # automated-labeling loop's random draws, whose labels certify its model.
    Column("required_answers", Integer, nullable=False, server_default="0"),
    # With required_answers: takers at once before one at a time, and the posterior that closes the object
    # early (migration 0008); 0 = all required_answers, no early stop.
    Column("min_answers", Integer, nullable=False, server_default="0"),
    Column("target_confidence", Float, nullable=False, server_default="0"),
)

answers = Table(
    "answers",
    metadata,
    Column("answer_id", String(64), primary_key=True),
    # The lease id: a retried submit of the same task hits this constraint and is answered as a duplicate.
    Column("task_id", String(64), nullable=False, unique=True),
    Column("job_id", String(64), nullable=False),
    Column("object_id", BigInteger, nullable=False),
    Column("worker_id", String(64), nullable=False),
    Column("label", Text, nullable=False, server_default=""),
    Column("payload_json", Text, nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("time_spent_s", Float, nullable=False),
    # N answers from N distinct workers: one answer per worker per object, whatever Redis says.
    UniqueConstraint("job_id", "object_id", "worker_id", name="uq_answers_job_object_worker"),
    Index("ix_answers_worker", "worker_id"),
)

# Declines are dispatch state that must survive a Redis rebuild (a declined object is never offered again).
declines = Table(
    "declines",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("object_id", BigInteger, primary_key=True),
    Column("worker_id", String(64), primary_key=True),
    Column("declined_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Objects of adaptive jobs that got their label: never dispatched again (survives a Redis rebuild).
closed_objects = Table(
    "closed_objects",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("object_id", BigInteger, primary_key=True),
    Column("closed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = outbox_table(metadata)
consumer_offsets = consumer_offsets_table(metadata)

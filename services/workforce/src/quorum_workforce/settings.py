"""Workforce settings, from the environment without prefix (see docs/conventions.md)."""

from __future__ import annotations

from pydantic import Field

from quorum_common.settings import ContentServiceSettings


class WorkforceSettings(ContentServiceSettings):
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Dispatch state (a cache of PostgreSQL).")
    redis_key_prefix: str = Field("qw:", description="Prefix of every workforce key in Redis.")
    redis_max_connections: int = Field(256, ge=1)
    sweep_interval_s: float = Field(1.0, gt=0, description="How often expired leases go back to the pool.")
    worker_cache_ttl_s: float = Field(
        5.0, ge=0, description="How long a worker's teams are cached in process."
    )
    submit_grace_s: float = Field(
        60.0,
        gt=0,
        description="A submit in flight keeps its lease this long past expiry before the sweeper "
        "decides from PostgreSQL (covers a crash between the commit and the Redis update).",
    )
    lease_tombstone_s: float = Field(
        6 * 3600.0, gt=0, description="How long an expired/cancelled/declined task id still answers with why."
    )
    outbox_poll_interval_s: float = Field(
        0.1, gt=0, description="How often the outbox relay publishes (batched; bounds event latency)."
    )
    dispatch_max_scan: int = Field(
        2000,
        ge=10,
        description="Objects one NextTask call may inspect per job before giving up (bounds Lua time).",
    )
    adaptive_verdict_wait_ms: int = Field(
        2000,
        ge=0,
        description="Adaptive jobs: after an answer beyond the minimum, how long an object waits for its "
        "label (which closes it) before the next worker is sent to it; consolidation's AnswersWanted (still "
        "below the target) ends the wait at once, so this is the fallback when no verdict comes.",
    )
    draw_verdict_wait_ms: int = Field(
        5000,
        ge=0,
        description="Objects with their own early stop (DataObject.min_answers: the automated-labeling "
        "loop's random draws): the same wait. Longer, because a further answer there is asked for only when "
        "the first ones disagreed, and a label later than the wait costs one (2 s let a third of the "
        "unanimous draws get another answer in the end-to-end tests).",
    )

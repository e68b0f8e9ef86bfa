"""Transactional outbox: state and the event describing it commit together, then a relay publishes.

A service adds events with `add_event(session, ...)` inside the same transaction as its state change; the
`OutboxRelay` background task publishes unpublished rows in id order and marks them published. Rows are kept
(pruned after `retain_s`) so nothing an event described is lost if the broker is. Several replicas may run
the relay: rows are claimed with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quorum.events.v1 import events_pb2
from quorum_common.logging import get_logger

log = get_logger(__name__)


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )


@dataclass
class Outbox:
    table: Table
    # Set whenever a transaction added events, so the relay wakes at once instead of at its next poll.
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    async def add_events(
        self, session: AsyncSession, events: list[tuple[str, bytes | None, events_pb2.EventEnvelope]]
    ) -> None:
        """Queue events (topic, key, envelope) in the caller's transaction."""
        if not events:
            return
        await session.execute(
            self.table.insert(),
            [
                {"event_id": env.event_id, "topic": topic, "key": key, "payload": env.SerializeToString()}
                for topic, key, env in events
            ],
        )
        self.wakeup.set()


@dataclass
class OutboxRelay:
    outbox: Outbox
    sessions: async_sessionmaker[AsyncSession]
    producer: AIOKafkaProducer
    batch_size: int = 500
    poll_interval_s: float = 0.5
    retain_s: float = 7 * 24 * 3600

    async def run(self) -> None:
        prune_every = 600.0
        last_prune = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                published = await self.publish_batch()
            except Exception:
                log.exception("outbox_publish_failed")
                await asyncio.sleep(1)
                continue
            if loop.time() - last_prune > prune_every:
                await self.prune()
                last_prune = loop.time()
            if published < self.batch_size:
                self.outbox.wakeup.clear()
                try:
                    await asyncio.wait_for(self.outbox.wakeup.wait(), timeout=self.poll_interval_s)
                except TimeoutError:
                    pass

    async def publish_batch(self) -> int:
        t = self.outbox.table
        async with self.sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(t.c.id, t.c.topic, t.c.key, t.c.payload)
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            # Every send must be acknowledged by the broker before the rows are marked published.
            futures = [await self.producer.send(row.topic, value=row.payload, key=row.key) for row in rows]
            await asyncio.gather(*futures)
            await session.execute(
                t.update().where(t.c.id.in_([row.id for row in rows])).values(published_at=func.now())
            )
        return len(rows)

    async def prune(self) -> None:
        t = self.outbox.table
        async with self.sessions() as session, session.begin():
            await session.execute(
                t.delete().where(
                    t.c.published_at.is_not(None),
                    t.c.published_at < func.now() - text(f"interval '{int(self.retain_s)} seconds'"),
                )
            )

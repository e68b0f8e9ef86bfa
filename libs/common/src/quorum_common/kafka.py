"""Kafka plumbing: producer, topic creation, and a consumer whose offsets live in the service's database.

The consumer assigns partitions explicitly (no group rebalance pauses) and stores the next offset per
partition in the same transaction as the handler's effects, so a killed process resumes exactly where its
last commit ended; handlers are idempotent as well, so replays are harmless. A broker that lost its log
(Tansu keeps it in memory) answers out-of-range and the consumer restarts from the earliest offset.
Scale-out: run replicas with disjoint `partitions` (e.g. a StatefulSet ordinal picks its share).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quorum_common.logging import get_logger

log = get_logger(__name__)

#: Partitions of the topics the services create. The same number the embedded broker (Tansu) gives a topic it
#: auto-creates, so a broker that restarts empty and re-creates a topic on a client's first request keeps the
#: layout the consumers were assigned (with 8, records went to partitions 0-3 only while the consumers still
#: tracked 8, and objects went unlabeled). Production topics are created by the operator, not by this.
DEFAULT_PARTITIONS = 4

Handler = Callable[[AsyncSession, list[ConsumerRecord]], Awaitable[None]]


def consumer_offsets_table(metadata: MetaData) -> Table:
    return Table(
        "consumer_offsets",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("topic", String(200), primary_key=True),
        Column("partition", Integer, primary_key=True),
        Column("next_offset", BigInteger, nullable=False),
    )


async def start_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", linger_ms=2, request_timeout_ms=15000
    )
    await _retry_start(producer.start, "producer", close=producer.stop)
    return producer


async def ensure_topics(
    bootstrap_servers: str, topics: Sequence[str], partitions: int = DEFAULT_PARTITIONS
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await _retry_start(admin.start, "admin", close=admin.close)
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics if t not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


async def _retry_start(
    start: Callable[[], Awaitable[None]],
    what: str,
    attempts: int = 60,
    close: Callable[[], Awaitable[None]] | None = None,
) -> None:
    for attempt in range(attempts):
        try:
            await start()
            return
        except asyncio.CancelledError:
            if close is not None:  # don't leak a half-started client when shutdown interrupts us
                await close()
            raise
        except Exception as err:  # the broker may still be starting
            if attempt == attempts - 1:
                raise
            log.warning("kafka_unavailable", client=what, error=str(err))
            await asyncio.sleep(1)


@dataclass
class DbOffsetConsumer:
    """Consume `topic` in batches; `handler(session, records)` runs in the transaction that stores offsets."""

    name: str
    topic: str
    bootstrap_servers: str
    sessions: async_sessionmaker[AsyncSession]
    offsets: Table
    handler: Handler
    partitions: Sequence[int] | None = None
    max_batch: int = 500

    async def run(self) -> None:
        await ensure_topics(self.bootstrap_servers, [self.topic])
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_batch,
            fetch_max_wait_ms=100,
            # A fetch the broker never answers is retried after this long (aiokafka's default is 40 s;
            # seen once in CI as a label consumer stalled for over 15 s).
            request_timeout_ms=10000,
        )
        await _retry_start(consumer.start, f"consumer:{self.name}", close=consumer.stop)
        try:
            all_partitions = consumer.partitions_for_topic(self.topic) or set()
            while not all_partitions:
                await asyncio.sleep(0.5)
                await consumer._client.force_metadata_update()  # noqa: SLF001 - no public refresh
                all_partitions = consumer.partitions_for_topic(self.topic) or set()
            chosen = sorted(self.partitions if self.partitions is not None else all_partitions)
            tps = [TopicPartition(self.topic, p) for p in chosen]
            consumer.assign(tps)
            stored = await self._load_offsets()
            for tp in tps:
                if tp.partition in stored:
                    consumer.seek(tp, stored[tp.partition])
                else:
                    await consumer.seek_to_beginning(tp)
            log.info("consumer_started", consumer=self.name, topic=self.topic, partitions=chosen)
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=self.max_batch)
                records = [r for batch in batches.values() for r in batch]
                if not records:
                    continue
                await self._handle(records)
        finally:
            await consumer.stop()

    async def _load_offsets(self) -> dict[int, int]:
        t = self.offsets
        async with self.sessions() as session:
            rows = await session.execute(
                select(t.c.partition, t.c.next_offset).where(
                    t.c.consumer == self.name, t.c.topic == self.topic
                )
            )
            return {row.partition: row.next_offset for row in rows}

    async def _handle(self, records: list[ConsumerRecord]) -> None:
        next_offsets: dict[int, int] = {}
        for r in records:
            next_offsets[r.partition] = max(next_offsets.get(r.partition, 0), r.offset + 1)
        t = self.offsets
        async with self.sessions() as session, session.begin():
            await self.handler(session, records)
            stmt = insert(t).values(
                [
                    {"consumer": self.name, "topic": self.topic, "partition": p, "next_offset": o}
                    for p, o in next_offsets.items()
                ]
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["consumer", "topic", "partition"],
                    set_={"next_offset": stmt.excluded.next_offset},
                )
            )

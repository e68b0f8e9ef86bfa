"""The outbox relay for LabelConsolidated events, with the producer it owns."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quorum_common.events import LABELS_TOPIC
from quorum_common.kafka import ensure_topics, start_producer
from quorum_common.outbox import Outbox, OutboxRelay


@dataclass
class LabelPublisher:
    """Background task; the producer starts inside it so the gRPC API serves while the broker is down."""

    bootstrap_servers: str
    outbox: Outbox
    sessions: async_sessionmaker[AsyncSession]
    producer: AIOKafkaProducer | None = None

    async def run(self) -> None:
        await ensure_topics(self.bootstrap_servers, [LABELS_TOPIC])
        if self.producer is None:  # kept across restarts of this task by the supervisor
            self.producer = await start_producer(self.bootstrap_servers)
        await OutboxRelay(self.outbox, self.sessions, self.producer).run()

    async def close(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            await producer.stop()

"""Wiring: settings -> dependencies -> an unstarted GrpcService."""

from __future__ import annotations

import asyncio
import gc

from redis.asyncio import Redis

from quorum.workforce.v1 import workforce_pb2, workforce_pb2_grpc
from quorum_common.db import make_engine, make_sessionmaker, ping
from quorum_common.events import ANSWERS_TOPIC, LABELS_TOPIC
from quorum_common.grpc_server import GrpcService
from quorum_common.kafka import DbOffsetConsumer, ensure_topics, start_producer
from quorum_common.logging import get_logger
from quorum_common.outbox import Outbox, OutboxRelay
from quorum_workforce import SCHEMA
from quorum_workforce.adapters.dispatch import DispatchStore
from quorum_workforce.adapters.labels import LABELS_CONSUMER, VerdictHandler
from quorum_workforce.adapters.pgpool import RawPool
from quorum_workforce.adapters.repository import Repository
from quorum_workforce.adapters.tables import consumer_offsets
from quorum_workforce.servicer import WorkforceServicer
from quorum_workforce.settings import WorkforceSettings
from quorum_workforce.workforce import Workforce

log = get_logger(__name__)


async def build_service(settings: WorkforceSettings) -> GrpcService:
    engine = make_engine(settings.database_url, SCHEMA, pool_size=settings.db_pool_size)
    sessions = make_sessionmaker(engine)
    redis = Redis.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
    raw = RawPool(settings.database_url, settings.db_pool_size)
    repo = Repository(sessions, raw)
    dispatch = DispatchStore(
        redis,
        settings.redis_key_prefix,
        verdict_wait_ms=settings.adaptive_verdict_wait_ms,
        draw_verdict_wait_ms=settings.draw_verdict_wait_ms,
    )
    workforce = Workforce(settings, repo, dispatch)
    servicer = WorkforceServicer(workforce)
    # Adaptive redundancy: a labeled object of a job with a target confidence is dispatched no more.
    labels_consumer = DbOffsetConsumer(
        name=LABELS_CONSUMER,
        topic=LABELS_TOPIC,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        sessions=sessions,
        offsets=consumer_offsets,
        handler=VerdictHandler(dispatch),
    )

    async def relay() -> None:
        """Publish the outbox; in the background, as answers are safe in PostgreSQL while Kafka is away."""
        await ensure_topics(settings.kafka_bootstrap_servers, [ANSWERS_TOPIC])
        producer = await start_producer(settings.kafka_bootstrap_servers)
        # The relay gets an Outbox of its own that submits never wake: it then publishes in batches every
        # outbox_poll_interval_s instead of one transaction (and broker round trip) per answer.
        relay_outbox = Outbox(repo.outbox.table)
        outbox_relay = OutboxRelay(
            relay_outbox, sessions, producer, poll_interval_s=settings.outbox_poll_interval_s
        )
        runner = asyncio.ensure_future(outbox_relay.run())
        try:
            await runner
        finally:
            # OutboxRelay.run logs and retries on any Exception, so a cancel that a driver turned into an
            # error (or swallowed) would leave it running and stop() waiting: cancel until it is done.
            while not runner.done():
                runner.cancel()
                await asyncio.wait([runner], timeout=0.5)
            await asyncio.wait_for(producer.stop(), 10)

    async def ready() -> bool:
        return await ping(engine) and await workforce.dispatch.ping()

    async def close_redis() -> None:
        await redis.aclose()

    # Everything built so far (modules, protos, SQLAlchemy metadata) lives as long as the process: keep it
    # out of the cyclic GC, whose full passes over it were tail-latency spikes of tens of milliseconds.
    gc.collect()
    gc.freeze()
    return GrpcService(
        name="workforce",
        service_names=[workforce_pb2.DESCRIPTOR.services_by_name["WorkforceService"].full_name],
        registrars=[
            lambda server: workforce_pb2_grpc.add_WorkforceServiceServicer_to_server(servicer, server)
        ],
        host=settings.grpc_host,
        port=settings.grpc_port,
        grace_period_s=settings.grace_period_s,
        metrics_port=settings.metrics_port,
        max_concurrent_rpcs=settings.max_concurrent_rpcs,
        background=[relay, workforce.run_sweeper, labels_consumer.run],
        readiness=ready,
        cleanups=[close_redis, raw.close, engine.dispose],
    )

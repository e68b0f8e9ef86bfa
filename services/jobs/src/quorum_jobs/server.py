"""Wiring: settings -> dependencies -> an unstarted GrpcService (label consumer, outbox relay, reconciler)."""

from __future__ import annotations

from quorum.jobs.v1 import jobs_pb2, jobs_pb2_grpc
from quorum_common.db import make_engine, make_sessionmaker, ping
from quorum_common.events import JOB_STATUS_TOPIC, LABELS_TOPIC
from quorum_common.grpc_server import GrpcService
from quorum_common.kafka import DbOffsetConsumer, ensure_topics, start_producer
from quorum_common.outbox import Outbox, OutboxRelay
from quorum_jobs import SCHEMA
from quorum_jobs.adapters.inference import InferenceClient
from quorum_jobs.adapters.labels import LabelHandler
from quorum_jobs.adapters.store import JobStore
from quorum_jobs.adapters.tables import consumer_offsets, outbox
from quorum_jobs.adapters.workforce import WorkforceClient
from quorum_jobs.application import JobsApp
from quorum_jobs.autolabeling import AutoLabeler
from quorum_jobs.servicer import JobsServicer
from quorum_jobs.settings import JobsSettings

LABEL_CONSUMER = "jobs-labels"
_MESSAGE_HEADROOM = 1024 * 1024


async def build_service(settings: JobsSettings) -> GrpcService:
    engine = make_engine(settings.database_url, SCHEMA, pool_size=settings.db_pool_size)
    sessions = make_sessionmaker(engine)
    store = JobStore(sessions, Outbox(outbox))
    workforce = WorkforceClient(
        settings.workforce_addr,
        timeout_s=settings.workforce_timeout_s,
        batch_bytes=settings.put_objects_batch_bytes,
    )
    inference = InferenceClient(settings.inference_addr, timeout_s=settings.inference_timeout_s)
    autolabeler = AutoLabeler(settings, store, workforce, inference)
    app = JobsApp(settings, store, workforce, autolabeler)
    servicer = JobsServicer(app)
    consumer = DbOffsetConsumer(
        name=LABEL_CONSUMER,
        topic=LABELS_TOPIC,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        sessions=sessions,
        offsets=consumer_offsets,
        handler=LabelHandler(store),
    )

    async def relay_job_status() -> None:
        # Started here, not in build_service: a broker that is still starting must not delay serving.
        await ensure_topics(settings.kafka_bootstrap_servers, [JOB_STATUS_TOPIC])
        producer = await start_producer(settings.kafka_bootstrap_servers)
        try:
            await OutboxRelay(store.outbox, sessions, producer).run()
        finally:
            await producer.stop()

    return GrpcService(
        name="jobs",
        service_names=[jobs_pb2.DESCRIPTOR.services_by_name["JobsService"].full_name],
        registrars=[lambda server: jobs_pb2_grpc.add_JobsServiceServicer_to_server(servicer, server)],
        host=settings.grpc_host,
        port=settings.grpc_port,
        grace_period_s=settings.grace_period_s,
        metrics_port=settings.metrics_port,
        max_concurrent_rpcs=settings.max_concurrent_rpcs,
        # CreateJob may carry the whole manifest inline.
        max_message_bytes=max(64 * 1024 * 1024, settings.max_manifest_bytes + _MESSAGE_HEADROOM),
        background=[consumer.run, relay_job_status, app.run_reconciler, autolabeler.run],
        readiness=lambda: ping(engine),
        cleanups=[workforce.close, inference.close, engine.dispose],
    )

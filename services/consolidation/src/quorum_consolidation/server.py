"""Wiring: settings -> dependencies -> an unstarted GrpcService."""

from __future__ import annotations

import asyncio

from quorum.consolidation.v1 import consolidation_pb2, consolidation_pb2_grpc
from quorum_common.db import make_engine, make_sessionmaker, ping
from quorum_common.events import ANSWERS_TOPIC
from quorum_common.grpc_server import GrpcService
from quorum_common.kafka import DbOffsetConsumer
from quorum_common.logging import get_logger
from quorum_common.outbox import Outbox
from quorum_consolidation import SCHEMA
from quorum_consolidation.adapters import tables
from quorum_consolidation.adapters.answer_consumer import CONSUMER_NAME, AnswerHandler
from quorum_consolidation.adapters.job_models import JobModels
from quorum_consolidation.adapters.label_publisher import LabelPublisher
from quorum_consolidation.servicer import ConsolidationServicer
from quorum_consolidation.settings import ConsolidationSettings

log = get_logger(__name__)


async def build_service(settings: ConsolidationSettings) -> GrpcService:
    engine = make_engine(settings.database_url, SCHEMA, pool_size=settings.db_pool_size)
    sessions = make_sessionmaker(engine)
    outbox = Outbox(tables.outbox)
    consumer = DbOffsetConsumer(
        name=CONSUMER_NAME,
        topic=ANSWERS_TOPIC,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        sessions=sessions,
        offsets=tables.consumer_offsets,
        handler=AnswerHandler(
            outbox=outbox,
            method=settings.streaming_method,
            models=JobModels(
                method="ds" if settings.streaming_method == "ds" else "auto",
                refit_growth=settings.refit_growth,
                refit_max_age_s=settings.refit_max_age_s,
                max_jobs=settings.job_model_cache_size,
                team_priors=settings.team_priors,
                prior_weight=settings.team_prior_weight,
            ),
            label_files_dir=settings.label_files_dir,
        ),
        partitions=settings.consumer_partitions,
        max_batch=settings.consumer_max_batch,
    )
    handler = consumer.handler
    assert isinstance(handler, AnswerHandler)

    async def revise_labels_periodically() -> None:
        # A job's last answers may not trigger a refit (the policy waits for growth or age): check the cached
        # job models now and then, so that every job ends with the labels of a fit on all its answers.
        while True:
            await asyncio.sleep(settings.revise_interval_s)
            try:
                async with sessions() as session, session.begin():
                    await handler.refresh_stale(session)
            except Exception:  # noqa: BLE001 - keep revising; the next round retries
                log.exception("label_revision_round_failed")

    publisher = LabelPublisher(settings.kafka_bootstrap_servers, outbox, sessions)
    servicer = ConsolidationServicer(settings, sessions)

    async def dispose_engine() -> None:
        await engine.dispose()

    return GrpcService(
        name="consolidation",
        service_names=[consolidation_pb2.DESCRIPTOR.services_by_name["ConsolidationService"].full_name],
        registrars=[
            lambda server: consolidation_pb2_grpc.add_ConsolidationServiceServicer_to_server(servicer, server)
        ],
        host=settings.grpc_host,
        port=settings.grpc_port,
        grace_period_s=settings.grace_period_s,
        metrics_port=settings.metrics_port,
        max_concurrent_rpcs=settings.max_concurrent_rpcs,
        background=[consumer.run, publisher.run, revise_labels_periodically],
        readiness=lambda: ping(engine),
        cleanups=[publisher.close, dispose_engine],
    )

"""The jobs service in-process on real PostgreSQL and a real Kafka-protocol broker.

Workforce is being built concurrently, so its gRPC boundary is played by `FakeWorkforce`: a real grpc.aio
server implementing just the RPCs jobs calls, recording every call and able to fail on demand. Labels arrive
as real LabelConsolidated events published with aiokafka.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import Engine, create_engine, text

from quorum.events.v1 import events_pb2
from quorum.jobs.v1 import jobs_pb2, jobs_pb2_grpc
from quorum.workforce.v1 import workforce_pb2, workforce_pb2_grpc
from quorum_common.db import make_engine, make_sessionmaker, transaction
from quorum_common.errors import reason_from_rpc_error
from quorum_common.events import JOB_STATUS_TOPIC, LABELS_TOPIC, envelope, object_key, parse_envelope
from quorum_common.grpc_server import GrpcService
from quorum_common.kafka import ensure_topics
from quorum_common.outbox import Outbox
from quorum_common.settings import normalize_database_url
from quorum_jobs import MIGRATIONS, SCHEMA
from quorum_jobs.adapters.labels import LabelHandler
from quorum_jobs.adapters.store import JobStore
from quorum_jobs.adapters.tables import metadata
from quorum_jobs.adapters.tables import outbox as outbox_table
from quorum_jobs.application import resolve_manifest_path
from quorum_jobs.server import build_service
from quorum_jobs.settings import JobsSettings

RECONCILE_S = 0.2
REPLAY_AFTER_S = 0.6


# -- the workforce test double ---------------------------------------------------------------------


class FakeWorkforce(workforce_pb2_grpc.WorkforceServiceServicer):
    def __init__(self) -> None:
        self.teams: dict[str, list[str]] = {}
        self.objects: dict[str, dict[int, tuple[str, str]]] = {}
        self.put_calls: dict[str, int] = {}
        self.opened: dict[str, workforce_pb2.JobSpec] = {}
        self.closed: list[str] = []
        self.complete: dict[str, list[int]] = {}
        self.answers: dict[str, int] = {}
        self.replays: list[tuple[str, list[int]]] = []
        self.failures: dict[str, int] = {}  # method -> how many next calls answer UNAVAILABLE

    async def _maybe_fail(self, method: str, context: grpc.aio.ServicerContext) -> None:
        if self.failures.get(method, 0) > 0:
            self.failures[method] -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"test double: {method} is down")

    async def ListTeams(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._maybe_fail("ListTeams", context)
        return workforce_pb2.ListTeamsResponse(
            teams=[
                workforce_pb2.Team(team_id=t, owner_id=request.owner_id, name=t)
                for t in self.teams.get(request.owner_id, [])
            ]
        )

    async def ListWorkers(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._maybe_fail("ListWorkers", context)
        # Every team has ten workers: a job's random draws may get their extra answers.
        return workforce_pb2.ListWorkersResponse(
            workers=[workforce_pb2.Worker(worker_id=f"{request.team_id}-w{i}") for i in range(10)]
        )

    async def PutJobObjects(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._maybe_fail("PutJobObjects", context)
        stored = self.objects.setdefault(request.job_id, {})
        for o in request.objects:
            stored[o.object_id] = (o.source, o.source_ref)
        self.put_calls[request.job_id] = self.put_calls.get(request.job_id, 0) + 1
        return workforce_pb2.PutJobObjectsResponse(stored=len(request.objects))

    async def OpenJob(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._maybe_fail("OpenJob", context)
        self.opened[request.spec.job_id] = request.spec
        return workforce_pb2.OpenJobResponse()

    async def CloseJob(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._maybe_fail("CloseJob", context)
        self.closed.append(request.job_id)
        return workforce_pb2.CloseJobResponse()

    async def GetJobProgress(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._maybe_fail("GetJobProgress", context)
        if request.job_id not in self.opened:
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown job")
        ids = self.complete.get(request.job_id, [])
        return workforce_pb2.JobProgress(
            job_id=request.job_id,
            answers=self.answers.get(request.job_id, 0),
            objects_complete=len(ids),
            complete_object_ids=ids,
        )

    async def ReplayAnswers(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._maybe_fail("ReplayAnswers", context)
        self.replays.append((request.job_id, list(request.object_ids)))
        return workforce_pb2.ReplayAnswersResponse(republished=len(request.object_ids))


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    from quorum_common.db import run_migrations

    run_migrations(database_url, SCHEMA, MIGRATIONS)
    return database_url


@pytest.fixture(scope="module")
def db(migrated: str) -> Iterator[Engine]:
    engine = create_engine(normalize_database_url(migrated))
    yield engine
    engine.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def workforce() -> AsyncIterator[tuple[FakeWorkforce, int]]:
    fake = FakeWorkforce()
    server = grpc.aio.server()
    workforce_pb2_grpc.add_WorkforceServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield fake, port
    await server.stop(0)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service(
    migrated: str, kafka_bootstrap: str, workforce: tuple[FakeWorkforce, int]
) -> AsyncIterator[GrpcService]:
    await ensure_topics(kafka_bootstrap, [LABELS_TOPIC, JOB_STATUS_TOPIC])
    settings = JobsSettings(
        database_url=migrated,
        kafka_bootstrap_servers=kafka_bootstrap,
        workforce_addr=f"127.0.0.1:{workforce[1]}",
        grpc_port=0,
        grace_period_s=0.5,
        reconcile_interval_s=RECONCILE_S,
        replay_after_s=REPLAY_AFTER_S,
        put_objects_batch_bytes=1024,
        log_json=False,
    )
    svc = await build_service(settings)
    await svc.start()
    yield svc
    await svc.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stub(service: GrpcService) -> AsyncIterator[jobs_pb2_grpc.JobsServiceStub]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}")
    yield jobs_pb2_grpc.JobsServiceStub(channel)
    await channel.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=1)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
def fake(workforce: tuple[FakeWorkforce, int]) -> FakeWorkforce:
    return workforce[0]


# -- helpers ----------------------------------------------------------------------------------------


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 45.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


async def new_requester(stub: jobs_pb2_grpc.JobsServiceStub, fake: FakeWorkforce) -> tuple[str, str]:
    resp = await stub.CreateRequester(jobs_pb2.CreateRequesterRequest(name=f"req-{uuid.uuid4().hex[:6]}"))
    team = f"team-{uuid.uuid4().hex[:8]}"
    fake.teams[resp.requester.requester_id] = [team]
    return resp.requester.requester_id, team


def manifest(*items: dict[str, Any]) -> bytes:
    return ("\n".join(json.dumps(i) for i in items) + "\n").encode()


def job_request(requester_id: str, team: str, name: str, data: bytes | None = None, **kw: Any) -> Any:
    fields: dict[str, Any] = {
        "requester_id": requester_id,
        "name": name,
        "task_type": "text-classification",
        "categories": ["negative", "neutral", "positive"],
        "workers_per_object": 1,
        "task_time_limit_s": 60,
        "price_per_task_usd": 0.05,
        "team_id": team,
        "instructions": "Pick the sentiment.",
    }
    fields.update(kw)
    if data is not None:
        fields["manifest_data"] = data
    return jobs_pb2.CreateJobRequest(**fields)


def label_event(
    job_id: str,
    object_id: int,
    label: str,
    *,
    confidence: float = 0.9,
    method: str = "mv",
    answer_count: int = 1,
    at: datetime | None = None,
    revision: int = 0,
) -> bytes:
    at_ms = int((at or datetime.now(UTC)).timestamp() * 1000)
    return envelope(
        label_consolidated=events_pb2.LabelConsolidated(
            job_id=job_id,
            object_id=object_id,
            label=label,
            confidence=confidence,
            method=method,
            answer_count=answer_count,
            worker_ids=[f"w{i}" for i in range(answer_count)],
            consolidated_at_ms=at_ms,
            revision=revision,
        )
    ).SerializeToString()


async def publish(
    producer: AIOKafkaProducer, job_id: str, object_id: int, value: bytes, partition: int | None = None
) -> None:
    await producer.send_and_wait(
        LABELS_TOPIC, value=value, key=object_key(job_id, object_id), partition=partition
    )


async def output(
    stub: jobs_pb2_grpc.JobsServiceStub, job_id: str, requester_id: str, *, include_unlabeled: bool = False
) -> list[str]:
    request = jobs_pb2.GetOutputManifestRequest(
        job_id=job_id, requester_id=requester_id, include_unlabeled=include_unlabeled
    )
    data = b"".join([chunk.data async for chunk in stub.GetOutputManifest(request)])
    return data.decode().splitlines()


async def get_job(stub: jobs_pb2_grpc.JobsServiceStub, job_id: str, requester_id: str) -> Any:
    return await stub.GetJob(jobs_pb2.GetJobRequest(job_id=job_id, requester_id=requester_id))


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


def job_rows(db: Engine, requester_id: str) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM jobs.jobs WHERE requester_id = :r"), {"r": requester_id}
            ).scalar_one()
        )


# -- tests ------------------------------------------------------------------------------------------


def test_migrations_match_the_tables(db: Engine) -> None:
    """Alembic's tree and tables.py describe the same schema (autogenerate finds nothing to do)."""
    with db.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, _parent: (
                    name == SCHEMA if type_ == "schema" else name != "alembic_version"
                ),
                "compare_type": True,
            },
        )
        diff = compare_metadata(ctx, metadata)
    assert diff == []


async def test_health_is_serving(service: GrpcService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)

        async def serving() -> bool:
            try:
                resp = await health.Check(health_pb2.HealthCheckRequest(service="quorum.jobs.v1.JobsService"))
            except grpc.aio.AioRpcError as err:  # NOT_FOUND until the readiness probe first reports
                assert err.code() == grpc.StatusCode.NOT_FOUND
                return False
            return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)

        await eventually(serving, what="SERVING")


async def test_requester_keys(stub: jobs_pb2_grpc.JobsServiceStub, db: Engine) -> None:
    created = await stub.CreateRequester(jobs_pb2.CreateRequesterRequest(name="Acme ML"))
    assert created.api_key.startswith("qr_") and len(created.api_key) > 40
    me = await stub.AuthenticateRequester(jobs_pb2.AuthenticateRequesterRequest(api_key=created.api_key))
    assert (me.requester_id, me.name) == (created.requester.requester_id, "Acme ML")
    for bad in ["", "qr_nope", created.api_key + "x"]:
        err = await rpc_error(stub.AuthenticateRequester(jobs_pb2.AuthenticateRequesterRequest(api_key=bad)))
        assert (
            err.code() == grpc.StatusCode.UNAUTHENTICATED and reason_from_rpc_error(err) == "invalid_api_key"
        )
    with db.connect() as conn:
        stored = conn.execute(
            text("SELECT api_key_sha256 FROM jobs.requesters WHERE requester_id = :r"),
            {"r": created.requester.requester_id},
        ).scalar_one()
    assert created.api_key not in stored and len(stored) == 64


async def test_job_lifecycle_labels_and_exact_output(
    stub: jobs_pb2_grpc.JobsServiceStub,
    fake: FakeWorkforce,
    producer: AIOKafkaProducer,
    db: Engine,
    kafka_bootstrap: str,
) -> None:
    rid, team = await new_requester(stub, fake)
    data = manifest(
        {"source": "great food", "id": 1},
        {"source": "awful service"},
        {"source": "it was ok", "meta": {"lang": "en", "n": [1, 2.5]}},
    )
    job = await stub.CreateJob(job_request(rid, team, "Sentiment-Run", data))
    jid = job.job_id
    assert job.status == "in_progress"
    assert job.label_attribute_name == "Sentiment-Run"
    assert (job.counters.total, job.counters.unlabeled) == (3, 3)
    assert fake.objects[jid] == {0: ("great food", ""), 1: ("awful service", ""), 2: ("it was ok", "")}
    assert fake.put_calls[jid] == 1
    spec = fake.opened[jid]
    assert (spec.owner_id, spec.team_id, spec.object_count, list(spec.categories)) == (
        rid,
        team,
        3,
        ["negative", "neutral", "positive"],
    )

    t0 = datetime(2026, 11, 22, 5, 0, 0, 123000, tzinfo=UTC)
    t1 = datetime(2026, 11, 22, 5, 0, 1, 500000, tzinfo=UTC)
    t2 = datetime(2026, 11, 22, 5, 0, 2, tzinfo=UTC)
    await publish(producer, jid, 0, label_event(jid, 0, "positive", confidence=0.954, at=t0))
    await publish(producer, jid, 1, label_event(jid, 1, "negative", confidence=0.5, answer_count=3, at=t1))
    # A duplicate with another answer, an unknown job, a category the job lacks, an object the job lacks
    # and garbage: all skipped.
    await publish(producer, jid, 0, label_event(jid, 0, "negative", confidence=0.99, at=t1))
    await publish(producer, "f" * 32, 0, label_event("f" * 32, 0, "positive"))
    await publish(producer, jid, 2, label_event(jid, 2, "bogus"))
    await publish(producer, jid, 99, label_event(jid, 99, "positive"))
    await publish(producer, jid, 2, b"\x00not a protobuf\xff")

    async def two_labeled() -> bool:
        return (await get_job(stub, jid, rid)).counters.human_labeled == 2

    await eventually(two_labeled, what="two labels")
    partial = await output(stub, jid, rid)
    assert [json.loads(line)["source"] for line in partial] == ["great food", "awful service"]
    assert (await get_job(stub, jid, rid)).status == "in_progress"
    # include_unlabeled (the console's label browser): every object in object order, the unlabeled one as its
    # input line alone, the labeled ones exactly as in the default output.
    every = await output(stub, jid, rid, include_unlabeled=True)
    assert every == [*partial, '{"source":"it was ok","meta":{"lang":"en","n":[1,2.5]}}']

    await publish(
        producer,
        jid,
        2,
        label_event(jid, 2, "neutral", confidence=0.731, method="auto-label", answer_count=0, at=t2),
    )

    async def completed() -> bool:
        return (await get_job(stub, jid, rid)).status == "completed"

    await eventually(completed, what="completed")
    done = await get_job(stub, jid, rid)
    c = done.counters
    assert (c.total, c.human_labeled, c.machine_labeled, c.failed, c.unlabeled) == (3, 2, 1, 0, 0)
    assert done.completed_at_ms >= done.created_at_ms > 0

    meta = '"type":"groundtruth/text-classification","job-name":"Sentiment-Run"'
    assert await output(stub, jid, rid, include_unlabeled=True) == await output(stub, jid, rid)
    assert await output(stub, jid, rid) == [
        '{"source":"great food","id":1,"Sentiment-Run":2,"Sentiment-Run-metadata":{"class-name":"positive",'
        f'"confidence":0.95,{meta},"human-annotated":"yes","creation-date":"2026-11-22T05:00:00.123000"}}}}',
        '{"source":"awful service","Sentiment-Run":0,"Sentiment-Run-metadata":{"class-name":"negative",'
        f'"confidence":0.5,{meta},"human-annotated":"yes","creation-date":"2026-11-22T05:00:01.500000"}}}}',
        '{"source":"it was ok","meta":{"lang":"en","n":[1,2.5]},"Sentiment-Run":1,"Sentiment-Run-metadata":'
        f'{{"class-name":"neutral","confidence":0.73,{meta},"human-annotated":"no",'
        '"creation-date":"2026-11-22T05:00:02.000000"}}',
    ]

    # Answers and cost come from workforce; without it, from the answer counts of the labels.
    fake.answers[jid] = 7
    job = await get_job(stub, jid, rid)
    assert (job.answers, job.cost_usd) == (7, pytest.approx(0.35))
    fake.failures["GetJobProgress"] = 1
    job = await get_job(stub, jid, rid)
    assert (job.answers, job.cost_usd) == (4, pytest.approx(0.20))  # 1 + 3 + 0

    err = await rpc_error(stub.StopJob(jobs_pb2.StopJobRequest(job_id=jid, requester_id=rid)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and reason_from_rpc_error(err) == "invalid_state"

    # Every state change went through the outbox and reached the broker.
    with db.connect() as conn:
        rows = (
            conn.execute(
                text("SELECT payload FROM jobs.outbox WHERE key = :k ORDER BY id"), {"k": jid.encode()}
            )
            .scalars()
            .all()
        )
    assert [parse_envelope(p).job_status_changed.status for p in rows] == [
        "initializing",
        "in_progress",
        "completed",
    ]
    seen = await status_events(kafka_bootstrap, jid, 3)
    assert seen == ["initializing", "in_progress", "completed"]


async def test_a_bad_label_does_not_shadow_a_good_one_for_the_same_object_in_one_batch(
    stub: jobs_pb2_grpc.JobsServiceStub, fake: FakeWorkforce, migrated: str
) -> None:
    """One consumer batch often holds a record that must be skipped and a valid one for the same object (CI
    once fetched "bogus" and the machine label after it together): only valid events compete for an object."""
    rid, team = await new_requester(stub, fake)
    jid = (
        await stub.CreateJob(job_request(rid, team, "Shadow", manifest({"source": "a"}, {"source": "b"})))
    ).job_id
    engine = make_engine(migrated, SCHEMA)
    handler = LabelHandler(JobStore(make_sessionmaker(engine), Outbox(outbox_table)))
    values = [
        label_event(jid, 0, "bogus"),  # not a category
        b"\x00not a protobuf\xff",
        label_event(jid, 0, "neutral", method="auto-label", answer_count=0),
        label_event(jid, 1, "positive"),
        label_event(jid, 1, "negative"),  # a second valid label: the first one wins
    ]
    records = [
        ConsumerRecord(LABELS_TOPIC, 0, offset, 0, 0, None, value, None, len(value), -1, [])
        for offset, value in enumerate(values)
    ]
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            await handler(session, records)
    finally:
        await engine.dispose()
    done = await get_job(stub, jid, rid)
    c = done.counters
    assert (c.human_labeled, c.machine_labeled, c.unlabeled, done.status) == (1, 1, 0, "completed")
    labels = [json.loads(line)["Shadow-metadata"]["class-name"] for line in await output(stub, jid, rid)]
    assert labels == ["neutral", "positive"]


async def test_label_revisions_replace_labels_even_after_completion_and_never_go_back(
    stub: jobs_pb2_grpc.JobsServiceStub, fake: FakeWorkforce, producer: AIOKafkaProducer
) -> None:
    """Consolidation revises a label when its refitted job model changes it: the newest revision wins, in
    any job state, without moving the counters; an older or equal revision changes nothing."""
    rid, team = await new_requester(stub, fake)
    data = manifest({"source": "a"}, {"source": "b"}, {"source": "c"})
    job = await stub.CreateJob(job_request(rid, team, "revised", data))
    jid = job.job_id
    await publish(producer, jid, 0, label_event(jid, 0, "positive", confidence=0.6, answer_count=3))
    await publish(producer, jid, 1, label_event(jid, 1, "negative", confidence=0.8, answer_count=3))
    # A first label and its revision in one batch (consolidation emits both in one transaction): the revision.
    pair = [
        label_event(jid, 2, "negative", confidence=0.55, answer_count=3),
        label_event(jid, 2, "positive", confidence=0.65, answer_count=3, revision=1),
    ]
    for value in pair:  # enqueued back to back, delivered together
        await producer.send(LABELS_TOPIC, value=value, key=object_key(jid, 2))
    await producer.flush()

    async def completed() -> bool:
        return (await get_job(stub, jid, rid)).status == "completed"

    await eventually(completed, what="completed")

    def labels_of(lines: list[str]) -> list[tuple[int, float]]:
        rows = [json.loads(line) for line in lines]
        return [(r["revised"], r["revised-metadata"]["confidence"]) for r in rows]

    async def revise(object_id: int, label: str, confidence: float, revision: int) -> None:
        event = label_event(jid, object_id, label, confidence=confidence, answer_count=3, revision=revision)
        await publish(producer, jid, object_id, event)

    assert labels_of(await output(stub, jid, rid)) == [(2, 0.6), (0, 0.8), (2, 0.65)]
    await revise(0, "neutral", 0.7, revision=2)
    await revise(0, "negative", 0.9, revision=1)  # older than the one applied: ignored
    await revise(1, "positive", 0.9, revision=1)

    async def revised() -> bool:
        return labels_of(await output(stub, jid, rid)) == [(1, 0.7), (2, 0.9), (2, 0.65)]

    await eventually(revised, what="the newest revisions in the output")
    done = await get_job(stub, jid, rid)
    assert (done.counters.human_labeled, done.counters.unlabeled, done.status) == (3, 0, "completed")


async def status_events(bootstrap: str, job_id: str, want: int, timeout_s: float = 15.0) -> list[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [
            TopicPartition(JOB_STATUS_TOPIC, p) for p in consumer.partitions_for_topic(JOB_STATUS_TOPIC) or []
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        found: list[str] = []
        deadline = time.monotonic() + timeout_s
        while len(found) < want and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    ev = parse_envelope(r.value)
                    if ev.job_status_changed.job_id == job_id:
                        found.append(ev.job_status_changed.status)
        return found
    finally:
        await consumer.stop()


async def test_failed_object_and_labels_that_arrive_while_initializing(
    stub: jobs_pb2_grpc.JobsServiceStub, fake: FakeWorkforce, producer: AIOKafkaProducer
) -> None:
    rid, team = await new_requester(stub, fake)
    fake.failures["OpenJob"] = 2  # CreateJob's attempt and the reconciler's first retry fail
    job = await stub.CreateJob(
        job_request(rid, team, "late-open", manifest({"source": "a"}, {"source": "b"}))
    )
    jid = job.job_id
    assert job.status == "initializing"
    assert job.answers == 0
    await publish(producer, jid, 0, label_event(jid, 0, "neutral"))
    await publish(producer, jid, 1, label_event(jid, 1, ""))  # consolidation gave up: the object failed

    async def completed() -> bool:
        return (await get_job(stub, jid, rid)).status == "completed"

    await eventually(completed, what="opened by the reconciler, then completed")
    assert fake.failures["OpenJob"] == 0 and jid in fake.opened
    assert fake.objects[jid] == {0: ("a", ""), 1: ("b", "")}
    c = (await get_job(stub, jid, rid)).counters
    assert (c.human_labeled, c.failed, c.unlabeled) == (1, 1, 0)
    lines = [json.loads(line) for line in await output(stub, jid, rid)]
    assert lines[0]["late-open"] == 1
    assert lines[1] == {
        "source": "b",
        "late-open-metadata": {
            "retry-count": 0,
            "failure-reason": "ClientError: No label could be consolidated from the workers' answers",
            "human-annotated": "true",
            "type": "groundtruth/text-classification",
            "job-name": "late-open",
            "creation-date": lines[1]["late-open-metadata"]["creation-date"],
        },
    }


async def test_chaining_from_a_ground_truth_output_manifest_path(
    stub: jobs_pb2_grpc.JobsServiceStub, fake: FakeWorkforce, tmp_path: Path
) -> None:
    rid, team = await new_requester(stub, fake)
    gt_lines = [
        '{"source-ref":"s3://bucket/images/image_0123.jpeg","vehicle-labeling-demo":1,"vehicle-labeling-demo-metadata":'
        '{"class-name":"Car","job-name":"labeling-job/vehicle-labeling-demo","confidence":0.95,'
        '"type":"groundtruth/image-classification","human-annotated":"yes","creation-date":"2023-03-08T19:30:08.880327"}}',
        '{"source-ref":"file:///data/b.jpg","vehicle-labeling-demo-metadata":{"retry-count":1,'
        '"failure-reason":"ClientError: Annotation tasks expired.","human-annotated":"true"}}',
    ]
    path = tmp_path / "gt-output.manifest"
    path.write_text("\n".join(gt_lines) + "\n")
    req = job_request(
        rid,
        team,
        "vehicle-recheck",
        task_type="image-classification",
        categories=["Car", "Truck"],
        manifest_path=f"file://{path}",
    )
    job = await stub.CreateJob(req)
    assert job.status == "in_progress"
    assert fake.objects[job.job_id] == {
        0: ("", "s3://bucket/images/image_0123.jpeg"),
        1: ("", "file:///data/b.jpg"),
    }

    clash = job_request(
        rid,
        team,
        "vehicle-again",
        task_type="image-classification",
        categories=["Car", "Truck"],
        label_attribute_name="vehicle-labeling-demo",
        manifest_path=str(path),
    )
    err = await rpc_error(stub.CreateJob(clash))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and reason_from_rpc_error(err) == "manifest_invalid"
    assert "manifest line 1: the line already has the key 'vehicle-labeling-demo'" in (err.details() or "")

    missing = tmp_path / "nope.manifest"
    err = await rpc_error(stub.CreateJob(job_request(rid, team, "missing-file", manifest_path=str(missing))))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(missing) in (err.details() or "")
    assert len((await stub.ListJobs(jobs_pb2.ListJobsRequest(requester_id=rid))).jobs) == 1


def test_manifest_root_confines_paths(tmp_path: Path) -> None:
    from quorum_common.errors import PermissionDenied

    root = tmp_path / "manifests"
    root.mkdir()
    assert resolve_manifest_path("a/b.manifest", root) == root / "a" / "b.manifest"
    assert resolve_manifest_path(f"file://{root}/x.manifest", root) == root / "x.manifest"
    assert resolve_manifest_path("/anywhere/x", None) == Path("/anywhere/x")
    for outside in ["../secret", "/etc/passwd", "file:///etc/passwd"]:
        with pytest.raises(PermissionDenied):
            resolve_manifest_path(outside, root)


async def test_invalid_requests_store_nothing(
    stub: jobs_pb2_grpc.JobsServiceStub, fake: FakeWorkforce, db: Engine
) -> None:
    rid, team = await new_requester(stub, fake)
    other_rid, other_team = await new_requester(stub, fake)
    jobs_before = set(fake.objects)
    good = manifest({"source": "a"}, {"source": "b"})
    cases: list[tuple[Any, grpc.StatusCode, str, str]] = [
        (
            job_request(rid, team, "bad-json", b'{"source": "a"}\n{"source": "b",}\n'),
            grpc.StatusCode.INVALID_ARGUMENT,
            "manifest_invalid",
            "manifest line 2: invalid JSON",
        ),
        (
            job_request(rid, team, "wrong-kind", manifest({"source": "a"}, {"source-ref": "s3://b/k.jpg"})),
            grpc.StatusCode.INVALID_ARGUMENT,
            "manifest_invalid",
            "manifest line 2: text-classification needs",
        ),
        (
            job_request(rid, team, "empty", b"\n\n"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "manifest_invalid",
            "at least 1",
        ),
        (
            job_request(rid, team, "no-manifest"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "manifest_missing",
            "manifest",
        ),
        (
            job_request(rid, team, "polygons", good, task_type="polygon"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "unsupported_task_type",
            "bounding-box",
        ),
        (
            job_request(rid, team, "bad_name", good, workers_per_object=11),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_job_spec",
            "workers_per_object must be between 1 and 10",
        ),
        (
            job_request(rid, other_team, "foreign-team", good),
            grpc.StatusCode.NOT_FOUND,
            "team_not_found",
            other_team,
        ),
        (
            job_request("0" * 32, team, "nobody", good),
            grpc.StatusCode.NOT_FOUND,
            "requester_not_found",
            "0" * 32,
        ),
    ]
    for req, code, reason, fragment in cases:
        err = await rpc_error(stub.CreateJob(req))
        assert (err.code(), reason_from_rpc_error(err)) == (code, reason), req.name
        assert fragment in (err.details() or ""), (req.name, err.details())

    fake.failures["ListTeams"] = 1
    err = await rpc_error(stub.CreateJob(job_request(rid, team, "workforce-down", good)))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and reason_from_rpc_error(err) == "workforce_unavailable"

    assert job_rows(db, rid) == 0 and job_rows(db, other_rid) == 0
    assert set(fake.objects) == jobs_before  # workforce never heard of any of them

    await stub.CreateJob(job_request(rid, team, "My-Job", good))
    err = await rpc_error(stub.CreateJob(job_request(rid, team, "my-job", good)))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS and reason_from_rpc_error(err) == "job_name_exists"
    await stub.CreateJob(job_request(other_rid, other_team, "my-job", good))  # names are per requester
    assert job_rows(db, rid) == 1


async def test_another_requesters_job_is_not_found(
    stub: jobs_pb2_grpc.JobsServiceStub, fake: FakeWorkforce
) -> None:
    owner, team = await new_requester(stub, fake)
    stranger, _ = await new_requester(stub, fake)
    job = await stub.CreateJob(job_request(owner, team, "private", manifest({"source": "x"})))
    calls: list[Callable[[str, str], Awaitable[Any]]] = [
        lambda j, r: stub.GetJob(jobs_pb2.GetJobRequest(job_id=j, requester_id=r)),
        lambda j, r: stub.StopJob(jobs_pb2.StopJobRequest(job_id=j, requester_id=r)),
        lambda j, r: output(stub, j, r),
    ]
    for call in calls:
        foreign = await rpc_error(call(job.job_id, stranger))
        unknown = await rpc_error(call("e" * 32, stranger))
        assert foreign.code() == unknown.code() == grpc.StatusCode.NOT_FOUND
        assert reason_from_rpc_error(foreign) == reason_from_rpc_error(unknown) == "job_not_found"
    listed = await stub.ListJobs(jobs_pb2.ListJobsRequest(requester_id=stranger))
    assert list(listed.jobs) == []
    assert (await get_job(stub, job.job_id, owner)).status == "in_progress"


async def test_stop_flow_retries_close_and_writes_failure_lines(
    stub: jobs_pb2_grpc.JobsServiceStub, fake: FakeWorkforce, producer: AIOKafkaProducer
) -> None:
    rid, team = await new_requester(stub, fake)
    job = await stub.CreateJob(
        job_request(rid, team, "to-stop", manifest({"source": "a"}, {"source": "b"}, {"source": "c"}))
    )
    jid = job.job_id
    await publish(producer, jid, 1, label_event(jid, 1, "positive", confidence=1.0))

    async def one_label() -> bool:
        return (await get_job(stub, jid, rid)).counters.human_labeled == 1

    await eventually(one_label, what="one label")
    fake.failures["CloseJob"] = 2
    stopped = await stub.StopJob(jobs_pb2.StopJobRequest(job_id=jid, requester_id=rid))
    assert stopped.status == "stopping"  # workforce could not be told yet

    async def is_stopped() -> bool:
        return (await get_job(stub, jid, rid)).status == "stopped"

    await eventually(is_stopped, what="reconciler closes the job")
    assert fake.closed.count(jid) == 1
    again = await stub.StopJob(jobs_pb2.StopJobRequest(job_id=jid, requester_id=rid))
    assert again.status == "stopped" and fake.closed.count(jid) == 1

    # A label that arrives after the stop is ignored. The sentinel shares its partition, so once the
    # sentinel is applied the late label has been consumed too.
    sentinel_rid, sentinel_team = await new_requester(stub, fake)
    sentinel = await stub.CreateJob(
        job_request(sentinel_rid, sentinel_team, "sentinel", manifest({"source": "s"}))
    )
    await publish(producer, jid, 0, label_event(jid, 0, "negative"), partition=0)
    await publish(producer, sentinel.job_id, 0, label_event(sentinel.job_id, 0, "negative"), partition=0)

    async def sentinel_done() -> bool:
        return (await get_job(stub, sentinel.job_id, sentinel_rid)).status == "completed"

    await eventually(sentinel_done, what="sentinel label")
    job = await get_job(stub, jid, rid)
    c = job.counters
    assert (job.status, c.human_labeled, c.failed, c.unlabeled) == ("stopped", 1, 0, 2)

    lines = [json.loads(line) for line in await output(stub, jid, rid)]
    assert [line["source"] for line in lines] == ["a", "b", "c"]
    assert lines[1]["to-stop"] == 2 and lines[1]["to-stop-metadata"]["confidence"] == 1.0
    for line in (lines[0], lines[2]):
        assert "to-stop" not in line
        assert line["to-stop-metadata"]["failure-reason"] == (
            "ClientError: Labeling job stopped before the object was labeled"
        )
        assert line["to-stop-metadata"]["job-name"] == "to-stop"


async def test_stopping_a_job_that_never_opened(
    stub: jobs_pb2_grpc.JobsServiceStub, fake: FakeWorkforce
) -> None:
    rid, team = await new_requester(stub, fake)
    fake.failures["OpenJob"] = 1_000_000  # workforce refuses to open anything for now
    try:
        job = await stub.CreateJob(job_request(rid, team, "never-opened", manifest({"source": "a"})))
        assert job.status == "initializing"
        stopped = await stub.StopJob(jobs_pb2.StopJobRequest(job_id=job.job_id, requester_id=rid))
        assert stopped.status == "stopped" and job.job_id in fake.closed
    finally:
        fake.failures["OpenJob"] = 0
    await asyncio.sleep(3 * RECONCILE_S)
    assert job.job_id not in fake.opened  # the reconciler no longer tries to open it
    lines = [json.loads(line) for line in await output(stub, job.job_id, rid)]
    assert lines == [{"source": "a", "never-opened-metadata": lines[0]["never-opened-metadata"]}]
    assert lines[0]["never-opened-metadata"]["failure-reason"].startswith("ClientError: Labeling job stopped")


async def test_replay_is_requested_for_complete_but_unlabeled_objects(
    stub: jobs_pb2_grpc.JobsServiceStub, fake: FakeWorkforce, producer: AIOKafkaProducer
) -> None:
    rid, team = await new_requester(stub, fake)
    job = await stub.CreateJob(
        job_request(
            rid,
            team,
            "lost-labels",
            manifest({"source": "a"}, {"source": "b"}, {"source": "c"}, {"source": "d"}),
        )
    )
    jid = job.job_id
    await publish(producer, jid, 0, label_event(jid, 0, "positive"))

    async def labeled() -> bool:
        return (await get_job(stub, jid, rid)).counters.human_labeled == 1

    await eventually(labeled, what="label 0")
    started = time.monotonic()
    fake.complete[jid] = [0, 1, 2]  # workforce has all answers for 0-2; labels of 1 and 2 were lost

    async def replayed() -> bool:
        return any(j == jid for j, _ in fake.replays)

    await eventually(replayed, what="ReplayAnswers")
    assert time.monotonic() - started >= REPLAY_AFTER_S
    assert [ids for j, ids in fake.replays if j == jid][0] == [1, 2]

    for oid in (1, 2):  # consolidation sees the replayed answers and publishes the labels again
        await publish(producer, jid, oid, label_event(jid, oid, "negative"))

    async def three_labeled() -> bool:
        return (await get_job(stub, jid, rid)).counters.human_labeled == 3

    await eventually(three_labeled, what="replayed labels")
    count = sum(1 for j, _ in fake.replays if j == jid)
    await asyncio.sleep(REPLAY_AFTER_S + 3 * RECONCILE_S)
    assert sum(1 for j, _ in fake.replays if j == jid) == count  # nothing left to replay


async def test_list_jobs_newest_first_with_pages(
    stub: jobs_pb2_grpc.JobsServiceStub, fake: FakeWorkforce
) -> None:
    rid, team = await new_requester(stub, fake)
    names = [f"page-job-{i}" for i in range(5)]
    for name in names:
        await stub.CreateJob(job_request(rid, team, name, manifest({"source": name})))
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        resp = await stub.ListJobs(jobs_pb2.ListJobsRequest(requester_id=rid, page_size=2, page_token=token))
        seen += [j.name for j in resp.jobs]
        pages += 1
        token = resp.next_page_token
        if not token:
            break
    assert seen == names[::-1] and pages == 3
    everything = await stub.ListJobs(jobs_pb2.ListJobsRequest(requester_id=rid))
    assert [j.name for j in everything.jobs] == names[::-1] and everything.next_page_token == ""
    err = await rpc_error(stub.ListJobs(jobs_pb2.ListJobsRequest(requester_id=rid, page_token="garbage!")))
    assert (
        err.code() == grpc.StatusCode.INVALID_ARGUMENT and reason_from_rpc_error(err) == "invalid_page_token"
    )


async def test_label_throughput(
    stub: jobs_pb2_grpc.JobsServiceStub, fake: FakeWorkforce, producer: AIOKafkaProducer
) -> None:
    n = 3000
    rid, team = await new_requester(stub, fake)
    data = manifest(*({"source": f"text number {i}", "i": i} for i in range(n)))
    job = await stub.CreateJob(job_request(rid, team, "bulk", data))
    jid = job.job_id
    assert len(fake.objects[jid]) == n and fake.put_calls[jid] > 1  # 1 KB batches in this test
    started = time.monotonic()
    futures = [
        await producer.send(LABELS_TOPIC, value=label_event(jid, i, "positive"), key=object_key(jid, i))
        for i in range(n)
    ]
    await asyncio.gather(*futures)

    async def completed() -> bool:
        return (await get_job(stub, jid, rid)).status == "completed"

    await eventually(completed, timeout_s=60, what="bulk completion")
    rate = n / (time.monotonic() - started)
    print(f"labels applied: {rate:.0f}/s")  # noqa: T201 - visible with -s
    assert rate > 200
    lines = await output(stub, jid, rid)
    assert len(lines) == n and json.loads(lines[-1])["i"] == n - 1

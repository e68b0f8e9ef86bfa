"""The workforce service in process, against real PostgreSQL, Redis and a Kafka-protocol broker, over gRPC."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis

from quorum.common.v1 import common_pb2
from quorum.events.v1 import events_pb2
from quorum.workforce.v1 import workforce_pb2 as pb
from quorum.workforce.v1 import workforce_pb2_grpc
from quorum_common.clock import now_ms
from quorum_common.db import make_engine, make_sessionmaker, run_migrations
from quorum_common.errors import reason_from_rpc_error
from quorum_common.events import ANSWERS_TOPIC, LABELS_TOPIC, envelope, object_key, parse_envelope
from quorum_common.grpc_server import GrpcService
from quorum_common.kafka import start_producer
from quorum_workforce import MIGRATIONS, SCHEMA
from quorum_workforce.adapters.dispatch import DispatchStore
from quorum_workforce.adapters.events import answer_submitted
from quorum_workforce.adapters.pgpool import RawPool
from quorum_workforce.adapters.repository import Repository
from quorum_workforce.core.models import Answer
from quorum_workforce.server import build_service
from quorum_workforce.settings import WorkforceSettings

Stub = workforce_pb2_grpc.WorkforceServiceStub
CATS = ["cat", "dog"]


def redis_db(url: str, db: int) -> str:
    """The session's Redis, in a database of our own (FLUSHDB there touches nobody else)."""
    return url.rsplit("/", 1)[0] + f"/{db}"


def settings_for(database_url: str, redis_url: str, kafka: str, **extra: object) -> WorkforceSettings:
    return WorkforceSettings(
        database_url=database_url,
        redis_url=redis_url,
        kafka_bootstrap_servers=kafka,
        grpc_port=0,
        grace_period_s=0.5,
        sweep_interval_s=0.2,
        log_json=False,
        **extra,  # type: ignore[arg-type]
    )


@dataclass
class Running:
    service: GrpcService
    channel: grpc.aio.Channel
    stub: Stub

    async def close(self) -> None:
        await self.channel.close()
        await asyncio.wait_for(self.service.stop(), 30)  # a hang in shutdown fails, not blocks, the suite


async def start(settings: WorkforceSettings) -> Running:
    service = await build_service(settings)
    await service.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}")
    return Running(service, channel, Stub(channel))


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    run_migrations(database_url, SCHEMA, MIGRATIONS)
    return database_url


@pytest.fixture(scope="module")
async def running(migrated: str, redis_url: str, kafka_bootstrap: str) -> AsyncIterator[Running]:
    r = await start(settings_for(migrated, redis_db(redis_url, 5), kafka_bootstrap))
    yield r
    await r.close()


@pytest.fixture
def stub(running: Running) -> Stub:
    return running.stub


def uid() -> str:
    return uuid.uuid4().hex


async def rpc_error(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    return err.value


@dataclass
class Job:
    owner: str
    team: str
    job_id: str
    workers: list[str]
    tokens: list[str]
    spec: pb.JobSpec | None = None  # as opened


async def make_job(
    stub: Stub,
    *,
    objects: int,
    n: int,
    workers: int,
    time_limit_s: int = 60,
    task_type: str = "image-classification",
    categories: list[str] | None = None,
) -> Job:
    owner = uid()
    team = (await stub.CreateTeam(pb.CreateTeamRequest(owner_id=owner, name="team"))).team_id
    ids, tokens = [], []
    for i in range(workers):
        created = await stub.CreateWorker(
            pb.CreateWorkerRequest(owner_id=owner, name=f"w{i}", team_ids=[team])
        )
        ids.append(created.worker.worker_id)
        tokens.append(created.token)
    job_id = uid()
    data = [common_pb2.DataObject(object_id=i, source_ref=f"s3://bucket/{i}.jpg") for i in range(objects)]
    # Two batches, one of them twice: PutJobObjects is idempotent.
    half = len(data) // 2
    await stub.PutJobObjects(pb.PutJobObjectsRequest(job_id=job_id, objects=data[:half]))
    await stub.PutJobObjects(pb.PutJobObjectsRequest(job_id=job_id, objects=data[:half]))
    await stub.PutJobObjects(pb.PutJobObjectsRequest(job_id=job_id, objects=data[half:]))
    spec = pb.JobSpec(
        job_id=job_id,
        owner_id=owner,
        team_id=team,
        name="pets",
        task_type=task_type,
        categories=CATS if categories is None else categories,
        workers_per_object=n,
        task_time_limit_s=time_limit_s,
        instructions="pick one",
        object_count=objects,
    )
    await stub.OpenJob(pb.OpenJobRequest(spec=spec))
    return Job(owner, team, job_id, ids, tokens, spec)


async def next_task(stub: Stub, worker: str, job_id: str = "") -> pb.Task | None:
    res = await stub.NextTask(pb.NextTaskRequest(worker_id=worker, job_id=job_id))
    return res.task if res.HasField("task") else None


async def submit(stub: Stub, worker: str, task: pb.Task, label: str = "cat") -> pb.SubmitAnswerResponse:
    return await stub.SubmitAnswer(
        pb.SubmitAnswerRequest(worker_id=worker, task_id=task.task_id, label=label)
    )


async def answers_of(stub: Stub, job_id: str, object_ids: list[int] | None = None) -> list[common_pb2.Answer]:
    return [
        a async for a in stub.ListAnswers(pb.ListAnswersRequest(job_id=job_id, object_ids=object_ids or []))
    ]


async def eventually(check, timeout_s: float = 10.0, interval_s: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(interval_s)


# ---- teams and workers -------------------------------------------------------------------------------------


async def test_teams_workers_and_tokens(stub: Stub) -> None:
    owner, other = uid(), uid()
    team = await stub.CreateTeam(pb.CreateTeamRequest(owner_id=owner, name="Annotators"))
    err = await rpc_error(stub.CreateTeam(pb.CreateTeamRequest(owner_id=owner, name="Annotators")))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS and reason_from_rpc_error(err) == "team_exists"
    await stub.CreateTeam(pb.CreateTeamRequest(owner_id=other, name="Annotators"))  # unique per owner only
    second = await stub.CreateTeam(pb.CreateTeamRequest(owner_id=owner, name="Reviewers"))
    teams = (await stub.ListTeams(pb.ListTeamsRequest(owner_id=owner))).teams
    assert [t.name for t in teams] == ["Annotators", "Reviewers"]

    other_team = (await stub.ListTeams(pb.ListTeamsRequest(owner_id=other))).teams[0]
    err = await rpc_error(
        stub.CreateWorker(pb.CreateWorkerRequest(owner_id=owner, name="x", team_ids=[other_team.team_id]))
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND and reason_from_rpc_error(err) == "team_not_found"

    created = await stub.CreateWorker(
        pb.CreateWorkerRequest(owner_id=owner, name="ann", team_ids=[team.team_id, second.team_id])
    )
    assert created.token.startswith("qw_")
    assert sorted(created.worker.team_ids) == sorted([team.team_id, second.team_id])
    await stub.CreateWorker(pb.CreateWorkerRequest(owner_id=owner, name="bob", team_ids=[second.team_id]))

    me = await stub.AuthenticateWorker(pb.AuthenticateWorkerRequest(token=created.token))
    assert me.worker_id == created.worker.worker_id and me.name == "ann"
    for bad in ("", "qw_nope", created.token[:-1] + ("A" if created.token[-1] != "A" else "B")):
        err = await rpc_error(stub.AuthenticateWorker(pb.AuthenticateWorkerRequest(token=bad)))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED and reason_from_rpc_error(err) == "invalid_token"

    everyone = (await stub.ListWorkers(pb.ListWorkersRequest(owner_id=owner))).workers
    assert [w.name for w in everyone] == ["ann", "bob"]
    first_team = (await stub.ListWorkers(pb.ListWorkersRequest(owner_id=owner, team_id=team.team_id))).workers
    assert [w.name for w in first_team] == ["ann"]
    assert all(w.answers == 0 for w in everyone)


# ---- dispatch ----------------------------------------------------------------------------------------------


async def test_each_object_gets_n_distinct_workers_and_no_more(stub: Stub) -> None:
    job = await make_job(stub, objects=5, n=3, workers=4)
    seen: dict[str, list[int]] = defaultdict(list)
    progress = True
    while progress:
        progress = False
        for w in job.workers:
            task = await next_task(stub, w, job.job_id)
            if task is None:
                continue
            progress = True
            assert task.job_id == job.job_id and task.task_type == "image-classification"
            assert (
                list(task.categories) == CATS and task.instructions == "pick one" and task.job_name == "pets"
            )
            assert task.source_ref == f"s3://bucket/{task.object_id}.jpg"
            assert task.time_limit_s == 60 and task.lease_expires_at_ms - task.accepted_at_ms == 60_000
            assert abs(task.accepted_at_ms - now_ms()) < 5_000
            seen[w].append(task.object_id)
            res = await submit(stub, w, task, "dog" if task.object_id % 2 else "cat")
            assert not res.duplicate
    for w, oids in seen.items():
        assert len(oids) == len(set(oids)), f"{w} got an object twice"
        assert oids == sorted(oids), "manifest order"
    answers = await answers_of(stub, job.job_id)
    per_object = defaultdict(set)
    for a in answers:
        per_object[a.object_id].add(a.worker_id)
    assert {o: len(ws) for o, ws in per_object.items()} == {o: 3 for o in range(5)}
    assert len(answers) == 15
    assert [a.object_id for a in answers] == sorted(a.object_id for a in answers)
    assert answers[0].payload_json == '{"label": "cat"}'
    for w in job.workers:
        assert await next_task(stub, w) is None
    progress_ = await stub.GetJobProgress(pb.GetJobProgressRequest(job_id=job.job_id))
    assert (progress_.answers, progress_.objects_complete, progress_.active_leases) == (15, 5, 0)
    assert list(progress_.complete_object_ids) == [0, 1, 2, 3, 4]
    some = await answers_of(stub, job.job_id, [1, 3])
    assert {a.object_id for a in some} == {1, 3} and len(some) == 6
    counts = {
        w.worker_id: w.answers
        for w in (await stub.ListWorkers(pb.ListWorkersRequest(owner_id=job.owner))).workers
    }
    assert sum(counts.values()) == 15 and all(c <= 5 for c in counts.values())


async def test_concurrent_workers_never_exceed_n(stub: Stub) -> None:
    job = await make_job(stub, objects=60, n=3, workers=12)
    latencies: list[float] = []

    async def work(worker: str) -> list[int]:
        got = []
        while True:
            started = time.perf_counter()
            task = await next_task(stub, worker)
            latencies.append(time.perf_counter() - started)
            if task is None:
                return got
            got.append(task.object_id)
            await submit(stub, worker, task)

    results = await asyncio.gather(*(work(w) for w in job.workers))
    for got in results:
        assert len(got) == len(set(got))
    answers = await answers_of(stub, job.job_id)
    assert len(answers) == 180
    assert Counter(a.object_id for a in answers) == {o: 3 for o in range(60)}
    assert len({(a.object_id, a.worker_id) for a in answers}) == 180
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"next_task p50={latencies[len(latencies) // 2] * 1000:.1f}ms p99={p99 * 1000:.1f}ms")  # noqa: T201


async def test_decline_removes_the_object_for_that_worker(stub: Stub) -> None:
    job = await make_job(stub, objects=2, n=1, workers=2)
    a, b = job.workers
    task = await next_task(stub, a)
    assert task is not None and task.object_id == 0
    err = await rpc_error(stub.DeclineTask(pb.DeclineTaskRequest(worker_id=b, task_id=task.task_id)))
    assert err.code() == grpc.StatusCode.NOT_FOUND and reason_from_rpc_error(err) == "task_not_found"
    await stub.DeclineTask(pb.DeclineTaskRequest(worker_id=a, task_id=task.task_id))
    await stub.DeclineTask(pb.DeclineTaskRequest(worker_id=a, task_id=task.task_id))  # idempotent
    err = await rpc_error(submit(stub, a, task))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and reason_from_rpc_error(err) == "task_declined"
    again = await next_task(stub, a)
    assert again is not None and again.object_id == 1
    await submit(stub, a, again)
    assert await next_task(stub, a) is None  # never object 0 again
    other = await next_task(stub, b)
    assert other is not None and other.object_id == 0  # a's decline did not count toward N
    err = await rpc_error(stub.DeclineTask(pb.DeclineTaskRequest(worker_id=b, task_id=uid())))
    assert err.code() == grpc.StatusCode.NOT_FOUND


async def test_expired_lease_goes_back_to_the_pool(stub: Stub) -> None:
    job = await make_job(stub, objects=3, n=1, workers=2, time_limit_s=1)
    a, b = job.workers
    held = await next_task(stub, a)
    assert held is not None and held.object_id == 0
    first, second = await next_task(stub, b), await next_task(stub, b)
    assert (first.object_id, second.object_id) == (1, 2)  # type: ignore[union-attr]
    await submit(stub, b, first)  # type: ignore[arg-type]
    await submit(stub, b, second)  # type: ignore[arg-type]
    assert await next_task(stub, b) is None
    progress = await stub.GetJobProgress(pb.GetJobProgressRequest(job_id=job.job_id))
    assert progress.active_leases == 1
    await asyncio.sleep(max(0.0, (held.lease_expires_at_ms - now_ms()) / 1000) + 0.05)
    err = await rpc_error(submit(stub, a, held))  # expired even before the sweeper ran
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and reason_from_rpc_error(err) == "lease_expired"
    assert "time limit" in (err.details() or "")
    # b's cursor is past object 0: it comes back through the reopened set (the Lua path).
    back = await eventually(lambda: next_task(stub, b))
    assert back is not None and back.object_id == 0
    err = await rpc_error(submit(stub, a, held))
    assert reason_from_rpc_error(err) == "lease_expired"
    assert not (await submit(stub, b, back)).duplicate
    progress = await stub.GetJobProgress(pb.GetJobProgressRequest(job_id=job.job_id))
    assert (progress.answers, progress.objects_complete, progress.active_leases) == (3, 3, 0)


async def test_submit_is_idempotent(stub: Stub) -> None:
    job = await make_job(stub, objects=1, n=2, workers=2)
    w = job.workers[0]
    task = await next_task(stub, w)
    assert task is not None
    first = await submit(stub, w, task)
    second = await submit(stub, w, task)
    third = await submit(stub, w, task, label="dog")
    assert not first.duplicate and second.duplicate and third.duplicate
    assert first.answer_id == second.answer_id == third.answer_id
    progress = await stub.GetJobProgress(pb.GetJobProgressRequest(job_id=job.job_id))
    assert (progress.answers, progress.objects_complete) == (1, 0)
    assert [a.label for a in await answers_of(stub, job.job_id)] == ["cat"]
    # Concurrent double submits of one task: one answer, both see the same id.
    other = await next_task(stub, job.workers[1])
    assert other is not None
    results = await asyncio.gather(*(submit(stub, job.workers[1], other) for _ in range(5)))
    assert len({r.answer_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    progress = await stub.GetJobProgress(pb.GetJobProgressRequest(job_id=job.job_id))
    assert (progress.answers, progress.objects_complete) == (2, 1)


async def test_foreign_or_unknown_task_is_not_found(stub: Stub) -> None:
    job = await make_job(stub, objects=2, n=1, workers=2)
    a, b = job.workers
    task = await next_task(stub, a)
    assert task is not None
    for worker, task_id in ((b, task.task_id), (a, uid())):
        err = await rpc_error(
            stub.SubmitAnswer(pb.SubmitAnswerRequest(worker_id=worker, task_id=task_id, label="cat"))
        )
        assert err.code() == grpc.StatusCode.NOT_FOUND and reason_from_rpc_error(err) == "task_not_found"
    await submit(stub, a, task)
    # Once answered, still not b's: no duplicate answer for a foreign worker either.
    err = await rpc_error(submit(stub, b, task))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await rpc_error(stub.NextTask(pb.NextTaskRequest(worker_id=uid())))
    assert err.code() == grpc.StatusCode.NOT_FOUND and reason_from_rpc_error(err) == "worker_not_found"


async def test_wrong_label_and_payload_are_invalid_argument(stub: Stub) -> None:
    job = await make_job(stub, objects=1, n=1, workers=1)
    w = job.workers[0]
    task = await next_task(stub, w)
    assert task is not None
    err = await rpc_error(submit(stub, w, task, label="bird"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and reason_from_rpc_error(err) == "invalid_label"
    assert "'cat'" in (err.details() or "") and "'dog'" in (err.details() or "")
    for payload, reason in (("{oops", "payload_invalid"), ('"' + "x" * 70_000 + '"', "payload_too_large")):
        err = await rpc_error(
            stub.SubmitAnswer(
                pb.SubmitAnswerRequest(worker_id=w, task_id=task.task_id, label="cat", payload_json=payload)
            )
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and reason_from_rpc_error(err) == reason
    # The lease survived the rejected attempts.
    ok = await stub.SubmitAnswer(
        pb.SubmitAnswerRequest(
            worker_id=w, task_id=task.task_id, label="dog", payload_json='{"label": "dog"}'
        )
    )
    assert not ok.duplicate
    assert [a.payload_json for a in await answers_of(stub, job.job_id)] == ['{"label": "dog"}']


async def test_job_validation(stub: Stub) -> None:
    job = await make_job(stub, objects=1, n=1, workers=1)
    base = dict(
        job_id=uid(),
        owner_id=job.owner,
        team_id=job.team,
        name="x",
        task_type="text-classification",
        categories=CATS,
        workers_per_object=1,
        task_time_limit_s=30,
    )
    for change in ({"workers_per_object": 11}, {"workers_per_object": 0}, {"task_time_limit_s": 0}):
        err = await rpc_error(stub.OpenJob(pb.OpenJobRequest(spec=pb.JobSpec(**{**base, **change}))))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await rpc_error(stub.OpenJob(pb.OpenJobRequest(spec=pb.JobSpec(**{**base, "owner_id": uid()}))))
    assert err.code() == grpc.StatusCode.NOT_FOUND and reason_from_rpc_error(err) == "team_not_found"
    err = await rpc_error(stub.CloseJob(pb.CloseJobRequest(job_id=uid())))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await rpc_error(stub.GetJobProgress(pb.GetJobProgressRequest(job_id=uid())))
    assert err.code() == grpc.StatusCode.NOT_FOUND


async def test_close_job_cancels_leases(stub: Stub) -> None:
    job = await make_job(stub, objects=3, n=1, workers=2)
    a, b = job.workers
    task = await next_task(stub, a)
    assert task is not None
    await stub.CloseJob(pb.CloseJobRequest(job_id=job.job_id))
    await stub.CloseJob(pb.CloseJobRequest(job_id=job.job_id))  # idempotent
    err = await rpc_error(submit(stub, a, task))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and reason_from_rpc_error(err) == "job_closed"
    assert await next_task(stub, b) is None
    assert await next_task(stub, b, job.job_id) is None
    progress = await stub.GetJobProgress(pb.GetJobProgressRequest(job_id=job.job_id))
    assert (progress.answers, progress.active_leases) == (0, 0)


async def test_objects_added_after_open_and_job_filter(stub: Stub) -> None:
    job = await make_job(stub, objects=2, n=1, workers=1)
    w = job.workers[0]
    for _ in range(2):
        task = await next_task(stub, w, job.job_id)
        assert task is not None
        await submit(stub, w, task)
    assert await next_task(stub, w, job.job_id) is None
    stored = await stub.PutJobObjects(
        pb.PutJobObjectsRequest(
            job_id=job.job_id, objects=[common_pb2.DataObject(object_id=7, source="hello")]
        )
    )
    assert stored.stored == 1
    late = await next_task(stub, w, job.job_id)
    assert late is not None and (late.object_id, late.source) == (7, "hello")
    # A job of another owner's team is not this worker's.
    other = await make_job(stub, objects=1, n=1, workers=1)
    err = await rpc_error(stub.NextTask(pb.NextTaskRequest(worker_id=w, job_id=other.job_id)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_oldest_job_first_across_jobs(stub: Stub) -> None:
    job = await make_job(stub, objects=1, n=1, workers=1)
    w = job.workers[0]
    newer = uid()
    await stub.PutJobObjects(
        pb.PutJobObjectsRequest(job_id=newer, objects=[common_pb2.DataObject(object_id=0)])
    )
    await stub.OpenJob(
        pb.OpenJobRequest(
            spec=pb.JobSpec(
                job_id=newer,
                owner_id=job.owner,
                team_id=job.team,
                name="newer",
                task_type="bounding-box",
                workers_per_object=1,
                task_time_limit_s=30,
            )
        )
    )
    await stub.OpenJob(
        pb.OpenJobRequest(
            spec=pb.JobSpec(  # OpenJob again: idempotent, keeps its place
                job_id=newer,
                owner_id=job.owner,
                team_id=job.team,
                name="newer",
                task_type="bounding-box",
                workers_per_object=1,
                task_time_limit_s=30,
            )
        )
    )
    first = await next_task(stub, w)
    second = await next_task(stub, w)
    assert (first.job_id, second.job_id) == (job.job_id, newer)  # type: ignore[union-attr]
    ok = await stub.SubmitAnswer(
        pb.SubmitAnswerRequest(
            worker_id=w,
            task_id=second.task_id,  # type: ignore[union-attr]
            payload_json='{"boxes": []}',
        )
    )
    assert not ok.duplicate


async def test_health_is_serving(running: Running) -> None:
    health = health_pb2_grpc.HealthStub(running.channel)

    async def serving() -> bool:
        res = await health.Check(health_pb2.HealthCheckRequest(service=""))
        return res.status == health_pb2.HealthCheckResponse.SERVING

    assert await eventually(serving)


# ---- durability and recovery -------------------------------------------------------------------------------


async def test_answers_and_dispatch_survive_a_restart(
    migrated: str, redis_url: str, kafka_bootstrap: str
) -> None:
    settings = settings_for(migrated, redis_db(redis_url, 5), kafka_bootstrap)
    first = await start(settings)
    job = await make_job(first.stub, objects=3, n=2, workers=2)
    a, b = job.workers
    t0 = await next_task(first.stub, a)
    answer = await submit(first.stub, a, t0)  # type: ignore[arg-type]
    await first.close()

    second = await start(settings)
    try:
        stored = await answers_of(second.stub, job.job_id)
        assert [(x.answer_id, x.object_id, x.worker_id) for x in stored] == [(answer.answer_id, 0, a)]
        again = await submit(second.stub, a, t0)  # type: ignore[arg-type]
        assert again.duplicate and again.answer_id == answer.answer_id
        nxt = await next_task(second.stub, a)
        assert nxt is not None and nxt.object_id == 1
        got_b = await next_task(second.stub, b)
        assert got_b is not None and got_b.object_id == 0
    finally:
        await second.close()


async def test_redis_flush_then_rebuild(migrated: str, redis_url: str, kafka_bootstrap: str) -> None:
    url = redis_db(redis_url, 6)
    r = await start(settings_for(migrated, url, kafka_bootstrap))
    redis = Redis.from_url(url)
    try:
        stub = r.stub
        job = await make_job(stub, objects=4, n=2, workers=3)
        a, b, c = job.workers
        # a answers 0 and 1, b answers 0 (object 0 complete), b declines 1, c holds 2.
        for _ in range(2):
            await submit(stub, a, await next_task(stub, a))  # type: ignore[arg-type]
        await submit(stub, b, await next_task(stub, b))  # type: ignore[arg-type]
        declined = await next_task(stub, b)
        assert declined is not None and declined.object_id == 1
        await stub.DeclineTask(pb.DeclineTaskRequest(worker_id=b, task_id=declined.task_id))
        held = await next_task(stub, c)
        assert held is not None and held.object_id == 1
        await redis.flushdb()

        # The sweeper notices that Redis lost its data and rebuilds every open job from PostgreSQL.
        got_a = await eventually(lambda: next_task(stub, a))
        assert got_a is not None and got_a.object_id == 2  # a answered 0 and 1
        got_b = await next_task(stub, b)
        assert got_b is not None and got_b.object_id == 2  # b answered 0 and declined 1
        got_c = await next_task(stub, c)
        assert got_c is not None and got_c.object_id == 1  # 0 is complete
        # The lease c held before the flush was lost with Redis: its submit is refused.
        err = await rpc_error(submit(stub, c, held))
        assert reason_from_rpc_error(err) == "task_not_found"

        # A rebuild keeps live leases counting: drop only the job's meta and open it again.
        await redis.delete(f"qw:j:{job.job_id}:m")
        spec = pb.JobSpec(
            job_id=job.job_id,
            owner_id=job.owner,
            team_id=job.team,
            name="pets",
            task_type="image-classification",
            categories=CATS,
            workers_per_object=2,
            task_time_limit_s=60,
        )
        await stub.OpenJob(pb.OpenJobRequest(spec=spec))
        assert (await next_task(stub, c, job.job_id)).object_id == 3  # type: ignore[union-attr]
        assert (await next_task(stub, a, job.job_id)).object_id == 3  # type: ignore[union-attr]
        assert await next_task(stub, b, job.job_id) is None  # 1 and 2 are taken by live leases
        for worker, task in ((a, got_a), (b, got_b), (c, got_c)):
            assert not (await submit(stub, worker, task)).duplicate
        progress = await stub.GetJobProgress(pb.GetJobProgressRequest(job_id=job.job_id))
        assert (progress.answers, progress.objects_complete, progress.active_leases) == (6, 3, 2)
    finally:
        await redis.aclose()
        await r.close()


async def test_sweeper_finalizes_a_lease_answered_before_a_crash(
    migrated: str, redis_url: str, kafka_bootstrap: str
) -> None:
    """Crash between the commit and the Redis update: the sweeper must count the answer, not release it."""
    r = await start(settings_for(migrated, redis_db(redis_url, 5), kafka_bootstrap))
    engine = make_engine(migrated, SCHEMA, pool_size=1)
    raw = RawPool(migrated, 1)
    try:
        job = await make_job(r.stub, objects=1, n=1, workers=2, time_limit_s=1)
        a, b = job.workers
        task = await next_task(r.stub, a)
        assert task is not None
        now = now_ms()
        answer = Answer(
            uid(), task.task_id, job.job_id, 0, a, "cat", '{"label": "cat"}', task.accepted_at_ms, now, 0.1
        )
        await Repository(make_sessionmaker(engine), raw).insert_answer(
            answer, answer_submitted(answer, "image-classification", CATS, 1)
        )
        await asyncio.sleep(max(0.0, (task.lease_expires_at_ms - now_ms()) / 1000) + 0.6)

        async def lease_gone() -> bool:
            p = await r.stub.GetJobProgress(pb.GetJobProgressRequest(job_id=job.job_id))
            return p.active_leases == 0

        assert await eventually(lease_gone)
        assert await next_task(r.stub, b) is None  # finalized, not released
        retry = await submit(r.stub, a, task)
        assert retry.duplicate and retry.answer_id == answer.answer_id
    finally:
        await raw.close()
        await engine.dispose()
        await r.close()


# ---- events ------------------------------------------------------------------------------------------------


async def consume_answers(bootstrap: str, job_id: str, want: int, timeout_s: float = 30.0) -> list:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    found = []
    try:
        deadline = time.monotonic() + timeout_s
        partitions = consumer.partitions_for_topic(ANSWERS_TOPIC)
        while not partitions and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            await consumer._client.force_metadata_update()  # noqa: SLF001
            partitions = consumer.partitions_for_topic(ANSWERS_TOPIC)
        tps = [TopicPartition(ANSWERS_TOPIC, p) for p in sorted(partitions or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while len(found) < want and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                for record in records:
                    try:
                        env = parse_envelope(record.value)
                    except DecodeError:  # other tests publish garbage on purpose: skip it, as consumers do
                        continue
                    if (
                        env.WhichOneof("payload") == "answer_submitted"
                        and env.answer_submitted.answer.job_id == job_id
                    ):
                        found.append((record.key, env))
    finally:
        await consumer.stop()
    return found


async def test_answers_are_published_and_replayed(stub: Stub, kafka_bootstrap: str) -> None:
    job = await make_job(stub, objects=2, n=1, workers=1, task_type="text-classification")
    w = job.workers[0]
    ids = []
    for _ in range(2):
        task = await next_task(stub, w)
        ids.append((await submit(stub, w, task, "dog")).answer_id)  # type: ignore[arg-type]
    events = await consume_answers(kafka_bootstrap, job.job_id, 2)
    assert len(events) == 2
    by_answer = {env.answer_submitted.answer.answer_id: (key, env) for key, env in events}
    assert set(by_answer) == set(ids)
    for key, env in by_answer.values():
        sub = env.answer_submitted
        assert key == object_key(job.job_id, sub.answer.object_id)
        assert (sub.task_type, list(sub.categories), sub.required_answers) == ("text-classification", CATS, 1)
        assert sub.team_id == job.team  # consolidation carries worker priors over within a team
        assert (sub.answer.worker_id, sub.answer.label, sub.answer.payload_json) == (
            w,
            "dog",
            '{"label": "dog"}',
        )
        assert sub.answer.submitted_at_ms >= sub.answer.accepted_at_ms > 0
    replayed = await stub.ReplayAnswers(pb.ReplayAnswersRequest(job_id=job.job_id, object_ids=[1]))
    assert replayed.republished == 1
    events = await consume_answers(kafka_bootstrap, job.job_id, 3)
    assert len(events) == 3
    assert len({env.event_id for _, env in events}) == 3  # fresh event ids
    assert Counter(env.answer_submitted.answer.object_id for _, env in events) == {0: 1, 1: 2}
    assert {env.answer_submitted.team_id for _, env in events} == {job.team}  # replays name it too


async def test_a_late_objects_model_label_goes_with_its_answer_events_and_never_to_workers(
    stub: Stub, kafka_bootstrap: str
) -> None:
    """An automated-labeling batch arrives after the job opened (and after answers told this workforce the job
    had no labelled objects): its model labels go on every answer event of their objects, replays included,
    and no task shows them."""
    job = await make_job(stub, objects=1, n=1, workers=1, task_type="text-classification")
    w = job.workers[0]
    first = await next_task(stub, w)
    assert first is not None
    await submit(stub, w, first, "dog")
    batch = [
        common_pb2.DataObject(object_id=5, source="a cat", model_label="cat"),
        common_pb2.DataObject(object_id=6, source="a random draw"),
    ]
    await stub.PutJobObjects(pb.PutJobObjectsRequest(job_id=job.job_id, objects=batch))
    assert "model_label" not in pb.Task.DESCRIPTOR.fields_by_name  # a task has no place for it
    for _ in range(2):
        task = await next_task(stub, w, job.job_id)
        assert task is not None
        await submit(stub, w, task, "dog")
    events = await consume_answers(kafka_bootstrap, job.job_id, 3)
    assert {env.answer_submitted.answer.object_id: env.answer_submitted.model_label for _, env in events} == {
        0: "",
        5: "cat",
        6: "",
    }
    await stub.ReplayAnswers(pb.ReplayAnswersRequest(job_id=job.job_id, object_ids=[5]))
    events = await consume_answers(kafka_bootstrap, job.job_id, 4)
    of_5 = [env.answer_submitted for _, env in events if env.answer_submitted.answer.object_id == 5]
    assert [sub.model_label for sub in of_5] == ["cat", "cat"]


# ---- adaptive redundancy ---------------------------------------------------------------------------------


async def publish_verdict(
    kafka_bootstrap: str, env: events_pb2.EventEnvelope, job_id: str, object_id: int
) -> None:
    """Publish one of consolidation's events about an object on the labels topic, keyed as it does."""
    producer = await start_producer(kafka_bootstrap)
    try:
        await producer.send_and_wait(LABELS_TOPIC, env.SerializeToString(), key=object_key(job_id, object_id))
    finally:
        await producer.stop()


async def label_and_wait_closed(kafka_bootstrap: str, redis: Redis, job_id: str, object_id: int) -> str:
    """Publish consolidation's label of the object and wait until workforce closed it (the key of the job's
    closed set in `redis`, returned)."""
    label = envelope(
        label_consolidated=events_pb2.LabelConsolidated(
            job_id=job_id, object_id=object_id, label="cat", method="adaptive-ds", answer_count=3
        )
    )
    await publish_verdict(kafka_bootstrap, label, job_id, object_id)
    closed_key = f"qw:j:{job_id}:closed"
    assert await eventually(lambda: redis.sismember(closed_key, str(object_id)), timeout_s=30)
    return closed_key


def adaptive_spec(job: Job, *, n: int, minimum: int, objects: int) -> pb.JobSpec:
    """`job` (text-classification) as an adaptive job: from `minimum` to `n` answers, target 0.9."""
    return pb.JobSpec(
        job_id=job.job_id,
        owner_id=job.owner,
        team_id=job.team,
        name="pets",
        task_type="text-classification",
        categories=CATS,
        workers_per_object=n,
        task_time_limit_s=60,
        object_count=objects,
        target_confidence=0.9,
        min_workers_per_object=minimum,
    )


async def test_objects_with_their_own_answer_count_take_that_many_workers_at_once_and_wait_for_all(
    stub: Stub, kafka_bootstrap: str
) -> None:
    """Adaptive job, min 1, max 3: an ordinary object takes one worker beyond the minimum at a time; objects
    put with required_answers (an automated-labeling loop's random draws) take that many workers at once, 3
    or 4 (more than the job's 3), and their answer events (replays too) tell consolidation to wait for all of
    them (required_answers = min_answers = their count)."""
    job = await make_job(stub, objects=1, n=3, workers=4, task_type="text-classification")
    draws = [
        common_pb2.DataObject(object_id=1, source="a random draw", required_answers=3),
        common_pb2.DataObject(object_id=2, source="another draw", required_answers=4),
    ]
    await stub.PutJobObjects(pb.PutJobObjectsRequest(job_id=job.job_id, objects=draws))
    await stub.OpenJob(pb.OpenJobRequest(spec=adaptive_spec(job, n=3, minimum=1, objects=3)))
    w0, w1, w2, w3 = job.workers
    tasks: list[tuple[str, pb.Task]] = []
    for w, want in ((w0, 0), (w1, 0), (w2, 1), (w0, 1), (w1, 1), (w3, 2), (w2, 2), (w0, 2), (w1, 2)):
        task = await next_task(stub, w, job.job_id)  # object 0's second taker is gated: no third at once
        assert task is not None and task.object_id == want, (w, want, task)
        tasks.append((w, task))
    assert await next_task(stub, w3, job.job_id) is None  # object 0 gated, 1 and 2 have all their takers
    for w, task in tasks:
        await submit(stub, w, task)
    events = await consume_answers(kafka_bootstrap, job.job_id, len(tasks))
    counts = {
        (
            e.answer_submitted.answer.object_id,
            e.answer_submitted.required_answers,
            e.answer_submitted.min_answers,
        )
        for _, e in events
    }
    assert counts == {(0, 3, 1), (1, 3, 3), (2, 4, 4)}
    progress = await stub.GetJobProgress(pb.GetJobProgressRequest(job_id=job.job_id))
    assert list(progress.complete_object_ids) == [1, 2]  # object 0 has 2 of its 3
    await stub.ReplayAnswers(pb.ReplayAnswersRequest(job_id=job.job_id, object_ids=[2]))
    events = await consume_answers(kafka_bootstrap, job.job_id, len(tasks) + 4)
    replayed = [e.answer_submitted for _, e in events if e.answer_submitted.answer.object_id == 2]
    assert {(a.required_answers, a.min_answers) for a in replayed} == {(4, 4)} and len(replayed) == 8


async def test_a_random_draw_with_its_own_early_stop_asks_for_more_answers_only_after_the_first_ones(
    stub: Stub, redis_url: str, kafka_bootstrap: str
) -> None:
    """A fixed job of 3 answers per object; object 1 put with required 5, min 3, target 0.975 (an automated-
    labeling loop's random draw): 3 workers at once, a 4th only once all three answered and consolidation
    had its moment to label it, one at a time; its label closes it, in this non-adaptive job too, also after
    a rebuild. Its answer events carry its own maximum, minimum and target; object 0's the job's."""
    job = await make_job(stub, objects=1, n=3, workers=5, task_type="text-classification")
    draw = common_pb2.DataObject(
        object_id=1, source="a random draw", required_answers=5, min_answers=3, target_confidence=0.975
    )
    await stub.PutJobObjects(pb.PutJobObjectsRequest(job_id=job.job_id, objects=[draw]))
    w0, w1, w2, w3, w4 = job.workers
    wait_s = 5.1  # the service's draw_verdict_wait_ms (5000 by default) and a margin
    tasks: list[tuple[str, pb.Task]] = []
    for w in (w0, w1, w2):
        for want in (0, 1):
            task = await next_task(stub, w, job.job_id)
            assert task is not None and task.object_id == want, (w, want, task)
            tasks.append((w, task))
    assert await next_task(stub, w3, job.job_id) is None  # three at once: the draw's answers are not all in
    for w, task in tasks:
        await submit(stub, w, task)
    assert await next_task(stub, w3, job.job_id) is None  # all in: consolidation's moment to label it
    await asyncio.sleep(wait_s)
    t3 = await next_task(stub, w3, job.job_id)  # no label came: one more worker
    assert t3 is not None and t3.object_id == 1
    assert await next_task(stub, w4, job.job_id) is None  # one at a time

    events = await consume_answers(kafka_bootstrap, job.job_id, len(tasks))
    carried = {
        (
            e.answer_submitted.answer.object_id,
            e.answer_submitted.required_answers,
            e.answer_submitted.min_answers,
            round(e.answer_submitted.target_confidence, 3),
        )
        for _, e in events
    }
    assert carried == {(0, 3, 0, 0.0), (1, 5, 3, 0.975)}

    redis = Redis.from_url(redis_db(redis_url, 5))
    try:
        closed_key = await label_and_wait_closed(kafka_bootstrap, redis, job.job_id, 1)
        assert not (await submit(stub, w3, t3)).duplicate  # the lease already out still answers
        await asyncio.sleep(wait_s)
        assert await next_task(stub, w4, job.job_id) is None  # 4 of at most 5, but labeled: closed
        # Rebuilt from PostgreSQL (the meta is gone, OpenJob again), the draw stays closed.
        await redis.delete(f"qw:j:{job.job_id}:m", closed_key)
        await stub.OpenJob(pb.OpenJobRequest(spec=job.spec))
        assert await redis.sismember(closed_key, "1")
        assert await next_task(stub, w4, job.job_id) is None
    finally:
        await redis.aclose()


async def test_consolidations_answers_wanted_sends_a_draws_next_worker_without_the_verdict_wait(
    stub: Stub, redis_url: str, kafka_bootstrap: str
) -> None:
    """A draw (required 5, min 3) with its three answers in waits for consolidation's verdict. A hint for
    another answer count than it has (stale) leaves the wait; AnswersWanted at 3, through Kafka, ends it, and
    the next worker gets the draw long before the 5-s wait would have passed; one at a time still, and the
    hint at 3 is stale once that worker answered."""
    job = await make_job(stub, objects=1, n=3, workers=5, task_type="text-classification")
    draw = common_pb2.DataObject(
        object_id=1, source="a random draw", required_answers=5, min_answers=3, target_confidence=0.975
    )
    await stub.PutJobObjects(pb.PutJobObjectsRequest(job_id=job.job_id, objects=[draw]))
    w0, w1, w2, w3, w4 = job.workers
    for w in (w0, w1, w2):
        for want in (0, 1):
            task = await next_task(stub, w, job.job_id)
            assert task is not None and task.object_id == want, (w, want, task)
            await submit(stub, w, task)
    answered_at = time.monotonic()
    wanted = envelope(answers_wanted=events_pb2.AnswersWanted(job_id=job.job_id, object_id=1, answer_count=3))

    redis = Redis.from_url(redis_db(redis_url, 5))
    dispatch = DispatchStore(redis)  # the service's prefix and Redis database
    hold_key = f"qw:j:{job.job_id}:hold"
    try:
        assert await redis.hexists(hold_key, "1")
        assert await dispatch.end_holds(job.job_id, {1: 2}) == 0  # stale: it has 3 answers
        assert await redis.hexists(hold_key, "1")
        assert await next_task(stub, w3, job.job_id) is None
        await publish_verdict(kafka_bootstrap, wanted, job.job_id, 1)
        assert await eventually(lambda: _not(redis.hexists(hold_key, "1")), timeout_s=4)
        t3 = await next_task(stub, w3, job.job_id)
        assert t3 is not None and t3.object_id == 1
        assert time.monotonic() - answered_at < 5.0  # the wait (draw_verdict_wait_ms) was not waited out
        assert await dispatch.end_holds(job.job_id, {1: 3}) == 0  # w3's lease is out: nothing to end
        assert await next_task(stub, w4, job.job_id) is None  # one at a time
        await submit(stub, w3, t3)
        assert await dispatch.end_holds(job.job_id, {1: 3}) == 0  # the hint at 3 is stale now (4 answers)
        assert await next_task(stub, w4, job.job_id) is None
        assert await dispatch.end_holds(job.job_id, {1: 4}) == 1
        t4 = await next_task(stub, w4, job.job_id)
        assert t4 is not None and t4.object_id == 1
    finally:
        await redis.aclose()


async def _not(check: Awaitable[Any]) -> bool:
    return not await check


@pytest.mark.parametrize(
    ("fields", "reason", "named"),
    [
        (
            {"required_answers": 3, "min_answers": 4, "target_confidence": 0.9},
            "min_answers_invalid",
            "between 1",
        ),
        ({"min_answers": 2, "target_confidence": 0.9}, "min_answers_invalid", "required_answers (0)"),
        ({"required_answers": 5, "min_answers": 3}, "target_confidence_invalid", "(0.5, 1)"),
        (
            {"required_answers": 5, "min_answers": 3, "target_confidence": 1.0},
            "target_confidence_invalid",
            "1.0",
        ),
    ],
)
async def test_an_early_stop_out_of_range_is_refused_naming_the_object(
    stub: Stub, fields: dict[str, float], reason: str, named: str
) -> None:
    job = await make_job(stub, objects=1, n=3, workers=1, task_type="text-classification")
    bad = common_pb2.DataObject(object_id=9, source="a draw", **fields)  # type: ignore[arg-type]
    err = await rpc_error(stub.PutJobObjects(pb.PutJobObjectsRequest(job_id=job.job_id, objects=[bad])))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and reason_from_rpc_error(err) == reason
    assert "object 9" in (err.details() or "") and named in (err.details() or "")


async def test_an_answer_count_out_of_range_is_refused_naming_the_object_and_stores_nothing(
    stub: Stub,
) -> None:
    job = await make_job(stub, objects=1, n=3, workers=1, task_type="text-classification")
    objects = [
        common_pb2.DataObject(object_id=7, source="fine", required_answers=2),
        common_pb2.DataObject(object_id=8, source="too many", required_answers=11),
    ]
    err = await rpc_error(stub.PutJobObjects(pb.PutJobObjectsRequest(job_id=job.job_id, objects=objects)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_from_rpc_error(err) == "required_answers_invalid"
    assert "object 8" in (err.details() or "") and "between 1 and 10" in (err.details() or "")
    seen = [await next_task(stub, job.workers[0], job.job_id) for _ in range(2)]
    assert [t.object_id for t in seen if t is not None] == [0]  # object 7 was not stored either


async def test_a_label_stops_dispatch_of_an_adaptive_jobs_object(
    stub: Stub, migrated: str, redis_url: str, kafka_bootstrap: str
) -> None:
    """min 2, max 4: an object takes two workers at once, then one at a time; its LabelConsolidated closes
    it (a lease already out may still answer), and it stays closed after a rebuild from PostgreSQL."""
    job = await make_job(stub, objects=2, n=4, workers=5, task_type="text-classification")
    spec = adaptive_spec(job, n=4, minimum=2, objects=2)
    await stub.OpenJob(pb.OpenJobRequest(spec=spec))  # the same job, now adaptive
    w0, w1, w2, w3, w4 = job.workers
    wait_s = 2.1  # the service's adaptive_verdict_wait_ms (2000 by default) and a margin
    t0, t1 = await next_task(stub, w0, job.job_id), await next_task(stub, w1, job.job_id)
    assert t0 is not None and t1 is not None and t0.object_id == t1.object_id == 0  # two at once (min 2)
    await submit(stub, w0, t0)
    await submit(stub, w1, t1)
    t2 = await next_task(stub, w2, job.job_id)  # object 0 waits a moment for its label
    assert t2 is not None and t2.object_id == 1
    await asyncio.sleep(wait_s)
    t3 = await next_task(stub, w3, job.job_id)  # no label came: object 0 takes one more worker
    assert t3 is not None and t3.object_id == 0
    t4 = await next_task(stub, w4, job.job_id)  # beyond the minimum, one worker at a time
    assert t4 is not None and t4.object_id == 1

    redis = Redis.from_url(redis_db(redis_url, 5))
    try:
        closed_key = await label_and_wait_closed(kafka_bootstrap, redis, job.job_id, 0)
        # The lease already out still answers; the answer is stored and counted.
        assert not (await submit(stub, w3, t3)).duplicate
        assert len(await answers_of(stub, job.job_id, [0])) == 3
        # Object 0 has 3 answers of at most 4, but it is closed: w2 (holding object 1) gets nothing.
        await asyncio.sleep(wait_s)
        assert await next_task(stub, w2, job.job_id) is None

        # Rebuilt from PostgreSQL (the meta is gone, OpenJob again), object 0 stays closed.
        await redis.delete(f"qw:j:{job.job_id}:m", closed_key)
        await stub.OpenJob(pb.OpenJobRequest(spec=spec))
        assert await redis.sismember(closed_key, "0")
        assert await next_task(stub, w2, job.job_id) is None
    finally:
        await redis.aclose()

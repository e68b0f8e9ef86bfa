"""The consolidation service in-process against the real PostgreSQL and Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import grpc
import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from quorum.common.v1 import common_pb2
from quorum.consolidation.v1 import consolidation_pb2, consolidation_pb2_grpc
from quorum.events.v1 import events_pb2
from quorum_common.db import make_engine, run_migrations
from quorum_common.errors import reason_from_rpc_error
from quorum_common.events import ANSWERS_TOPIC, LABELS_TOPIC, envelope, object_key, parse_envelope
from quorum_common.grpc_server import GrpcService
from quorum_common.kafka import ensure_topics, start_producer
from quorum_consolidation import MIGRATIONS, SCHEMA
from quorum_consolidation.adapters.answer_consumer import CONSUMER_NAME
from quorum_consolidation.adapters.tables import (
    answers,
    consumer_offsets,
    job_teams,
    object_state,
    outbox,
    worker_skills,
)
from quorum_consolidation.core.adaptive import MIN_OVERLAP_OBJECTS
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.auto import AutoDawidSkene
from quorum_consolidation.core.majority_vote import MajorityVote
from quorum_consolidation.server import build_service
from quorum_consolidation.settings import ConsolidationSettings

CATS = ["cat", "dog", "bird"]
WAIT_S = 30.0


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class LabelWatcher:
    """Every LabelConsolidated event on the labels topic, read from its beginning."""

    bootstrap: str
    events: list[events_pb2.EventEnvelope] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
        )
        await consumer.start()
        await consumer.topics()  # loads metadata for every topic (the labels topic exists by now)
        partitions = consumer.partitions_for_topic(LABELS_TOPIC) or set()
        assert partitions, "labels topic has no partitions"
        consumer.assign([TopicPartition(LABELS_TOPIC, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()

        async def loop() -> None:
            try:
                while True:
                    batches = await consumer.getmany(timeout_ms=100)
                    self.events.extend(parse_envelope(r.value) for rs in batches.values() for r in rs)
            finally:
                await consumer.stop()

        self._task = asyncio.create_task(loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def of(self, job_id: str, object_id: int | None = None) -> list[events_pb2.EventEnvelope]:
        return [
            e
            for e in self.events
            if e.label_consolidated.job_id == job_id
            and (object_id is None or e.label_consolidated.object_id == object_id)
        ]

    async def wait(self, job_id: str, object_id: int, count: int = 1) -> list[events_pb2.LabelConsolidated]:
        async def seen() -> bool:
            return len(self.of(job_id, object_id)) >= count

        await eventually(seen, f"{count} label event(s) for {job_id}:{object_id}")
        return [e.label_consolidated for e in self.of(job_id, object_id)]

    def wanted(self, job_id: str, object_id: int) -> list[int]:
        """The answer counts of the AnswersWanted events of one object, in order."""
        return [
            e.answers_wanted.answer_count
            for e in self.events
            if e.WhichOneof("payload") == "answers_wanted"
            and (e.answers_wanted.job_id, e.answers_wanted.object_id) == (job_id, object_id)
        ]


@pytest.fixture(scope="module")
def migrated_url(database_url: str) -> str:
    run_migrations(database_url, SCHEMA, MIGRATIONS)
    run_migrations(database_url, SCHEMA, MIGRATIONS)  # idempotent
    return database_url


@pytest.fixture(scope="module")
async def db(migrated_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(migrated_url, SCHEMA, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    await ensure_topics(kafka_bootstrap, [ANSWERS_TOPIC, LABELS_TOPIC])
    p = await start_producer(kafka_bootstrap)
    yield p
    await p.stop()


@pytest.fixture(scope="module")
async def labels(kafka_bootstrap: str, producer: AIOKafkaProducer) -> AsyncIterator[LabelWatcher]:
    watcher = LabelWatcher(kafka_bootstrap)
    await watcher.start()
    yield watcher
    await watcher.stop()


@pytest.fixture
def settings(migrated_url: str, kafka_bootstrap: str) -> ConsolidationSettings:
    return ConsolidationSettings(
        database_url=migrated_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        grpc_port=0,
        grace_period_s=0.2,
        log_json=False,
    )


@asynccontextmanager
async def running(settings: ConsolidationSettings) -> AsyncIterator[GrpcService]:
    service = await build_service(settings)
    # Python 3.11's asyncio.wait_for swallows a cancel that lands as the awaited call completes, so
    # GrpcService.stop() can wait forever on the readiness loop if it stops mid-ping (tests stop services
    # within milliseconds). Until quorum_common's loop uses asyncio.timeout, park pings once we stop.
    ping, stopping = service.readiness, asyncio.Event()
    assert ping is not None

    async def readiness() -> bool:
        ok = await ping()
        if stopping.is_set():
            await asyncio.Event().wait()  # never returns: the cancel then reaches the readiness loop
        return ok

    service.readiness = readiness
    await service.start()
    try:
        yield service
    finally:
        stopping.set()
        await asyncio.sleep(0.01)  # let a ping that already finished be consumed before the cancel
        await service.stop()


@pytest.fixture
async def service(settings: ConsolidationSettings, labels: LabelWatcher) -> AsyncIterator[GrpcService]:
    async with running(settings) as svc:
        yield svc


@pytest.fixture
async def stub(service: GrpcService) -> AsyncIterator[consolidation_pb2_grpc.ConsolidationServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}") as channel:
        yield consolidation_pb2_grpc.ConsolidationServiceStub(channel)


def new_job() -> str:
    return uuid.uuid4().hex


def answer_event(
    job_id: str,
    object_id: int,
    worker_id: str,
    label: str,
    *,
    required: int = 3,
    answer_id: str | None = None,
    submitted_at_ms: int = 0,
    min_answers: int = 0,
    target_confidence: float = 0.0,
    team_id: str = "",
    model_label: str = "",
) -> events_pb2.EventEnvelope:
    answer = common_pb2.Answer(
        answer_id=answer_id or uuid.uuid4().hex,
        job_id=job_id,
        object_id=object_id,
        worker_id=worker_id,
        label=label,
        submitted_at_ms=submitted_at_ms,
    )
    return envelope(
        answer_submitted=events_pb2.AnswerSubmitted(
            answer=answer,
            task_type="text-classification",
            categories=CATS,
            required_answers=required,
            min_answers=min_answers,
            target_confidence=target_confidence,
            team_id=team_id,
            model_label=model_label,
        )
    )


async def publish(
    producer: AIOKafkaProducer,
    env: events_pb2.EventEnvelope | bytes,
    *,
    key: bytes | None = None,
    partition: int | None = None,
) -> RecordMetadata:
    if isinstance(env, events_pb2.EventEnvelope):
        a = env.answer_submitted.answer
        key = object_key(a.job_id, a.object_id)
        value = env.SerializeToString()
    else:
        value = env
    return await producer.send_and_wait(ANSWERS_TOPIC, value=value, key=key, partition=partition)


async def wait_consumed(db: AsyncEngine, meta: RecordMetadata) -> None:
    """Until the service's consumer has committed past this record (its effects are then visible)."""

    async def done() -> bool:
        t = consumer_offsets
        async with db.connect() as conn:
            offset = await conn.scalar(
                select(t.c.next_offset).where(
                    t.c.consumer == CONSUMER_NAME, t.c.topic == ANSWERS_TOPIC, t.c.partition == meta.partition
                )
            )
        return offset is not None and offset > meta.offset

    await eventually(done, f"the consumer to pass offset {meta.offset} of partition {meta.partition}")


async def count(db: AsyncEngine, stmt: object) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(stmt))  # type: ignore[arg-type]


async def outbox_rows(db: AsyncEngine, job_id: str, object_id: int) -> int:
    return await count(
        db, select(func.count()).select_from(outbox).where(outbox.c.key == object_key(job_id, object_id))
    )


async def stored_answers(db: AsyncEngine, job_id: str) -> int:
    return await count(db, select(func.count()).select_from(answers).where(answers.c.job_id == job_id))


# --- the answer stream ------------------------------------------------------------------------------------


async def test_health_is_serving(service: GrpcService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)

        async def serving() -> bool:
            reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
            return reply.status == health_pb2.HealthCheckResponse.SERVING

        await eventually(serving, "SERVING")


async def test_label_appears_when_the_object_reaches_its_required_answers(
    service: GrpcService,
    producer: AIOKafkaProducer,
    labels: LabelWatcher,
    db: AsyncEngine,
    stub: consolidation_pb2_grpc.ConsolidationServiceStub,
) -> None:
    job = new_job()
    await publish(producer, answer_event(job, 0, "w1", "cat", submitted_at_ms=1))
    meta = await publish(producer, answer_event(job, 0, "w2", "dog", submitted_at_ms=2))
    await wait_consumed(db, meta)
    assert await stored_answers(db, job) == 2
    assert await outbox_rows(db, job, 0) == 0, "labeled before reaching 3 answers"
    assert labels.of(job) == []

    await publish(producer, answer_event(job, 0, "w3", "cat", submitted_at_ms=3))
    [label] = await labels.wait(job, 0)
    assert (label.label, label.class_index, label.answer_count, label.method) == ("cat", 0, 3, "mv")
    assert list(label.worker_ids) == ["w1", "w2", "w3"]
    # The service's confidence is the core's majority-vote posterior for the same answers.
    expected = MajorityVote().fit(
        Answers.from_triples([(0, "w1", "cat"), (0, "w2", "dog"), (0, "w3", "cat")], CATS)
    )
    assert label.confidence == pytest.approx(float(expected.confidences()[0]))
    assert label.consolidated_at_ms > 0

    listed = await stub.ListJobLabels(consolidation_pb2.ListJobLabelsRequest(job_id=job))
    [row] = listed.labels
    assert (row.job_id, row.object_id, row.label, row.answer_count) == (job, 0, "cat", 3)
    assert row.confidence == pytest.approx(label.confidence)
    assert row.consolidated_at_ms == label.consolidated_at_ms and list(row.worker_ids) == ["w1", "w2", "w3"]


async def test_single_answer_objects_and_undecodable_records(
    service: GrpcService,
    producer: AIOKafkaProducer,
    labels: LabelWatcher,
    db: AsyncEngine,
) -> None:
    job = new_job()
    first = await publish(producer, b"\xff\xfe not a protobuf", key=object_key(job, 0))
    same = first.partition
    await publish(producer, answer_event(job, 0, "w1", "cow", required=1), partition=same)  # not a category
    await publish(producer, answer_event(job, 0, "w1", "bird", required=1), partition=same)
    [label] = await labels.wait(job, 0)
    assert (label.label, label.answer_count) == ("bird", 1)
    assert label.confidence == pytest.approx(MajorityVote().prior_accuracy)  # a lone answer: the prior
    assert await stored_answers(db, job) == 1


async def test_duplicate_answer_events_do_not_double_count(
    service: GrpcService,
    producer: AIOKafkaProducer,
    labels: LabelWatcher,
    db: AsyncEngine,
) -> None:
    job = new_job()
    await publish(producer, answer_event(job, 5, "w1", "cat"))
    dog = answer_event(job, 5, "w2", "dog")
    for _ in range(3):  # the same answer redelivered, each time in a new envelope
        again = events_pb2.EventEnvelope()
        again.CopyFrom(dog)
        again.event_id = uuid.uuid4().hex
        await publish(producer, again)
    meta = await publish(producer, answer_event(job, 5, "w2", "dog"))  # same worker, a new answer id
    await wait_consumed(db, meta)
    assert await stored_answers(db, job) == 2
    assert await outbox_rows(db, job, 5) == 0

    await publish(producer, answer_event(job, 5, "w3", "dog"))
    [label] = await labels.wait(job, 5)
    assert (label.label, label.answer_count) == ("dog", 3)


async def test_replayed_answer_for_a_labeled_object_republishes_its_label(
    service: GrpcService,
    producer: AIOKafkaProducer,
    labels: LabelWatcher,
    db: AsyncEngine,
) -> None:
    job = new_job()
    first = answer_event(job, 1, "w1", "dog", required=2)
    await publish(producer, first)
    await publish(producer, answer_event(job, 1, "w2", "dog", required=2))
    [original] = await labels.wait(job, 1)

    await publish(producer, first)  # e.g. the broker lost its log and workforce's relay sent it again
    await labels.wait(job, 1, count=2)
    events = labels.of(job, 1)
    assert len({e.event_id for e in events}) == 2
    again = events[1].label_consolidated
    assert again == original  # same label, confidence, workers and time: a republish, not a recount
    assert await stored_answers(db, job) == 2


async def test_a_burst_of_answers_labels_every_object_once(
    service: GrpcService,
    producer: AIOKafkaProducer,
    labels: LabelWatcher,
    db: AsyncEngine,
) -> None:
    job, n_objects = new_job(), 150
    expected = {o: CATS[o % 3] for o in range(n_objects)}
    pending = []
    for w, worker in enumerate(["w1", "w2", "w3"]):  # worker-major order: objects complete late in the burst
        for o in range(n_objects):
            label = expected[o] if w != o % 3 else CATS[(o + 1) % 3]  # a 2-1 majority, dissent rotates
            env = answer_event(job, o, worker, label)
            a = env.answer_submitted.answer
            pending.append(
                await producer.send(
                    ANSWERS_TOPIC, env.SerializeToString(), key=object_key(a.job_id, a.object_id)
                )
            )
    await asyncio.gather(*pending)

    async def all_labeled() -> bool:
        return len({e.label_consolidated.object_id for e in labels.of(job)}) == n_objects

    await eventually(all_labeled, f"labels for all {n_objects} objects")
    got = [e.label_consolidated for e in labels.of(job)]
    assert len(got) == n_objects, "an object was labeled twice"
    assert {g.object_id: g.label for g in got} == expected
    assert {g.answer_count for g in got} == {3}
    assert await stored_answers(db, job) == 3 * n_objects


async def test_streaming_labels_follow_the_job_worker_model(
    settings: ConsolidationSettings,
    producer: AIOKafkaProducer,
    labels: LabelWatcher,
    db: AsyncEngine,
) -> None:
    """'good' is always right; 'bad1' and 'bad2' independently give the next class 35% of the time. Once the
    job's Dawid-Skene model has seen enough objects, a 2-1 split against 'good' follows 'good'."""
    async with running(settings.model_copy(update={"streaming_method": "ds"})):
        job, n_objects = new_job(), 120
        rng = np.random.default_rng(7)
        pending = []
        for o in range(n_objects):
            t = int(rng.integers(3))
            for worker in ("good", "bad1", "bad2"):
                label = CATS[t] if worker == "good" or rng.random() >= 0.35 else CATS[(t + 1) % 3]
                env = answer_event(job, o, worker, label)
                pending.append(
                    await producer.send(ANSWERS_TOPIC, env.SerializeToString(), key=object_key(job, o))
                )
        await asyncio.gather(*pending)

        async def all_labeled() -> bool:
            return len({e.label_consolidated.object_id for e in labels.of(job)}) == n_objects

        await eventually(all_labeled, f"labels for all {n_objects} objects")
        assert {e.label_consolidated.method for e in labels.of(job)} == {"ds"}

        split = [(n_objects, "good", "cat"), (n_objects, "bad1", "dog"), (n_objects, "bad2", "dog")]
        for o, w, label in split:
            await publish(producer, answer_event(job, o, w, label))
        [label] = await labels.wait(job, n_objects)
        assert (label.label, label.method, label.answer_count) == ("cat", "ds", 3)
        assert label.confidence > 0.5
        assert MajorityVote().fit(Answers.from_triples(split, CATS)).labels_.tolist() == [CATS.index("dog")]


async def test_early_labels_are_revised_until_they_match_a_batch_fit_of_the_job(
    settings: ConsolidationSettings,
    producer: AIOKafkaProducer,
    labels: LabelWatcher,
) -> None:
    """Objects labeled while the job is small get majority vote's label (the one-coin model), which follows
    the two unreliable workers when they agree. Once the job's model has seen enough, it revises those labels
    (new revisions on the labels topic), and the job ends with the labels of `AutoDawidSkene` fitted on all
    of its answers: the streamed result is the batch result."""
    quick = {"refit_max_age_s": 0.3, "revise_interval_s": 0.2}
    async with running(settings.model_copy(update=quick)) as service:
        job, n_objects = new_job(), 150
        rng = np.random.default_rng(11)
        triples = []
        for o in range(n_objects):
            t = int(rng.integers(3))
            for worker in ("good", "bad1", "bad2"):
                label = CATS[t] if worker == "good" or rng.random() >= 0.4 else CATS[(t + 1) % 3]
                triples.append((o, worker, label))
        for o, worker, label in triples:  # in order: the first objects are labeled from a tiny job
            await publish(producer, answer_event(job, o, worker, label))
        batch = AutoDawidSkene().fit(Answers.from_triples(triples, CATS))
        assert batch.labels_ is not None
        expected = {o: CATS[c] for o, c in enumerate(batch.labels_.tolist())}

        def latest() -> dict[int, events_pb2.LabelConsolidated]:
            out: dict[int, events_pb2.LabelConsolidated] = {}
            for e in labels.of(job):
                lab = e.label_consolidated
                if lab.object_id not in out or lab.revision > out[lab.object_id].revision:
                    out[lab.object_id] = lab
            return out

        async def batch_labels_reached() -> bool:
            now = latest()
            return len(now) == n_objects and all(now[o].label == expected[o] for o in range(n_objects))

        await eventually(batch_labels_reached, "the batch fit's labels on every object", timeout_s=60)
        revised = [lab for lab in latest().values() if lab.revision > 0]
        first = {e.label_consolidated.object_id: e.label_consolidated for e in reversed(labels.of(job))}
        changed = [o for o, lab in first.items() if lab.revision == 0 and lab.label != expected[o]]
        assert changed, "no early label differed from the batch fit: the test shows nothing"
        assert revised and {lab.object_id for lab in revised} >= set(changed)
        assert {lab.method for lab in revised} <= {"auto", "mv"}
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}") as channel:
            stub = consolidation_pb2_grpc.ConsolidationServiceStub(channel)
            listed = await stub.ListJobLabels(consolidation_pb2.ListJobLabelsRequest(job_id=job))
        assert {lab.object_id: lab.label for lab in listed.labels} == expected


async def test_a_teams_next_job_starts_from_what_its_earlier_job_learned_about_the_workers(
    settings: ConsolidationSettings,
    producer: AIOKafkaProducer,
    labels: LabelWatcher,
    db: AsyncEngine,
) -> None:
    """Job 1 of a team: 'g1' and 'g2' always right, 'adv' always answers the next class; its worker model's
    estimates are stored per (team, worker, job). Job 2 of the same team is tiny (its own model is one-coin,
    i.e. majority vote): 'adv' and a newcomer say dog, 'g1' says cat. Starting from job 1's estimates, 'adv'
    saying dog means cat and 'g1' is trusted: cat. The same answers in a job of another team, or with
    team_priors off, follow the majority: dog."""
    team, other_team = f"team-{new_job()}", f"team-{new_job()}"
    quick = {"refit_max_age_s": 0.3, "revise_interval_s": 0.2}
    async with running(settings.model_copy(update=quick)):
        job1, n_objects = new_job(), 40
        rng = np.random.default_rng(5)
        pending = []
        for o in range(n_objects):
            t = int(rng.integers(3))
            for worker, label in (("g1", CATS[t]), ("g2", CATS[t]), ("adv", CATS[(t + 1) % 3])):
                env = answer_event(job1, o, worker, label, team_id=team)
                pending.append(
                    await producer.send(ANSWERS_TOPIC, env.SerializeToString(), key=object_key(job1, o))
                )
        await asyncio.gather(*pending)

        async def skills() -> dict[str, tuple[int, float]]:
            w = worker_skills
            async with db.connect() as conn:
                rows = await conn.execute(
                    select(w.c.worker_id, w.c.n_answers, w.c.correct).where(
                        w.c.team_id == team, w.c.job_id == job1
                    )
                )
                return {worker: (n, correct) for worker, n, correct in rows}

        async def job1_fitted_on_all() -> bool:
            found = await skills()
            return set(found) == {"g1", "g2", "adv"} and all(n == n_objects for n, _ in found.values())

        await eventually(job1_fitted_on_all, "job 1's worker estimates from all its answers")
        learned = await skills()
        assert learned["adv"][1] < 0.1 * n_objects < 0.9 * n_objects < learned["g1"][1]
        async with db.connect() as conn:
            assert await conn.scalar(select(job_teams.c.team_id).where(job_teams.c.job_id == job1)) == team

        tiny = (("adv", "dog"), ("new", "dog"), ("g1", "cat"))
        job2, job3 = new_job(), new_job()
        for job, job_team in ((job2, team), (job3, other_team)):
            for worker, label in tiny:
                await publish(producer, answer_event(job, 0, worker, label, team_id=job_team))
        [with_prior] = await labels.wait(job2, 0)
        [other] = await labels.wait(job3, 0)
        assert (with_prior.label, other.label) == ("cat", "dog")
        assert with_prior.confidence > 0.7 and with_prior.answer_count == 3

    async with running(settings.model_copy(update={**quick, "team_priors": False})):
        job4 = new_job()
        for worker, label in tiny:
            await publish(producer, answer_event(job4, 0, worker, label, team_id=team))
        [off] = await labels.wait(job4, 0)
        assert off.label == "dog"


async def test_the_automated_labeling_model_is_one_more_learned_annotator_and_never_a_human_answer(
    settings: ConsolidationSettings,
    producer: AIOKafkaProducer,
    labels: LabelWatcher,
    db: AsyncEngine,
) -> None:
    """Objects of an automated-labeling job carry the model's predicted class on their answer events: it is
    stored once per object as an answer of the pseudo-worker 'quorum-model' whose reliability the job's worker
    model learns (right 90 % of the time here, the humans 75 %), so it breaks a 1-1 tie between two humans.
    It never counts as a human answer: not towards required answers, not in answer_count or worker_ids, and
    no team prior is stored for it."""
    team = f"team-{new_job()}"
    quick = {"refit_max_age_s": 0.3, "revise_interval_s": 0.2}
    async with running(settings.model_copy(update=quick)) as svc:
        job, n_objects = new_job(), 60
        rng = np.random.default_rng(11)
        pairs = (("w1", "w2"), ("w2", "w3"), ("w3", "w1"))
        first_event: events_pb2.EventEnvelope | None = None
        pending = []
        for o in range(n_objects):
            t = int(rng.integers(3))
            model = CATS[t] if o % 10 != 9 else CATS[(t + 1) % 3]
            for worker in pairs[o % 3]:
                said = t if rng.random() < 0.75 else (t + 1 + int(rng.integers(2))) % 3
                env = answer_event(job, o, worker, CATS[said], required=2, team_id=team, model_label=model)
                first_event = first_event or env
                pending.append(
                    await producer.send(ANSWERS_TOPIC, env.SerializeToString(), key=object_key(job, o))
                )
        await asyncio.gather(*pending)

        async def all_labeled() -> bool:
            return len({e.label_consolidated.object_id for e in labels.of(job)}) == n_objects

        await eventually(all_labeled, f"labels for all {n_objects} objects")
        for e in labels.of(job):
            lab = e.label_consolidated
            assert lab.answer_count == 2 and "quorum-model" not in lab.worker_ids, lab
            assert sorted(lab.worker_ids) == sorted(pairs[lab.object_id % 3])

        async def model_answers() -> int:
            a = answers
            return await count(
                db,
                select(func.count()).select_from(a).where(a.c.job_id == job, a.c.worker_id == "quorum-model"),
            )

        assert await model_answers() == n_objects and await stored_answers(db, job) == 3 * n_objects
        async with db.connect() as conn:
            stored = await conn.scalar(
                select(object_state.c.model_label).where(
                    object_state.c.job_id == job, object_state.c.object_id == 0
                )
            )
        assert stored and stored in CATS
        # The same event again, twice (a replay), and another worker's answer to object 0: one model answer.
        assert first_event is not None
        for _ in range(2):
            again = events_pb2.EventEnvelope()
            again.CopyFrom(first_event)
            again.event_id = uuid.uuid4().hex
            await publish(producer, again)
        meta = await publish(
            producer, answer_event(job, 0, "w9", "cat", required=2, team_id=team, model_label=stored)
        )
        await wait_consumed(db, meta)
        assert await model_answers() == n_objects and await stored_answers(db, job) == 3 * n_objects + 1

        # A 1-1 tie between two humans follows the model; one human answer plus the model's is not enough.
        tie, mirror, control = n_objects, n_objects + 1, n_objects + 2
        meta = await publish(producer, answer_event(job, tie, "w1", "cat", required=2, model_label="cat"))
        await wait_consumed(db, meta)
        assert await outbox_rows(db, job, tie) == 0, "labeled from one human answer and the model's"
        await publish(producer, answer_event(job, tie, "w2", "dog", required=2, model_label="cat"))
        await publish(producer, answer_event(job, mirror, "w1", "cat", required=2, model_label="dog"))
        await publish(producer, answer_event(job, mirror, "w2", "dog", required=2, model_label="dog"))
        await publish(producer, answer_event(job, control, "w1", "cat", required=2))
        await publish(producer, answer_event(job, control, "w2", "dog", required=2))
        # (their first labels: a refit may revise them later)
        with_model = (await labels.wait(job, tie))[0]
        mirrored = (await labels.wait(job, mirror))[0]
        without = (await labels.wait(job, control))[0]
        assert (with_model.label, mirrored.label) == ("cat", "dog")
        # Without the model the tie leans to the more reliable human: the model moves cat up, and dog (at most
        # 1 - that without it) well above it.
        assert with_model.confidence > without.confidence + 0.1
        assert without.label != "dog" and mirrored.confidence > 1 - without.confidence + 0.1
        for lab in (with_model, mirrored, without):
            assert lab.answer_count == 2 and sorted(lab.worker_ids) == ["w1", "w2"]

        # Worker quality lists the model, marked as such (not in a team's quality); no team prior for it.
        async with grpc.aio.insecure_channel(f"127.0.0.1:{svc.bound_port}") as channel:
            stub = consolidation_pb2_grpc.ConsolidationServiceStub(channel)
            report = await stub.GetWorkerQuality(consolidation_pb2.GetWorkerQualityRequest(job_id=job))
            by_worker = {w.worker_id: w for w in report.workers}
            assert by_worker["quorum-model"].machine and by_worker["quorum-model"].answers == n_objects + 2
            assert not any(w.machine for w in report.workers if w.worker_id != "quorum-model")
            team_report = await stub.GetTeamWorkerQuality(
                consolidation_pb2.GetTeamWorkerQualityRequest(team_id=team, job_ids=[job])
            )
            assert {w.worker_id for w in team_report.workers} == {"w1", "w2", "w3", "w9"}

        async def skills_of() -> set[str]:
            w = worker_skills
            async with db.connect() as conn:
                rows = await conn.execute(select(w.c.worker_id).where(w.c.team_id == team, w.c.job_id == job))
                return set(rows.scalars())

        await eventually(lambda: _has(skills_of, {"w1", "w2", "w3"}), "the job's worker skills")
        assert "quorum-model" not in await skills_of()


async def _has(found: Callable[[], Awaitable[set[str]]], wanted: set[str]) -> bool:
    return wanted <= await found()


async def test_streaming_mv_setting_keeps_batch_majority_vote(
    settings: ConsolidationSettings,
    producer: AIOKafkaProducer,
    labels: LabelWatcher,
) -> None:
    job = new_job()
    n = MIN_OVERLAP_OBJECTS + 2  # big enough for a job model, yet "mv" is asked for
    triples = [(o, w, "cat" if w != "w3" else "dog") for o in range(n) for w in ("w1", "w2", "w3")]
    async with running(settings.model_copy(update={"streaming_method": "mv"})):
        for o, w, label in triples:
            await publish(producer, answer_event(job, o, w, label))
        got = [(await labels.wait(job, o))[0] for o in range(n)]
    assert {(g.label, g.method) for g in got} == {("cat", "mv")}


async def test_restart_resumes_from_stored_offsets(
    settings: ConsolidationSettings,
    producer: AIOKafkaProducer,
    labels: LabelWatcher,
    db: AsyncEngine,
) -> None:
    job = new_job()
    async with running(settings):
        meta = await publish(producer, answer_event(job, 0, "w1", "cat", required=1))
        [before] = await labels.wait(job, 0)

    async with running(settings):
        # Same partition as the first answer: passing this record means the partition was resumed, and a
        # consumer that started over would have replayed (and so republished) object 0 on the way.
        later = await publish(
            producer, answer_event(job, 1, "w1", "dog", required=1), partition=meta.partition
        )
        await labels.wait(job, 1)
        await wait_consumed(db, later)
    assert await outbox_rows(db, job, 0) == 1
    assert [e.label_consolidated for e in labels.of(job, 0)] == [before]
    async with db.connect() as conn:
        n = await conn.scalar(
            select(object_state.c.answer_count).where(
                object_state.c.job_id == job, object_state.c.object_id == 0
            )
        )
    assert n == 1


# --- RPCs -------------------------------------------------------------------------------------------------


def rpc_answer(object_id: int, worker_id: str, label: str, job_id: str = "job-a") -> common_pb2.Answer:
    return common_pb2.Answer(job_id=job_id, object_id=object_id, worker_id=worker_id, label=label)


async def test_consolidate_answers_rpc(stub: consolidation_pb2_grpc.ConsolidationServiceStub) -> None:
    request = consolidation_pb2.ConsolidateAnswersRequest(
        task_type="image-classification",
        categories=CATS,
        answers=[
            rpc_answer(2, "a", "dog"),
            rpc_answer(2, "b", "dog"),
            rpc_answer(2, "c", "bird"),
            rpc_answer(1, "a", "cat"),
            rpc_answer(1, "b", "cat"),
            rpc_answer(1, "c", "cat"),
            rpc_answer(1, "a", "bird", job_id="job-b"),
        ],
    )
    reply = await stub.ConsolidateAnswers(request)
    got = [(r.job_id, r.object_id, r.label, r.class_index, r.answer_count, r.method) for r in reply.labels]
    assert got == [  # the service's default method: auto
        ("job-a", 1, "cat", 0, 3, "auto"),
        ("job-a", 2, "dog", 1, 3, "auto"),
        ("job-b", 1, "bird", 2, 1, "auto"),
    ]
    assert reply.labels[0].confidence > reply.labels[1].confidence > 1 / 3
    explicit = await stub.ConsolidateAnswers(
        consolidation_pb2.ConsolidateAnswersRequest(categories=CATS, answers=request.answers, method="mv")
    )
    mv = [(r.job_id, r.object_id, r.label, r.class_index, r.answer_count, r.method) for r in explicit.labels]
    assert mv == [(*g[:5], "mv") for g in got]
    empty = await stub.ConsolidateAnswers(consolidation_pb2.ConsolidateAnswersRequest(categories=CATS))
    assert list(empty.labels) == []


@pytest.mark.parametrize(
    ("request_kwargs", "reason", "detail"),
    [
        (
            {"categories": CATS, "method": "nope", "answers": [rpc_answer(1, "a", "cat")]},
            "unknown_method",
            "unknown consolidation method 'nope'",
        ),
        (
            {"categories": CATS, "answers": [rpc_answer(1, "a", "cow")]},
            "unknown_label",
            "label not in categories",
        ),
        (
            {"categories": ["cat"], "answers": [rpc_answer(1, "a", "cat")]},
            "too_few_categories",
            "at least 2 categories",
        ),
        ({"categories": [], "answers": []}, "too_few_categories", "at least 2 categories"),
        (
            {"categories": CATS, "answers": [rpc_answer(1, "", "cat")]},
            "missing_worker_id",
            "has no worker_id",
        ),
        (
            {"categories": CATS, "answers": [rpc_answer(1, "a", "cat"), rpc_answer(1, "a", "dog")]},
            "duplicate_answer",
            "more than once",
        ),
    ],
    ids=["unknown-method", "unknown-label", "one-category", "no-categories", "no-worker", "worker-twice"],
)
async def test_consolidate_answers_rejects_bad_requests(
    stub: consolidation_pb2_grpc.ConsolidationServiceStub, request_kwargs: dict, reason: str, detail: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ConsolidateAnswers(consolidation_pb2.ConsolidateAnswersRequest(**request_kwargs))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert detail in (info.value.details() or "")
    assert reason_from_rpc_error(info.value) == reason


async def test_list_job_labels(stub: consolidation_pb2_grpc.ConsolidationServiceStub) -> None:
    reply = await stub.ListJobLabels(consolidation_pb2.ListJobLabelsRequest(job_id=new_job()))
    assert list(reply.labels) == []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ListJobLabels(consolidation_pb2.ListJobLabelsRequest())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# --- worker quality -----------------------------------------------------------------------------------------


async def test_worker_quality_ranks_a_reliable_worker_above_a_noisy_one(
    service: GrpcService,
    producer: AIOKafkaProducer,
    db: AsyncEngine,
    stub: consolidation_pb2_grpc.ConsolidationServiceStub,
) -> None:
    job = new_job()
    rng = np.random.default_rng(7)
    n_objects = 40
    for o in range(n_objects):
        truth = int(rng.integers(3))
        for w, p_right in (("reliable", 1.0), ("steady1", 0.8), ("steady2", 0.8), ("noisy", 0.4)):
            label = truth if rng.random() < p_right else (truth + 1 + int(rng.integers(2))) % 3
            await publish(producer, answer_event(job, o, w, CATS[label], required=4))

    async def all_stored() -> bool:
        return await stored_answers(db, job) == 4 * n_objects

    await eventually(all_stored, "every answer stored")

    report = await stub.GetWorkerQuality(consolidation_pb2.GetWorkerQualityRequest(job_id=job))
    assert (report.job_id, report.method, list(report.categories)) == (job, "ds", CATS)
    by_worker = {w.worker_id: w for w in report.workers}
    assert set(by_worker) == {"reliable", "steady1", "steady2", "noisy"}
    assert all(w.answers == n_objects and len(w.confusion) == 9 for w in report.workers)
    assert by_worker["reliable"].accuracy > by_worker["steady1"].accuracy > by_worker["noisy"].accuracy
    assert by_worker["reliable"].agreement_with_consensus > by_worker["noisy"].agreement_with_consensus

    mv = await stub.GetWorkerQuality(consolidation_pb2.GetWorkerQualityRequest(job_id=job, method="mv"))
    mv_by_worker = {w.worker_id: w for w in mv.workers}
    assert mv.method == "mv" and mv_by_worker["reliable"].accuracy > mv_by_worker["noisy"].accuracy

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetWorkerQuality(consolidation_pb2.GetWorkerQualityRequest(job_id=new_job()))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_from_rpc_error(err.value) == "job_not_found"

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetWorkerQuality(consolidation_pb2.GetWorkerQualityRequest(job_id=job, method="nope"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_from_rpc_error(err.value) == "unknown_method"

    # Over a team's jobs: this job twice (counted once), one without answers (skipped).
    team = await stub.GetTeamWorkerQuality(
        consolidation_pb2.GetTeamWorkerQualityRequest(team_id="t", job_ids=[job, new_job(), job])
    )
    assert (team.team_id, team.method, team.jobs) == ("t", "ds", 1)
    assert {(w.worker_id, w.answers, w.jobs) for w in team.workers} == {
        (w, n_objects, 1) for w in ("reliable", "steady1", "steady2", "noisy")
    }
    assert {w.worker_id: w.accuracy for w in team.workers} == pytest.approx(
        {w: by_worker[w].accuracy for w in by_worker}
    )
    for bad, reason in (
        ({"job_ids": [job]}, "missing_team_id"),
        ({"team_id": "t", "job_ids": [job], "method": "nope"}, "unknown_method"),
        ({"team_id": "t", "job_ids": [new_job() for _ in range(501)]}, "too_many_jobs"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetTeamWorkerQuality(consolidation_pb2.GetTeamWorkerQualityRequest(**bad))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason_from_rpc_error(err.value) == reason


def structured_event(
    job_id: str,
    object_id: int,
    worker_id: str,
    task_type: str,
    categories: list[str],
    payload: dict,
    required: int,
) -> events_pb2.EventEnvelope:
    answer = common_pb2.Answer(
        answer_id=uuid.uuid4().hex,
        job_id=job_id,
        object_id=object_id,
        worker_id=worker_id,
        payload_json=json.dumps(payload),
    )
    return envelope(
        answer_submitted=events_pb2.AnswerSubmitted(
            answer=answer, task_type=task_type, categories=categories, required_answers=required
        )
    )


async def test_worker_quality_of_box_and_span_jobs_comes_from_their_consolidators(
    service: GrpcService,
    producer: AIOKafkaProducer,
    db: AsyncEngine,
    stub: consolidation_pb2_grpc.ConsolidationServiceStub,
) -> None:
    """A worker who draws every box far off, or marks sloppy spans, gets a lower reliability than careful
    ones; the reply says what the number means, and has no confusion matrix."""
    rng = np.random.default_rng(3)
    box_job, span_job, n_objects = new_job(), new_job(), 12
    workers = ("careful1", "careful2", "careful3", "sloppy")
    for o in range(n_objects):
        left, top, width, height = 40.0 + 200 * (o % 3), 30.0, 80.0, 60.0
        for w in workers:
            dx, dy = (0.6 * width, 0.6 * height) if w == "sloppy" else tuple(rng.normal(0, 2, 2))
            box = {"label": "car", "left": left + dx, "top": top + dy, "width": width, "height": height}
            payload = {"boxes": [box], "image_size": {"width": 800, "height": 200}}
            await publish(
                producer, structured_event(box_job, o, w, "bounding-box", ["car", "bus"], payload, 4)
            )
            spans = [(0, 5, "PER"), (10, 18, "ORG")] if w != "sloppy" else [(0, 3, "PER"), (10, 18, "PER")]
            entities = {"entities": [{"start": s, "end": e, "label": lab} for s, e, lab in spans]}
            await publish(
                producer,
                structured_event(span_job, o, w, "named-entity-recognition", ["PER", "ORG"], entities, 4),
            )

    async def all_stored() -> bool:
        return await stored_answers(db, box_job) == await stored_answers(db, span_job) == 4 * n_objects

    await eventually(all_stored, "every answer stored")

    for job, task_type, measure in (
        (box_job, "bounding-box", "box reliability"),
        (span_job, "named-entity-recognition", "span reliability"),
    ):
        report = await stub.GetWorkerQuality(consolidation_pb2.GetWorkerQualityRequest(job_id=job))
        assert (report.method, report.task_type) == (task_type, task_type)
        assert report.accuracy_measure.startswith(measure) and report.agreement_measure
        by_worker = {w.worker_id: w for w in report.workers}
        assert set(by_worker) == set(workers)
        assert all(w.answers == n_objects and len(w.confusion) == 0 for w in report.workers)
        for w in workers[:3]:
            assert by_worker[w].accuracy > by_worker["sloppy"].accuracy
            assert by_worker[w].agreement_with_consensus == pytest.approx(1.0)
        assert by_worker["sloppy"].agreement_with_consensus == 0.0

    # A method name still has to be one the service knows, whatever the job's type.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetWorkerQuality(consolidation_pb2.GetWorkerQualityRequest(job_id=box_job, method="nope"))
    assert reason_from_rpc_error(err.value) == "unknown_method"

    team = await stub.GetTeamWorkerQuality(
        consolidation_pb2.GetTeamWorkerQualityRequest(team_id="t", job_ids=[box_job, span_job])
    )
    assert team.jobs == 2 and len(team.accuracy_measures) == 2 and list(team.skipped_job_ids) == []
    assert {(w.worker_id, w.answers, w.jobs) for w in team.workers} == {
        (w, 2 * n_objects, 2) for w in workers
    }


# --- adaptive redundancy ------------------------------------------------------------------------------------


async def test_an_adaptive_jobs_object_at_its_maximum_is_labeled_beside_objects_with_their_own_count(
    service: GrpcService, producer: AIOKafkaProducer, labels: LabelWatcher, db: AsyncEngine
) -> None:
    """Adaptive job, min 2, max 3, target 0.99, and a random draw of its automated labeling with its own count
    (required = min = 5): decided together, the ordinary object that never gets confident is still labeled at
    its own maximum of 3 (not held to the draw's 5, which no worker would ever give it), the draw at 5."""
    job = new_job()
    events = [
        *(
            answer_event(job, 0, f"d{i}", "cat", required=5, min_answers=5, target_confidence=0.99)
            for i in range(5)
        ),
        *(
            answer_event(job, 1, f"x{i}", label, required=3, min_answers=2, target_confidence=0.99)
            for i, label in enumerate(["cat", "dog", "bird"])
        ),
    ]
    # Queued together and delivered at once, so the consumer most likely decides both objects in one batch.
    pending = []
    for env in events:
        key = object_key(job, env.answer_submitted.answer.object_id)
        pending.append(await producer.send(ANSWERS_TOPIC, env.SerializeToString(), key=key))
    await asyncio.gather(*pending)
    draw, contested = (await labels.wait(job, 0))[0], (await labels.wait(job, 1))[0]
    assert draw.answer_count == 5 and draw.label == "cat"
    assert contested.answer_count == 3 and contested.confidence < 0.99


async def test_adaptive_job_labels_confident_objects_after_min_answers_and_waits_on_contested_ones(
    service: GrpcService, producer: AIOKafkaProducer, labels: LabelWatcher, db: AsyncEngine
) -> None:
    """min 2, max 5, target 0.9: two agreeing answers of a reliable crowd are enough; a 1-1 split waits for
    more and says so (AnswersWanted, so that dispatch need not wait out its verdict hold); an object at its
    maximum is labeled whatever its posterior."""
    job = new_job()

    def adaptive(object_id: int, worker: str, label: str) -> events_pb2.EventEnvelope:
        return answer_event(job, object_id, worker, label, required=5, min_answers=2, target_confidence=0.9)

    n_confident = 20
    for o in range(n_confident):
        for worker in ("w1", "w2"):
            await publish(producer, adaptive(o, worker, CATS[o % 3]))
    for o in range(n_confident):
        [label] = [e for e in await labels.wait(job, o)][:1]
        assert (label.label, label.answer_count) == (CATS[o % 3], 2)
        assert label.method in ("adaptive-auto", "adaptive-mv")  # one-coin (mv) while the job is tiny
        assert label.confidence >= 0.9

    # Below the minimum: nothing, whatever the answer.
    meta = await publish(producer, adaptive(100, "w1", "cat"))
    await wait_consumed(db, meta)
    # Contested: a 1-1 split waits for more answers.
    await publish(producer, adaptive(101, "w1", "cat"))
    meta = await publish(producer, adaptive(101, "w2", "dog"))
    await wait_consumed(db, meta)
    assert labels.of(job, 100) == [] and labels.of(job, 101) == []
    assert await outbox_rows(db, job, 100) == 0  # below its minimum: no verdict at all

    async def wanted_at_two() -> bool:
        return labels.wanted(job, 101) == [2]

    await eventually(wanted_at_two, "AnswersWanted for the contested object at 2 answers")

    # More answers for "cat" settle it before the maximum.
    await publish(producer, adaptive(101, "w3", "cat"))
    meta = await publish(producer, adaptive(101, "w4", "cat"))
    await wait_consumed(db, meta)
    first = (await labels.wait(job, 101))[0]
    assert (first.label, first.method) == ("cat", "adaptive-auto")
    assert 3 <= first.answer_count <= 4 and first.confidence >= 0.9
    # Wanted at undecided counts only (w3 and w4 may arrive in one batch), never at the count that labeled it.
    wanted = labels.wanted(job, 101)
    assert wanted[0] == 2 and set(wanted) <= set(range(2, first.answer_count)), wanted

    # An object that never gets confident is labeled at its maximum (here a job of min 2, max 3).
    other = new_job()
    for i, label in enumerate(["cat", "dog", "bird"]):
        env = answer_event(other, 0, f"x{i}", label, required=3, min_answers=2, target_confidence=0.9)
        meta = await publish(producer, env)
        if i < 2:
            await wait_consumed(db, meta)
            assert labels.of(other, 0) == [], f"labeled after {i + 1} answers"
    [last] = (await labels.wait(other, 0))[:1]
    assert last.answer_count == 3 and last.method.startswith("adaptive-") and last.confidence < 0.9
    assert labels.wanted(other, 0) == [2]  # not at its maximum: labeled there, nothing more to want

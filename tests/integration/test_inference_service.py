"""The inference service in-process over gRPC against the real PostgreSQL: train, predict, metrics, warm
start, bad input, and the Triton backend (a real Triton server from nvidia-pytriton) agreeing with torch."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.feature_extraction.text import TfidfVectorizer

from quorum.inference.v1 import inference_pb2, inference_pb2_grpc
from quorum_common.db import run_migrations
from quorum_common.errors import reason_from_rpc_error
from quorum_common.grpc_server import GrpcService
from quorum_inference import MIGRATIONS, SCHEMA
from quorum_inference.adapters import finetune, lexicon, nets
from quorum_inference.adapters.features import TextEmbedder
from quorum_inference.core.calibration import apply_temperature
from quorum_inference.server import build_service
from quorum_inference.settings import InferenceSettings

Stub = inference_pb2_grpc.InferenceServiceStub
CATS = ["sports", "weather", "food"]
_VOCAB = {
    "sports": (
        ["The striker", "Our goalkeeper", "The home team", "The coach", "The runner", "The tennis champion"],
        [
            "scored in the final minute",
            "won the league title",
            "lost the match on penalties",
            "trained hard before the tournament",
            "broke the sprint record",
            "was sent off by the referee",
        ],
    ),
    "weather": (
        ["Tomorrow", "This weekend", "Tonight", "On Monday", "Across the coast", "In the mountains"],
        [
            "heavy rain is expected",
            "temperatures will drop below freezing",
            "strong winds will blow",
            "the forecast says sunny skies",
            "a thunderstorm may hit the area",
            "snow will cover the roads",
        ],
    ),
    "food": (
        ["This recipe", "The chef", "My grandmother's soup", "The bakery", "The new restaurant", "The pasta"],
        [
            "needs fresh basil and garlic",
            "tastes best with melted cheese",
            "was served with roasted vegetables",
            "bakes bread with whole wheat flour",
            "uses a spicy tomato sauce",
            "simmers the broth for hours",
        ],
    ),
}


def sentences(n_per_class: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for label, (subjects, predicates) in _VOCAB.items():
        for _ in range(n_per_class):
            out.append((f"{rng.choice(subjects)} {rng.choice(predicates)}.", label))
    rng.shuffle(out)
    return out


def _mixed_topics(n: int, seed: int) -> list[tuple[str, str]]:
    """Sports subjects with weather predicates (labeled weather): sentences a model is unsure of."""
    rng = random.Random(seed)
    subjects, predicates = _VOCAB["sports"][0], _VOCAB["weather"][1]
    return [(f"{rng.choice(subjects)} {rng.choice(predicates)}.", "weather") for _ in range(n)]


def text_objects(
    data: list[tuple[str, str]], with_labels: bool = True
) -> list[inference_pb2.InferenceObject]:
    return [
        inference_pb2.InferenceObject(object_id=f"o{i}", text=t, label=label if with_labels else "")
        for i, (t, label) in enumerate(data)
    ]


@pytest.fixture(scope="module")
def migrated_url(database_url: str) -> str:
    run_migrations(database_url, SCHEMA, MIGRATIONS)
    run_migrations(database_url, SCHEMA, MIGRATIONS)  # idempotent
    return database_url


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def make_settings(
    url: str,
    models_dir: Path,
    backend: str,
    text_model: str = "frozen",
    finetune_max_seconds: float = 0.0,
    soft_labels: bool = True,
    text_lexicon: bool = True,  # off by default (settings.py); these tests cover it
) -> InferenceSettings:
    return InferenceSettings(
        database_url=url,
        grpc_port=0,
        grace_period_s=0.2,
        log_json=False,
        models_dir=models_dir,
        INFERENCE_BACKEND=backend,
        head_epochs=30,
        cnn_epochs=12,
        image_size=24,  # 8 x 8 digits still go in at 16 x 16, their own side rounded up
        TEXT_MODEL=text_model,
        # TEXT_MODEL=finetune, tiny: a few steps on a few dozen sentences
        certify_share=0.5,
        finetune_min_labels=20,
        finetune_epochs=2,
        finetune_max_steps=6,
        finetune_lr=1e-4,
        finetune_max_seconds=finetune_max_seconds,
        soft_labels=soft_labels,
        text_lexicon=text_lexicon,
        # Every frozen or image training a look: the tests of looks set their own (fine-tuned text keeps one
        # look per doubling, which its tests follow).
        looks_per_doubling=0,
    )


@asynccontextmanager
async def running(settings: InferenceSettings) -> AsyncIterator[Stub]:
    service: GrpcService = await build_service(settings)
    # As in test_consolidation_service: park readiness pings once stopping (Python 3.11 wait_for quirk).
    ping, stopping = service.readiness, asyncio.Event()
    assert ping is not None

    async def readiness() -> bool:
        ok = await ping()
        if stopping.is_set():
            await asyncio.Event().wait()
        return ok

    service.readiness = readiness
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}") as channel:
            yield Stub(channel)
    finally:
        stopping.set()
        await asyncio.sleep(0.01)
        await service.stop()


@pytest.fixture(scope="module")
async def stub(migrated_url: str, models_dir: Path) -> AsyncIterator[Stub]:
    async with running(make_settings(migrated_url, models_dir, "torch")) as s:
        yield s


@pytest.fixture(scope="module")
async def text_job(stub: Stub) -> tuple[str, inference_pb2.ModelVersion]:
    job = uuid.uuid4().hex
    mv = await stub.TrainModel(
        inference_pb2.TrainModelRequest(
            job_id=job, objects=text_objects(sentences(40, seed=1)), categories=CATS, target_accuracy=0.9
        )
    )
    return job, mv


@pytest.fixture(scope="module")
async def tuned_stub(migrated_url: str, models_dir: Path) -> AsyncIterator[Stub]:
    async with running(make_settings(migrated_url, models_dir, "torch", "finetune")) as s:
        yield s


@pytest.fixture(scope="module")
async def tuned_job(tuned_stub: Stub, models_dir: Path) -> tuple[str, inference_pb2.ModelVersion]:
    job = uuid.uuid4().hex
    mv = await tuned_stub.TrainModel(
        inference_pb2.TrainModelRequest(
            job_id=job, objects=text_objects(sentences(30, seed=1)), categories=CATS, target_accuracy=0.9
        )
    )
    return job, mv


async def _code(call: asyncio.Future) -> tuple[grpc.StatusCode, str | None]:  # type: ignore[type-arg]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code(), reason_from_rpc_error(info.value)


async def test_predict_before_training_is_failed_precondition(stub: Stub) -> None:
    code, reason = await _code(
        stub.Predict(
            inference_pb2.PredictRequest(job_id=uuid.uuid4().hex, objects=text_objects([("hi", "")]))
        )
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "no_model")


async def test_train_records_a_calibrated_version_with_thresholds(
    stub: Stub, text_job: tuple[str, inference_pb2.ModelVersion]
) -> None:
    job, mv = text_job
    assert mv.version == 1 and mv.modality == "text" and list(mv.categories) == CATS
    m = mv.metrics
    assert m.n_train == 120 and m.n_validation == 120  # CALIBRATION cross_fit: each label held out once
    assert m.validation_accuracy >= 0.9
    assert m.temperature > 0 and m.nll_calibrated <= m.nll_uncalibrated + 1e-9
    assert [t.category for t in m.thresholds] == CATS
    assert m.target_accuracy == pytest.approx(0.9)
    for t in m.thresholds:
        assert not t.has_threshold or t.lower_bound >= 0.9
    again = await stub.GetModelMetrics(inference_pb2.GetModelMetricsRequest(job_id=job))
    assert again.model_id == mv.model_id and again.metrics == mv.metrics


async def test_predict_labels_unseen_sentences(
    stub: Stub, text_job: tuple[str, inference_pb2.ModelVersion]
) -> None:
    job, mv = text_job
    held_out = sentences(20, seed=99)
    resp = await stub.Predict(inference_pb2.PredictRequest(job_id=job, objects=text_objects(held_out, False)))
    assert resp.version == 1 and resp.model_id == mv.model_id and len(resp.predictions) == len(held_out)
    probs = np.array([list(p.probabilities) for p in resp.predictions])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    predicted = [p.label for p in resp.predictions]
    assert np.mean([p == g for p, (_, g) in zip(predicted, held_out, strict=True)]) >= 0.9
    for p in resp.predictions:
        assert p.label == CATS[int(np.argmax(p.probabilities))] and p.confidence == max(p.probabilities)
        th = next(t for t in mv.metrics.thresholds if t.category == p.label)
        assert p.auto_label == (th.has_threshold and p.confidence >= th.threshold)


async def test_text_predictions_add_the_versions_bag_of_words_expert(
    stub: Stub, text_job: tuple[str, inference_pb2.ModelVersion], models_dir: Path
) -> None:
    """A text version keeps its lexicon (TF-IDF + logistic regression) beside the head, and Predict's
    probabilities are softmax((head logits + lexicon log-probabilities) / temperature)."""
    job, mv = text_job
    path = models_dir / job / "v1.lexicon.npz"
    assert path.exists()
    held_out = sentences(5, seed=98)
    resp = await stub.Predict(inference_pb2.PredictRequest(job_id=job, objects=text_objects(held_out, False)))
    got = np.array([list(p.probabilities) for p in resp.predictions])
    texts = [t for t, _ in held_out]
    arch, head, _ = nets.load(models_dir / job / "v1.pt", torch.device("cpu"))
    assert arch.lexicon == f"{job}/v1.lexicon.npz"
    head_logits = nets.logits(head, TextEmbedder("cpu").embed(texts))
    both = head_logits + lexicon.load(path).log_probs(texts)
    np.testing.assert_allclose(got, apply_temperature(both, mv.metrics.temperature), atol=1e-4)
    alone = apply_temperature(head_logits, mv.metrics.temperature)
    assert np.abs(got - alone).max() > 1e-3  # the expert moved the probabilities


async def test_without_the_lexicon_a_text_version_is_its_head_alone(
    migrated_url: str, models_dir: Path
) -> None:
    async with running(make_settings(migrated_url, models_dir, "torch", text_lexicon=False)) as stub:
        job = uuid.uuid4().hex
        mv = await stub.TrainModel(
            inference_pb2.TrainModelRequest(
                job_id=job, objects=text_objects(sentences(20, seed=1)), categories=CATS, target_accuracy=0.9
            )
        )
        held_out = sentences(5, seed=98)
        resp = await stub.Predict(
            inference_pb2.PredictRequest(job_id=job, objects=text_objects(held_out, False))
        )
    assert not list((models_dir / job).glob("*.lexicon.npz"))
    arch, head, _ = nets.load(models_dir / job / "v1.pt", torch.device("cpu"))
    assert arch.lexicon == ""
    head_logits = nets.logits(head, TextEmbedder("cpu").embed([t for t, _ in held_out]))
    got = np.array([list(p.probabilities) for p in resp.predictions])
    np.testing.assert_allclose(got, apply_temperature(head_logits, mv.metrics.temperature), atol=1e-4)


async def test_versions_and_warm_start(stub: Stub, text_job: tuple[str, inference_pb2.ModelVersion]) -> None:
    job, v1 = text_job
    v2 = await stub.TrainModel(
        inference_pb2.TrainModelRequest(
            job_id=job, objects=text_objects(sentences(30, seed=2)), categories=CATS, threshold_mode="pooled"
        )
    )
    assert v2.version == 2 and v2.metrics.target_accuracy == pytest.approx(0.95)  # 0 -> default
    assert v2.metrics.threshold_mode == v1.metrics.threshold_mode == "pooled"  # explicit; the default
    assert len({(t.has_threshold, t.threshold) for t in v2.metrics.thresholds}) == 1
    latest = await stub.GetModelMetrics(inference_pb2.GetModelMetricsRequest(job_id=job))
    assert latest.version == 2
    # A later job with few labels and reordered categories starts from job 1's version 1.
    few = text_objects(sentences(3, seed=3))
    reordered = ["food", "sports", "weather"]
    other = uuid.uuid4().hex
    warm = await stub.TrainModel(
        inference_pb2.TrainModelRequest(
            job_id=other, objects=few, categories=reordered, warm_start_model_id=v1.model_id
        )
    )
    cold = await stub.TrainModel(
        inference_pb2.TrainModelRequest(job_id=uuid.uuid4().hex, objects=few, categories=reordered)
    )
    assert warm.warm_start_model_id == v1.model_id and cold.warm_start_model_id == ""
    held_out = sentences(20, seed=98)
    accuracy = {}
    for name, mv in (("warm", warm), ("cold", cold)):
        resp = await stub.Predict(
            inference_pb2.PredictRequest(job_id=mv.job_id, objects=text_objects(held_out, False))
        )
        accuracy[name] = np.mean([p.label == g for p, (_, g) in zip(resp.predictions, held_out, strict=True)])
    assert accuracy["warm"] >= 0.9 and accuracy["warm"] >= accuracy["cold"]


@pytest.mark.parametrize(
    ("request_", "code", "reason"),
    [
        (
            inference_pb2.TrainModelRequest(job_id="j", categories=CATS),
            grpc.StatusCode.INVALID_ARGUMENT,
            "no_objects",
        ),
        (
            inference_pb2.TrainModelRequest(
                job_id="j", objects=text_objects([("a b", "sports")]), categories=["x"]
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "categories_invalid",
        ),
        (
            inference_pb2.TrainModelRequest(
                job_id="j", objects=text_objects([("a b", "cats")] * 3), categories=CATS
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "label_not_in_categories",
        ),
        (
            inference_pb2.TrainModelRequest(
                job_id="j",
                objects=[
                    inference_pb2.InferenceObject(object_id="1", text="t", image_uri="/x.png", label="food")
                ],
                categories=CATS,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "object_content_invalid",
        ),
        (
            inference_pb2.TrainModelRequest(
                job_id="j", objects=text_objects(sentences(2, 0)), categories=CATS, target_accuracy=1.5
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "target_accuracy_out_of_range",
        ),
        (
            inference_pb2.TrainModelRequest(
                job_id="j", objects=text_objects(sentences(2, 0)), categories=CATS, threshold_mode="global"
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "threshold_mode_invalid",
        ),
        (
            inference_pb2.TrainModelRequest(
                job_id="j", objects=text_objects(sentences(2, 0)), categories=CATS, label_noise=0.6
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "label_noise_out_of_range",
        ),
        (
            inference_pb2.TrainModelRequest(
                job_id="j",
                objects=[
                    inference_pb2.InferenceObject(
                        object_id="1", text="Rain.", label="weather", label_confidence=1.5
                    )
                ]
                * 2,
                categories=CATS,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "label_confidence_out_of_range",
        ),
        (
            inference_pb2.TrainModelRequest(
                job_id="j", objects=text_objects(sentences(2, 0)), categories=CATS, warm_start_model_id="nope"
            ),
            grpc.StatusCode.NOT_FOUND,
            "model_not_found",
        ),
        (
            inference_pb2.TrainModelRequest(
                job_id="j",
                objects=[inference_pb2.InferenceObject(object_id="1", image_uri="/no/such.png", label="food")]
                * 2,
                categories=CATS,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "image_unreadable",
        ),
        (
            inference_pb2.TrainModelRequest(
                job_id="j",
                objects=text_objects(sentences(2, 0)),
                categories=CATS,
                machine_labeled_versions=[0],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "machine_labeled_versions_invalid",
        ),
    ],
)
async def test_bad_train_requests_are_rejected_with_a_reason(
    stub: Stub, request_: inference_pb2.TrainModelRequest, code: grpc.StatusCode, reason: str
) -> None:
    assert await _code(stub.TrainModel(request_)) == (code, reason)


async def test_bad_predict_requests(stub: Stub, text_job: tuple[str, inference_pb2.ModelVersion]) -> None:
    job, _ = text_job
    img = [inference_pb2.InferenceObject(object_id="1", image_uri="/x.png")]
    assert await _code(stub.Predict(inference_pb2.PredictRequest(job_id=job, objects=img))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "modality_mismatch",
    )
    one = text_objects([("x", "")])
    assert await _code(stub.Predict(inference_pb2.PredictRequest(job_id=job, version=99, objects=one))) == (
        grpc.StatusCode.NOT_FOUND,
        "model_not_found",
    )
    assert await _code(stub.Predict(inference_pb2.PredictRequest(job_id="", objects=one))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "missing_job_id",
    )


async def test_predict_selects_uncertain_distinct_objects_for_humans(
    stub: Stub, text_job: tuple[str, inference_pb2.ModelVersion], models_dir: Path
) -> None:
    """The picks are objects the model may not auto-label, each once, as many as asked while there are; the
    random draws among them (random_share of the count) come last and are named, and recorded as drawn."""
    job, _ = text_job
    data = sentences(25, seed=11) + _mixed_topics(15, seed=12)  # some the model is unsure of
    # The unlabeled pool: ids no training ever used, as in a job (the first training's objects are its draws).
    objects = [inference_pb2.InferenceObject(object_id=f"pool{i}", text=t) for i, (t, _) in enumerate(data)]
    seen = [inference_pb2.InferenceObject(object_id="seen", text=t) for t, _ in data[:5]]
    resp = await stub.Predict(
        inference_pb2.PredictRequest(job_id=job, objects=objects, select_count=8, labeled=seen)
    )
    picked = list(resp.selected_object_ids)
    auto = {p.object_id for p in resp.predictions if p.auto_label}
    assert 0 < len(picked) <= 8 and len(set(picked)) == len(picked)
    assert not set(picked) & auto
    non_auto = [o.object_id for o in objects if o.object_id not in auto]
    assert len(picked) == min(8, len(non_auto))
    drawn = list(resp.random_object_ids)
    assert len(drawn) == min(len(non_auto), round(0.5 * 8)) and picked[len(picked) - len(drawn) :] == drawn
    assert set(drawn) <= set(json.loads((models_dir / job / "drawn.json").read_text()))
    # A retried iteration (its first Predict never committed) draws anew; a pick that an earlier call drew is
    # named random too, so the jobs service never attaches the model's opinion to a certifying object.
    again = await stub.Predict(
        inference_pb2.PredictRequest(job_id=job, objects=objects, select_count=8, labeled=seen[:3])
    )
    recorded = set(json.loads((models_dir / job / "drawn.json").read_text()))
    assert set(again.random_object_ids) == set(again.selected_object_ids) & recorded
    assert set(again.selected_object_ids) & set(drawn) <= set(again.random_object_ids)
    plain = await stub.Predict(inference_pb2.PredictRequest(job_id=job, objects=objects))
    assert not plain.selected_object_ids and not plain.random_object_ids
    bad = inference_pb2.PredictRequest(job_id=job, objects=objects, select_count=-1)
    assert await _code(stub.Predict(bad)) == (grpc.StatusCode.INVALID_ARGUMENT, "select_count_invalid")


def labeled_picks(
    pool_data: list[tuple[str, str]], resp: inference_pb2.PredictResponse
) -> list[inference_pb2.InferenceObject]:
    """The pool objects (ids p0, p1, ...) Predict selected for humans, with their labels."""
    selected = set(resp.selected_object_ids)
    return [
        inference_pb2.InferenceObject(object_id=f"p{i}", text=t, label=label)
        for i, (t, label) in enumerate(pool_data)
        if f"p{i}" in selected
    ]


async def test_earlier_machine_labels_join_a_later_versions_bound(stub: Stub, models_dir: Path) -> None:
    """A version's certified draws are recorded with its verdict; Predict records its draws' sampling rate
    (from pool_size when the objects are a sample); a later version bounds its threshold with them once the
    caller says that version's machine labels were committed (not for a version whose iteration never was)."""
    job = uuid.uuid4().hex
    first = sentences(40, seed=21)
    v1 = await stub.TrainModel(
        inference_pb2.TrainModelRequest(
            job_id=job, objects=text_objects(first), categories=CATS, target_accuracy=0.9
        )
    )
    assert v1.metrics.n_certified_earlier == 0 and any(t.has_threshold for t in v1.metrics.thresholds)
    certified = json.loads((models_dir / job / "certified.json").read_text())
    drawn = set(json.loads((models_dir / job / "drawn.json").read_text()))
    assert certified and set(certified) <= drawn and {v for _, _, v in certified.values()} == {1}
    truth = dict((f"o{i}", label) for i, (_, label) in enumerate(first))
    assert all(agree == 1 for oid, (agree, _, _) in certified.items() if truth[oid])  # easy sentences
    # The bound version 1 certified its machine labels at: later versions count them at it.
    bounds = json.loads((models_dir / job / "bounds.json").read_text())
    certified_at = max(t.lower_bound for t in v1.metrics.thresholds if t.has_threshold)
    assert bounds == {"1": pytest.approx(certified_at)}

    # The pool: 60 sentences sent as a uniform sample of 600; half mix two topics (the model is unsure).
    pool_data = sentences(10, seed=22) + _mixed_topics(30, seed=23)
    pool = [inference_pb2.InferenceObject(object_id=f"p{i}", text=t) for i, (t, _) in enumerate(pool_data)]
    bad = inference_pb2.PredictRequest(job_id=job, objects=pool, select_count=8, pool_size=10)
    assert await _code(stub.Predict(bad)) == (grpc.StatusCode.INVALID_ARGUMENT, "pool_size_invalid")
    resp = await stub.Predict(
        inference_pb2.PredictRequest(
            job_id=job, objects=pool, select_count=8, labeled=text_objects(first), pool_size=600
        )
    )
    n_random = len(resp.random_object_ids)
    left = 600 * sum(not p.auto_label for p in resp.predictions) / len(pool)
    rates = json.loads((models_dir / job / "sampling.json").read_text())
    assert rates["0"] == pytest.approx(120 / (600 + 120))  # the first batch: 120 of the 720 objects
    assert rates["1"] == pytest.approx(n_random / left)

    # Version 2 on the first labels and the picks, version 1's machine labels committed: version 1's certified
    # draws join its bound.
    picks = labeled_picks(pool_data, resp)
    request = inference_pb2.TrainModelRequest(
        job_id=job, objects=[*text_objects(first), *picks], categories=CATS, target_accuracy=0.9
    )
    v2 = await stub.TrainModel(request)
    assert v2.version == 2 and v2.metrics.n_certified_earlier == 0  # the caller committed no version's labels
    request.machine_labeled_versions[:] = [1]
    v3 = await stub.TrainModel(request)
    assert v3.version == 3 and v3.metrics.n_certified_earlier == len(certified)
    for t in v3.metrics.thresholds:
        assert not t.has_threshold or t.lower_bound >= 0.9


async def test_a_job_certifies_once_each_time_its_draws_double(migrated_url: str, tmp_path: Path) -> None:
    """One look per doubling of the certification draws (from look_spending_base_draws = 20 here): a new
    model at every iteration would give the same draws a fresh chance to look good. A second version on the
    same 30 draws is no look; once random picks bring the draws to 40, the next version looks again."""
    settings = make_settings(migrated_url, tmp_path, "torch").model_copy(
        update={"look_spending_base_draws": 20, "looks_per_doubling": 1}
    )
    job = uuid.uuid4().hex
    first = sentences(10, seed=41)  # 30 easy sentences, all of them draws of the pool
    request = inference_pb2.TrainModelRequest(
        job_id=job, objects=text_objects(first), categories=CATS, target_accuracy=0.85
    )
    async with running(settings) as s:
        v1 = await s.TrainModel(request)
        assert v1.metrics.certification_look and any(t.has_threshold for t in v1.metrics.thresholds)
        assert json.loads((tmp_path / job / "looks.json").read_text()) == {"epoch": 0, "per_doubling": 1}
        assert v1.metrics.draws_to_next_look == 10  # the next look comes at 40 draws
        v2 = await s.TrainModel(request)
        assert not v2.metrics.certification_look and not any(t.has_threshold for t in v2.metrics.thresholds)
        assert json.loads((tmp_path / job / "looks.json").read_text()) == {"epoch": 0, "per_doubling": 1}
        assert v2.metrics.draws_to_next_look == 10
        # Between looks only the kept network trains: nothing held out, v1's temperature scores the pool.
        assert v2.metrics.n_validation == 0 and v2.metrics.validation_accuracy == 0.0
        assert v2.metrics.temperature == pytest.approx(v1.metrics.temperature)
        assert v1.metrics.n_validation == 30 and v1.metrics.temperature != 1.0
        # Random picks of a pool whose sentences are as easy: 30 draws + at least 10 more = the next doubling.
        pool_data = sentences(20, seed=42)
        pool = [
            inference_pb2.InferenceObject(object_id=f"p{i}", text=t) for i, (t, _) in enumerate(pool_data)
        ]
        resp = await s.Predict(
            inference_pb2.PredictRequest(
                job_id=job, objects=pool, select_count=40, labeled=text_objects(first), pool_size=600
            )
        )
        assert len(resp.random_object_ids) >= 10
        picks = labeled_picks(pool_data, resp)
        v3 = await s.TrainModel(
            inference_pb2.TrainModelRequest(
                job_id=job,
                objects=[*text_objects(first), *picks],
                categories=CATS,
                target_accuracy=0.85,
                machine_labeled_versions=[1],  # as the jobs loop says once it committed version 1's labels
            )
        )
        assert v3.metrics.certification_look
        assert json.loads((tmp_path / job / "looks.json").read_text()) == {"epoch": 1, "per_doubling": 1}
        assert v3.metrics.draws_to_next_look == 80 - 30 - len(resp.random_object_ids)  # the next at 80


async def test_cross_fit_between_looks_keeps_every_versions_held_out_figures(
    migrated_url: str, tmp_path: Path
) -> None:
    """With cross_fit_between_looks a version between looks is cross-fitted like a look: it reports its
    held-out accuracy and temperature, and still certifies nothing."""
    settings = make_settings(migrated_url, tmp_path, "torch").model_copy(
        update={"look_spending_base_draws": 20, "looks_per_doubling": 1, "cross_fit_between_looks": True}
    )
    request = inference_pb2.TrainModelRequest(
        job_id=uuid.uuid4().hex,
        objects=text_objects(sentences(10, seed=41)),
        categories=CATS,
        target_accuracy=0.85,
    )
    async with running(settings) as s:
        await s.TrainModel(request)
        v2 = await s.TrainModel(request)
    assert not v2.metrics.certification_look and not any(t.has_threshold for t in v2.metrics.thresholds)
    assert v2.metrics.n_validation == 30 and v2.metrics.validation_accuracy > 0.5
    assert v2.metrics.nll_calibrated > 0.0


async def test_a_first_batch_too_small_to_certify_does_not_spend_a_look(
    migrated_url: str, tmp_path: Path
) -> None:
    """12 draws could not clear 0.9 even all right: that training is no look, and none is recorded."""
    settings = make_settings(migrated_url, tmp_path, "torch").model_copy(
        update={"look_spending_base_draws": 20, "looks_per_doubling": 1}
    )
    job = uuid.uuid4().hex
    async with running(settings) as s:
        v1 = await s.TrainModel(
            inference_pb2.TrainModelRequest(
                job_id=job, objects=text_objects(sentences(4, seed=43)), categories=CATS, target_accuracy=0.9
            )
        )
    assert not v1.metrics.certification_look and not (tmp_path / job / "looks.json").exists()


async def test_until_a_job_certifies_every_pick_is_a_random_draw(stub: Stub) -> None:
    """Nothing is machine-labeled before a bound clears the target and only draws feed it (settings:
    random_share_uncertified = 1)."""
    job = uuid.uuid4().hex
    first = sentences(10, seed=31)
    v1 = await stub.TrainModel(
        inference_pb2.TrainModelRequest(
            job_id=job, objects=text_objects(first), categories=CATS, target_accuracy=0.999
        )
    )
    assert not any(t.has_threshold for t in v1.metrics.thresholds)
    pool = [
        inference_pb2.InferenceObject(object_id=f"p{i}", text=t) for i, (t, _) in enumerate(sentences(10, 32))
    ]
    resp = await stub.Predict(inference_pb2.PredictRequest(job_id=job, objects=pool, select_count=8))
    assert len(resp.selected_object_ids) == 8 and list(resp.random_object_ids) == list(
        resp.selected_object_ids
    )


async def test_finetuned_text_certifies_on_labels_the_encoder_never_saw(
    tuned_stub: Stub, tuned_job: tuple[str, inference_pb2.ModelVersion], models_dir: Path
) -> None:
    """TEXT_MODEL=finetune: the first training's objects are all random draws; those whose id hashes into
    certify_share are held out of the fine-tuning and of the head, and certify; one encoder file per job."""
    job, mv = tuned_job
    ids = [f"o{i}" for i in range(90)]
    n_c = sum(finetune.in_certification_set(i, 0.5) for i in ids)
    assert 20 < n_c < 70
    assert (mv.metrics.n_validation, mv.metrics.n_train) == (n_c, 90 - n_c)
    assert 0 < mv.metrics.finetune_steps <= 6 and not mv.metrics.finetune_capped  # no time cap here
    assert [p.name for p in (models_dir / job).glob("encoder-*.pt")] == ["encoder-1.pt"]
    # The bag-of-words expert trains on the head's labels only: C is held out from it too.
    arch, _, _ = nets.load(models_dir / job / "v1.pt", torch.device("cpu"))
    assert (arch.encoder, arch.lexicon) == (f"{job}/encoder-1.pt", f"{job}/v1.lexicon.npz")
    data = sentences(30, seed=1)
    in_c = [finetune.in_certification_set(f"o{i}", 0.5) for i in range(len(data))]
    vocabulary = lexicon.load(models_dir / arch.lexicon).vocabulary
    bag = TfidfVectorizer(ngram_range=lexicon.NGRAMS)
    assert vocabulary == list(
        bag.fit([t for (t, _), c in zip(data, in_c, strict=True) if not c]).get_feature_names_out()
    )
    assert vocabulary != list(bag.fit([t for t, _ in data]).get_feature_names_out())  # C has words of its own
    held_out = sentences(20, seed=99)
    resp = await tuned_stub.Predict(
        inference_pb2.PredictRequest(job_id=job, objects=text_objects(held_out, False), select_count=6)
    )
    assert np.mean([p.label == g for p, (_, g) in zip(resp.predictions, held_out, strict=True)]) >= 0.9
    auto = {p.object_id for p in resp.predictions if p.auto_label}
    assert 0 < len(resp.selected_object_ids) <= 6 and not set(resp.selected_object_ids) & auto
    # Labels grown by less than finetune_growth: same encoder, a new head. The new objects were not drawn, so
    # they train; the certification set stays the same objects.
    more = text_objects(sentences(32, seed=1))
    v2 = await tuned_stub.TrainModel(
        inference_pb2.TrainModelRequest(job_id=job, objects=more, categories=CATS)
    )
    assert v2.version == 2 and v2.metrics.n_validation == n_c and v2.metrics.n_train == len(more) - n_c
    assert v2.metrics.finetune_steps == 0  # the encoder was reused
    assert [p.name for p in (models_dir / job).glob("encoder-*.pt")] == ["encoder-1.pt"]
    # Grown enough, but no look at certification (the draws did not grow): only a look can machine-label, so
    # the encoder is reused still.
    most = text_objects(sentences(60, seed=1))
    v3 = await tuned_stub.TrainModel(
        inference_pb2.TrainModelRequest(job_id=job, objects=most, categories=CATS)
    )
    assert v3.version == 3 and v3.metrics.n_validation == n_c
    assert not v3.metrics.certification_look and v3.metrics.finetune_steps == 0
    # Only draws that hash into C (certify_share 0.5) bring the next look nearer: twice as many pool draws.
    assert v3.metrics.draws_to_next_look > 0 and v3.metrics.draws_to_next_look % 2 == 0
    # Random picks of the pool bring the draws to the next look: a warm-started encoder replaces the job's
    # previous one on disk.
    pool_data = sentences(20, seed=33)
    pool = [inference_pb2.InferenceObject(object_id=f"p{i}", text=t) for i, (t, _) in enumerate(pool_data)]
    picked = await tuned_stub.Predict(
        inference_pb2.PredictRequest(job_id=job, objects=pool, select_count=50, labeled=most)
    )
    v4 = await tuned_stub.TrainModel(
        inference_pb2.TrainModelRequest(
            job_id=job,
            objects=[*most, *labeled_picks(pool_data, picked)],
            categories=CATS,
            machine_labeled_versions=[1],  # the job committed version 1's machine labels
        )
    )
    assert v4.metrics.certification_look and v4.metrics.n_validation > n_c
    assert v4.metrics.finetune_steps > 0
    assert [p.name for p in (models_dir / job).glob("encoder-*.pt")] == ["encoder-2.pt"]
    resp = await tuned_stub.Predict(
        inference_pb2.PredictRequest(job_id=job, objects=text_objects(held_out, False))
    )
    assert resp.version == 4
    assert np.mean([p.label == g for p, (_, g) in zip(resp.predictions, held_out, strict=True)]) >= 0.9


async def test_fine_tuning_stops_at_its_time_cap_and_records_the_steps(
    migrated_url: str, models_dir: Path
) -> None:
    """FINETUNE_MAX_SECONDS: a tiny cap stops the optimiser after its first step; the version still trains a
    head and certifies, and its metrics say how many steps ran."""
    settings = make_settings(migrated_url, models_dir, "torch", "finetune", finetune_max_seconds=1e-6)
    async with running(settings) as capped:
        mv = await capped.TrainModel(
            inference_pb2.TrainModelRequest(
                job_id=uuid.uuid4().hex, objects=text_objects(sentences(30, seed=3)), categories=CATS
            )
        )
    assert mv.metrics.finetune_capped and mv.metrics.finetune_steps == 1
    assert mv.metrics.n_train > 0 and mv.metrics.n_validation > 0


@pytest.fixture
async def hard_stub(migrated_url: str, models_dir: Path) -> AsyncIterator[Stub]:
    """A service that trains on the bare labels (SOFT_LABELS=false): the same network whatever the
    confidences sent, so only the bounds differ between requests."""
    async with running(make_settings(migrated_url, models_dir, "torch", soft_labels=False)) as s:
        yield s


async def test_label_confidences_set_the_noise_each_threshold_allows_for(hard_stub: Stub) -> None:
    """Per-object label confidences: the bound of a threshold allows for 1 - q of the labels it is certified
    on (reported as their mean); equal confidences q give the same thresholds as label_noise = 1 - q; none
    sent (0) keeps the request's label_noise."""
    stub = hard_stub
    data = sentences(40, seed=5)

    def objects(q: list[float]) -> list[inference_pb2.InferenceObject]:
        return [
            inference_pb2.InferenceObject(object_id=f"o{i}", text=t, label=y, label_confidence=c)
            for i, ((t, y), c) in enumerate(zip(data, q, strict=True))
        ]

    async def train(q: list[float], noise: float) -> inference_pb2.ModelVersion:
        return await stub.TrainModel(
            inference_pb2.TrainModelRequest(
                job_id=uuid.uuid4().hex,
                objects=objects(q),
                categories=CATS,
                target_accuracy=0.9,
                label_noise=noise,
            )
        )

    n = len(data)
    flat = await train([0.0] * n, 0.1)
    assert not flat.metrics.per_object_label_noise and flat.metrics.label_noise == pytest.approx(0.1)
    same = await train([0.9] * n, 0.0)
    assert same.metrics.per_object_label_noise and same.metrics.label_noise == pytest.approx(0.1)
    assert same.metrics.n_certified == n
    assert [(t.has_threshold, t.support) for t in same.metrics.thresholds] == [
        (t.has_threshold, t.support) for t in flat.metrics.thresholds
    ]
    # Confident labels while the job's average claims 10 % noise: every candidate set gets a smaller
    # correction (0.1 %), so a threshold is never lower than the average's.
    each = await train([0.999] * n, 0.1)
    assert each.metrics.per_object_label_noise and each.metrics.label_noise == pytest.approx(0.001)
    assert each.metrics.thresholds[0].has_threshold  # 120 separable sentences certify 0.9 either way
    assert each.metrics.thresholds[0].threshold >= flat.metrics.thresholds[0].threshold
    # What corrects the machine-labeled validation objects' agreement: their own labels' noise when sent.
    assert flat.metrics.validation_auto_label_noise == pytest.approx(0.1)
    assert each.metrics.validation_auto_label_noise == pytest.approx(0.001)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    """scikit-learn's bundled 8x8 digits (no download) as PNG files, (uri, label)."""
    root = tmp_path_factory.mktemp("digits")
    data = load_digits()
    out = []
    for i in range(600):
        path = root / f"{i}.png"
        Image.fromarray((data.images[i] * 255 / 16).astype(np.uint8), mode="L").save(path)
        out.append((path.as_uri() if i % 2 else str(path), str(data.target[i])))
    return out


async def test_images_train_a_cnn_at_their_own_side_and_predict(
    stub: Stub, digits: list[tuple[str, str]], models_dir: Path
) -> None:
    job = uuid.uuid4().hex
    cats = [str(d) for d in range(10)]
    train = [
        inference_pb2.InferenceObject(object_id=f"d{i}", image_uri=u, label=y)
        for i, (u, y) in enumerate(digits[:450])
    ]
    mv = await stub.TrainModel(inference_pb2.TrainModelRequest(job_id=job, objects=train, categories=cats))
    assert mv.modality == "image" and mv.metrics.validation_accuracy >= 0.8
    arch, _, _ = nets.load(models_dir / job / f"v{mv.version}.pt", torch.device("cpu"))
    assert arch.input_shape == (3, 16, 16)  # the images' own 8 x 8, not the setting's 24
    test = [
        inference_pb2.InferenceObject(object_id=f"t{i}", image_uri=u) for i, (u, _) in enumerate(digits[450:])
    ]
    resp = await stub.Predict(inference_pb2.PredictRequest(job_id=job, objects=test))
    assert np.mean([p.label == y for p, (_, y) in zip(resp.predictions, digits[450:], strict=True)]) >= 0.8


async def test_triton_backend_agrees_with_torch(
    stub: Stub,
    text_job: tuple[str, inference_pb2.ModelVersion],
    tuned_stub: Stub,
    tuned_job: tuple[str, inference_pb2.ModelVersion],
    digits: list[tuple[str, str]],
    migrated_url: str,
    models_dir: Path,
) -> None:
    """A second service on the same database and models directory, scoring through a real Triton server. A
    fine-tuned text version's embeddings come from its encoder in the service's process; Triton serves its
    head, as for frozen MiniLM."""
    job, mv = text_job
    img_job = uuid.uuid4().hex
    cats = [str(d) for d in range(10)]
    train = [
        inference_pb2.InferenceObject(object_id=f"d{i}", image_uri=u, label=y)
        for i, (u, y) in enumerate(digits[:200])
    ]
    await stub.TrainModel(inference_pb2.TrainModelRequest(job_id=img_job, objects=train, categories=cats))
    text_req = inference_pb2.PredictRequest(
        job_id=job, version=mv.version, objects=text_objects(sentences(30, 5), False)
    )
    img_req = inference_pb2.PredictRequest(
        job_id=img_job,
        objects=[
            inference_pb2.InferenceObject(object_id=f"t{i}", image_uri=u)
            for i, (u, _) in enumerate(digits[200:500])
        ],
    )
    tuned_req = inference_pb2.PredictRequest(
        job_id=tuned_job[0], objects=text_objects(sentences(10, 6), False)
    )
    by_torch = [
        await stub.Predict(text_req),
        await stub.Predict(img_req),
        await tuned_stub.Predict(tuned_req),
    ]
    async with running(make_settings(migrated_url, models_dir, "triton")) as triton_stub:
        metrics = await triton_stub.GetModelMetrics(inference_pb2.GetModelMetricsRequest(job_id=job))
        assert metrics.backend == "triton"
        by_triton = [
            await triton_stub.Predict(text_req),
            await triton_stub.Predict(img_req),
            await triton_stub.Predict(tuned_req),
        ]
    for t, r in zip(by_torch, by_triton, strict=True):
        assert r.model_id == t.model_id
        pt = np.array([list(p.probabilities) for p in t.predictions])
        pr = np.array([list(p.probabilities) for p in r.predictions])
        np.testing.assert_allclose(pr, pt, atol=1e-5)
        assert [p.auto_label for p in r.predictions] == [p.auto_label for p in t.predictions]

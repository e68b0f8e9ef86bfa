"""A classification job end to end through the real services, broker, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import numpy as np
import pytest

from quorum_cli.labeling_run import fetch_answers, run_labeling_job
from quorum_cli.platform import Platform
from quorum_cli.simulation import CrowdDataset, accuracy
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.auto import AutoDawidSkene

GT_CLASSIFICATION_METADATA_KEYS = {
    "class-name",
    "confidence",
    "type",
    "job-name",
    "human-annotated",
    "creation-date",
}


def text_dataset(n_items: int, n_workers: int, seed: int) -> CrowdDataset:
    """A generated sentiment-like text dataset with workers of mixed skill (no real answers)."""
    rng = np.random.default_rng(seed)
    categories = ["negative", "neutral", "positive"]
    items = [f"t{i:04d}" for i in range(n_items)]
    gold = {item: categories[int(rng.integers(3))] for item in items}
    contents = {item: {"source": f"review {item}: it was {gold[item]}-ish"} for item in items}
    acc = rng.uniform(0.6, 0.9, size=n_workers)
    confusion = np.stack([np.full((3, 3), (1 - a) / 2) + np.eye(3) * (a - (1 - a) / 2) for a in acc])
    workers = [f"w{w:02d}" for w in range(n_workers)]
    return CrowdDataset("synthetic-reviews", items, categories, gold, contents, {}, workers, confusion)


def test_two_hundred_object_job_completes_with_ground_truth_output(
    platform: Platform, requester_key: str
) -> None:
    data = text_dataset(200, 9, seed=1)
    result = asyncio.run(
        run_labeling_job(platform.api_url, requester_key, data, workers_per_object=3, seed=1)
    )
    job = result.job
    assert job["status"] == "completed"
    assert job["counters"]["human_labeled"] == 200 and job["counters"]["unlabeled"] == 0

    assert len(result.output_lines) == 200
    attribute = job["label_attribute_name"]
    for line in result.output_lines:
        assert set(line) == {"source", "item", attribute, f"{attribute}-metadata"}
        assert isinstance(line[attribute], int) and 0 <= line[attribute] < 3
        meta = line[f"{attribute}-metadata"]
        assert set(meta) == GT_CLASSIFICATION_METADATA_KEYS
        assert meta["class-name"] == data.categories[line[attribute]]
        assert isinstance(meta["confidence"], float) and 0.0 <= meta["confidence"] <= 1.0
        assert meta["type"] == "groundtruth/text-classification"
        assert meta["job-name"] == job["name"]
        assert meta["human-annotated"] == "yes"
        assert len(meta["creation-date"]) == 26 and meta["creation-date"][10] == "T"

    answers = asyncio.run(fetch_answers(platform.api_url, requester_key, job["job_id"]))
    per_object: dict[int, list[str]] = defaultdict(list)
    for a in answers:
        per_object[int(a["object_id"])].append(a["workerId"])
    assert len(per_object) == 200
    assert all(len(ws) == 3 and len(set(ws)) == 3 for ws in per_object.values())

    # The job ends with the labels of the default method (AutoDawidSkene) fitted on all of its answers: labels
    # streamed from an earlier worker model are revised once the model is refitted after the last answer.
    item_of = dict(enumerate(data.items))
    triples = [(int(a["object_id"]), a["workerId"], a["answerContent"]["label"]) for a in answers]
    batch = AutoDawidSkene().fit(Answers.from_triples(triples, data.categories))
    assert batch.labels_ is not None and batch.probas_ is not None
    expected_labels = {item_of[o]: data.categories[c] for o, c in enumerate(batch.labels_.tolist())}
    # Near-ties (a 1-1-1 split of similar workers) may fall either way: the service sums the same answers in
    # its database's order, so the last bits differ. There, any of the near-tied classes is the batch's label.
    top2 = np.sort(batch.probas_, axis=1)[:, -2:]
    tied = {
        item_of[o]: {data.categories[c] for c in np.flatnonzero(batch.probas_[o] >= top2[o, 1] - 1e-3)}
        for o in np.flatnonzero(top2[:, 1] - top2[:, 0] < 1e-3).tolist()
    }

    def output_labels() -> dict[str, str]:
        r = httpx.get(
            f"{platform.api_url}/v1/jobs/{job['job_id']}/output",
            headers={"Authorization": f"Bearer {requester_key}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        lines = [json.loads(line) for line in r.text.splitlines() if line.strip()]
        return {line["item"]: line[f"{attribute}-metadata"]["class-name"] for line in lines}

    deadline = time.monotonic() + 60  # the last refit runs ~1 s after the last answer; slack for a busy CI
    ours = output_labels()
    while time.monotonic() < deadline and any(
        ours.get(i) != lab and ours.get(i) not in tied.get(i, set()) for i, lab in expected_labels.items()
    ):
        time.sleep(0.5)
        ours = output_labels()
    differ = {
        i: (ours.get(i), lab)
        for i, lab in expected_labels.items()
        if ours.get(i) != lab and ours.get(i) not in tied.get(i, set())
    }
    assert not differ, f"{len(differ)} labels differ from a batch fit: {list(differ.items())[:5]}"

    # Accuracy close to majority vote's expectation over tie-breaking (a tie between m classes that includes
    # the truth is right 1/m of the time). Not "at least": on 3-answer jobs of symmetric workers auto and
    # majority vote are equal on average (0.873 vs 0.874 over 12 seeds of this generator) but differ by a
    # few objects in 200 either way, so the bound allows 5 points.
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for a in answers:
        votes[item_of[int(a["object_id"])]][a["answerContent"]["label"]] += 1
    right = [
        1 / len(top) if data.gold[i] in top else 0.0
        for i, c in votes.items()
        for top in [[k for k, n in c.items() if n == max(c.values())]]
    ]
    expected = sum(right) / len(right)
    ours_accuracy, _ = accuracy(ours, data.gold)
    assert ours_accuracy >= expected - 0.05, (ours_accuracy, expected)

    # Worker estimates for the job, through the public API: every worker, every answer counted.
    r = httpx.get(
        f"{platform.api_url}/v1/jobs/{job['job_id']}/workers",
        headers={"Authorization": f"Bearer {requester_key}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    workers = r.json()["data"]
    assert len(workers) == 9 and sum(w["answers"] for w in workers) == 600
    assert all(0.0 <= w["accuracy"] <= 1.0 and len(w["confusion"]) == 3 for w in workers)

    # The same workers over the team's jobs (one job here): the same answers and estimates.
    auth = {"Authorization": f"Bearer {requester_key}"}
    r = httpx.get(f"{platform.api_url}/v1/teams/{job['team_id']}/workers", headers=auth, timeout=30)
    assert r.status_code == 200, r.text
    team = r.json()
    assert team["jobs"] == 1 and team["count"] == 9
    by_worker = {w["worker_id"]: w for w in workers}
    for w in team["data"]:
        assert (w["answers"], w["jobs"]) == (by_worker[w["worker_id"]]["answers"], 1)
        assert w["accuracy"] == pytest.approx(by_worker[w["worker_id"]]["accuracy"])
    r = httpx.get(f"{platform.api_url}/v1/teams/{'0' * 32}/workers", headers=auth, timeout=30)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "team_not_found")


def test_killed_services_lose_no_acknowledged_answer(platform: Platform, requester_key: str) -> None:
    data = text_dataset(120, 8, seed=2)
    total = 120 * 3
    killed: list[str] = []

    async def chaos(result) -> None:  # noqa: ANN001 - RunResult
        if result.answers_submitted >= total // 3 and "consolidation" not in killed:
            killed.append("consolidation")
            platform.kill("consolidation")
        elif result.answers_submitted >= total // 2 and "workforce" not in killed:
            killed.append("workforce")
            platform.kill("workforce")
            await asyncio.to_thread(platform.start_service, "workforce")
            await asyncio.to_thread(platform.start_service, "consolidation")

    result = asyncio.run(
        run_labeling_job(
            platform.api_url,
            requester_key,
            data,
            workers_per_object=3,
            seed=2,
            on_answer=chaos,
            # A NextTask cut off by the kill leaves a lease nobody received: it returns to the pool when
            # the task time limit passes, so keep that limit well inside the test's patience.
            time_limit_s=15,
            timeout_s=240,
        )
    )
    assert killed == ["consolidation", "workforce"]
    assert result.job["status"] == "completed"
    answers = asyncio.run(fetch_answers(platform.api_url, requester_key, result.job["job_id"]))
    ids = Counter(a["answerId"] for a in answers)
    assert all(n == 1 for n in ids.values()), "an answer was stored twice"
    assert set(result.acked) <= set(ids), "an acknowledged answer is missing"
    per_object = Counter(int(a["object_id"]) for a in answers)
    assert len(per_object) == 120 and set(per_object.values()) == {3}
    assert result.job["counters"]["human_labeled"] == 120


@pytest.mark.parametrize("workers", [1])
def test_single_worker_job(platform: Platform, requester_key: str, workers: int) -> None:
    data = text_dataset(20, 2, seed=3)
    result = asyncio.run(run_labeling_job(platform.api_url, requester_key, data, workers_per_object=workers))
    assert result.job["status"] == "completed"
    assert len(result.output_lines) == 20


def test_image_job_from_generated_digits(platform: Platform, requester_key: str, tmp_path: Path) -> None:
    from quorum_cli.simulation import simulated_digits

    data = simulated_digits(tmp_path, n_items=40, n_workers=5)
    result = asyncio.run(run_labeling_job(platform.api_url, requester_key, data, workers_per_object=3))
    attribute = result.job["label_attribute_name"]
    assert result.job["status"] == "completed"
    assert all(
        line[f"{attribute}-metadata"]["type"] == "groundtruth/image-classification"
        for line in result.output_lines
    )
    assert all(line["source-ref"].startswith("file://") for line in result.output_lines)


def test_a_broker_that_loses_its_log_loses_no_answer(platform: Platform, requester_key: str) -> None:
    """Tansu keeps its log in memory: kill it mid-job and start an empty one on the same port."""
    from quorum_common.devinfra import EmbeddedKafka

    data = text_dataset(90, 6, seed=4)
    total = 90 * 3
    restarted: list[bool] = []

    async def lose_the_broker(result) -> None:  # noqa: ANN001 - RunResult
        if result.answers_submitted >= total // 2 and not restarted:
            restarted.append(True)
            old = platform.test_kafka  # type: ignore[attr-defined]
            old.proc.kill()
            old.proc.wait()
            platform.test_kafka = await asyncio.to_thread(  # type: ignore[attr-defined]
                EmbeddedKafka(old.data_dir, port=old.port).start
            )

    result = asyncio.run(
        run_labeling_job(
            platform.api_url,
            requester_key,
            data,
            workers_per_object=3,
            seed=4,
            on_answer=lose_the_broker,
            time_limit_s=15,
            timeout_s=180,
        )
    )
    assert restarted
    assert result.job["status"] == "completed"
    assert result.job["counters"]["human_labeled"] == 90
    answers = asyncio.run(fetch_answers(platform.api_url, requester_key, result.job["job_id"]))
    assert set(result.acked) <= {a["answerId"] for a in answers}
    assert len(answers) == total


def test_adaptive_job_asks_fewer_answers_and_labels_every_object(
    platform: Platform, requester_key: str
) -> None:
    """Target 0.9, min 1, max 5, a crowd of mostly-accurate workers: most objects stop after one or two
    answers, contested ones get more, and every object gets its label."""
    n_items, max_workers = 60, 5
    rng = np.random.default_rng(11)
    categories = ["negative", "neutral", "positive"]
    items = [f"a{i:04d}" for i in range(n_items)]
    gold = {item: categories[int(rng.integers(3))] for item in items}
    contents = {item: {"source": f"review {item}: it was {gold[item]}-ish"} for item in items}
    acc = rng.uniform(0.85, 0.97, size=8)
    confusion = np.stack([np.full((3, 3), (1 - a) / 2) + np.eye(3) * (a - (1 - a) / 2) for a in acc])
    workers = [f"w{w:02d}" for w in range(len(acc))]
    data = CrowdDataset("adaptive-reviews", items, categories, gold, contents, {}, workers, confusion)

    result = asyncio.run(
        run_labeling_job(
            platform.api_url,
            requester_key,
            data,
            workers_per_object=max_workers,
            target_confidence=0.9,
            min_workers_per_object=1,
            seed=5,
            timeout_s=300,
        )
    )
    job = result.job
    assert job["status"] == "completed", job
    assert (job["target_confidence"], job["min_workers_per_object"]) == (0.9, 1)
    assert job["counters"]["human_labeled"] + job["counters"]["machine_labeled"] == n_items
    assert job["counters"]["unlabeled"] == 0 and job["counters"]["failed"] == 0
    attribute = job["label_attribute_name"]
    assert len(result.output_lines) == n_items
    assert all(attribute in line for line in result.output_lines)

    answers = asyncio.run(fetch_answers(platform.api_url, requester_key, job["job_id"]))
    per_object = Counter(a["object_id"] for a in answers)
    assert len(per_object) == n_items and max(per_object.values()) <= max_workers
    assert job["answers"] == len(answers)
    # Fewer than a fixed-N job asks. How many fewer depends on how the simulated workers' concurrent takes
    # interleave with the answers (runs here: 178-254 of 300; a CI run at 254 failed an 80 % bound).
    assert len(answers) < 0.9 * max_workers * n_items, (len(answers), sorted(Counter(per_object.values())))
    predictions = {line["item"]: line[f"{attribute}-metadata"]["class-name"] for line in result.output_lines}
    correct = sum(predictions[item] == gold[item] for item in items) / n_items
    print(  # noqa: T201 - the figure the test exists for, shown with -s
        f"adaptive: {len(answers)} answers for {n_items} objects "
        f"({len(answers) / n_items:.2f} per object vs {max_workers} fixed), accuracy {correct:.3f}, "
        f"answers per object {sorted(Counter(per_object.values()).items())}, wall {result.wall_s:.1f}s"
    )
    assert correct >= 0.85

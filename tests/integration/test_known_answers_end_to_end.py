"""Known-answer (gold) objects end to end: a classification job whose manifest marks some objects with their
known class, labeled by simulated workers through the real services."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from typing import Any

import httpx
import numpy as np

from quorum_cli.labeling_run import fetch_answers, run_labeling_job
from quorum_cli.platform import Platform
from quorum_cli.simulation import CrowdDataset

KNOWN = "gold-label"
CATEGORIES = ["negative", "neutral", "positive"]
GT_CLASSIFICATION_METADATA_KEYS = {
    "class-name",
    "confidence",
    "type",
    "job-name",
    "human-annotated",
    "creation-date",
}


def dataset(n_items: int, n_known: int, n_workers: int, seed: int) -> tuple[CrowdDataset, dict[str, str]]:
    """Items with workers of mixed skill; every (n_items // n_known)-th item is a known-answer object."""
    rng = np.random.default_rng(seed)
    items = [f"k{i:03d}" for i in range(n_items)]
    gold = {item: CATEGORIES[int(rng.integers(3))] for item in items}
    known = {item: gold[item] for item in items[:: n_items // n_known][:n_known]}
    contents: dict[str, dict[str, Any]] = {
        item: {"source": f"review {item}", **({KNOWN: known[item]} if item in known else {})}
        for item in items
    }
    acc = rng.uniform(0.55, 0.9, size=n_workers)
    confusion = np.stack([np.full((3, 3), (1 - a) / 2) + np.eye(3) * (a - (1 - a) / 2) for a in acc])
    workers = [f"kw{w:02d}" for w in range(n_workers)]
    data = CrowdDataset("known-reviews", items, CATEGORIES, gold, contents, {}, workers, confusion)
    return data, known


def test_a_bad_known_answer_names_its_line_and_creates_nothing(
    platform: Platform, requester_key: str
) -> None:
    headers = {"Authorization": f"Bearer {requester_key}"}
    team = httpx.post(f"{platform.api_url}/v1/teams", json={"name": "known-bad"}, headers=headers, timeout=10)
    assert team.status_code == 201, team.text
    name = f"known-bad-{uuid.uuid4().hex[:6]}"
    lines = [{"source": "a", KNOWN: "positive"}, {"source": "b"}, {"source": "c", KNOWN: "postive"}]
    r = httpx.post(
        f"{platform.api_url}/v1/jobs",
        headers=headers,
        json={
            "name": name,
            "task_type": "text-classification",
            "categories": CATEGORIES,
            "team_id": team.json()["team_id"],
            "known_answer_attribute": KNOWN,
            "manifest": "\n".join(json.dumps(line) for line in lines) + "\n",
        },
        timeout=30,
    )
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert "manifest line 3" in message and repr(KNOWN) in message and "'postive'" in message
    listed = httpx.get(f"{platform.api_url}/v1/jobs", headers=headers, params={"page_size": 200}, timeout=10)
    assert name not in {job["name"] for job in listed.json()["data"]}


def test_known_answer_objects_are_hidden_from_workers_labeled_and_measure_them(
    platform: Platform, requester_key: str
) -> None:
    data, known = dataset(n_items=80, n_known=20, n_workers=6, seed=7)
    tasks: list[dict[str, Any]] = []
    result = asyncio.run(
        run_labeling_job(
            platform.api_url,
            requester_key,
            data,
            workers_per_object=3,
            seed=7,
            known_answer_attribute=KNOWN,
            on_task=lambda worker, task: tasks.append(task),
        )
    )
    job = result.job
    assert job["status"] == "completed" and job["known_answer_attribute"] == KNOWN
    assert job["counters"]["human_labeled"] == 80

    # Workers cannot tell a known-answer object from another: no task carries the attribute.
    assert len(tasks) >= 240
    item_of = dict(enumerate(data.items))
    known_tasks = [t for t in tasks if item_of[int(t["object_id"])] in known]
    assert known_tasks and all(KNOWN not in json.dumps(t) for t in tasks)
    # ... and a known-answer object's task has the same fields as any other's.
    assert {frozenset(t) for t in known_tasks} == {frozenset(t) for t in tasks}

    # Known-answer objects come out with their known class at confidence 1, in Ground Truth's shape; the
    # attribute passes through on the output line (as every input key does).
    attribute = job["label_attribute_name"]
    by_item = {line["item"]: line for line in result.output_lines}
    assert len(by_item) == 80
    for item, line in by_item.items():
        meta = line[f"{attribute}-metadata"]
        assert set(meta) == GT_CLASSIFICATION_METADATA_KEYS
        if item in known:
            assert line[KNOWN] == known[item]
            assert meta["class-name"] == known[item] and line[attribute] == CATEGORIES.index(known[item])
            assert meta["confidence"] == 1.0
        else:
            assert KNOWN not in line
    # Ground Truth rounds confidences to 2 decimals: a sure unknown object may show 1.0, but not all do.
    assert any(
        line[f"{attribute}-metadata"]["confidence"] < 1.0 for i, line in by_item.items() if i not in known
    )

    # Worker quality: each worker's accuracy on the known-answer objects is what the simulated workers did.
    answers = asyncio.run(fetch_answers(platform.api_url, requester_key, job["job_id"]))
    seen: dict[str, list[bool]] = defaultdict(list)
    for a in answers:
        item = item_of[int(a["object_id"])]
        if item in known:
            seen[a["workerId"]].append(a["answerContent"]["label"] == known[item])
    r = httpx.get(
        f"{platform.api_url}/v1/jobs/{job['job_id']}/workers",
        headers={"Authorization": f"Bearer {requester_key}"},
        params={"method": "auto"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["known_objects"] == 20
    reported = {w["worker_id"]: w for w in report["data"]}
    assert len(reported) == 6
    for worker_id, w in reported.items():
        right = seen.get(worker_id, [])
        assert w["known_answers"] == len(right)
        if right:
            assert abs(w["known_accuracy"] - sum(right) / len(right)) < 1e-9
        else:
            assert w["known_accuracy"] is None
    assert sum(w["known_answers"] for w in reported.values()) == 60  # 20 known objects x 3 answers

    # The team's page pools the same observed accuracy over its jobs (here: this one job).
    r = httpx.get(
        f"{platform.api_url}/v1/teams/{job['team_id']}/workers",
        headers={"Authorization": f"Bearer {requester_key}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    team_rows = {w["worker_id"]: w for w in r.json()["data"]}
    assert set(team_rows) == set(reported)
    for worker_id, w in team_rows.items():
        assert w["known_answers"] == reported[worker_id]["known_answers"]
        assert w["known_accuracy"] == reported[worker_id]["known_accuracy"]

"""Automated labeling end to end: jobs runs the loop, inference trains and scores, simulated workers label the
batches it sends them, and the output marks machine labels as Ground Truth does."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
from typer.testing import CliRunner

from quorum_cli.labeling_run import ApiClient, fetch_answers, run_labeling_job
from quorum_cli.main import app
from quorum_cli.platform import Platform
from quorum_cli.simulation import CrowdDataset

_TOPICS = {
    "sports": ["The striker scored twice", "Our goalkeeper saved a penalty", "The team won the league final"],
    "weather": [
        "Heavy rain is expected tonight",
        "A cold wind blows from the north",
        "Sunny skies all weekend",
    ],
    "cooking": [
        "Simmer the sauce for ten minutes",
        "Knead the bread dough gently",
        "Season the soup with salt",
    ],
}
_ENDINGS = ["today", "again", "as usual", "this time", "once more", "for the fans", "in the city", "at last"]


def topic_dataset(n_items: int, n_workers: int, seed: int) -> CrowdDataset:
    """Short sentences whose topic an embedding separates easily, labeled by workers of mixed skill; a
    quarter of them also name a second topic (the model stays unsure of those: the loop has later batches)."""
    rng = np.random.default_rng(seed)
    categories = sorted(_TOPICS)
    items = [f"s{i:04d}" for i in range(n_items)]
    gold = {item: categories[int(rng.integers(len(categories)))] for item in items}
    contents = {}
    for i, item in enumerate(items):
        text = str(rng.choice(_TOPICS[gold[item]]))
        if rng.random() < 0.25:
            shift = 1 + int(rng.integers(len(categories) - 1))
            other = categories[(categories.index(gold[item]) + shift) % len(categories)]
            text = f"{text} and {str(rng.choice(_TOPICS[other])).lower()}"
        contents[item] = {"source": f"{text} {rng.choice(_ENDINGS)} (#{i})"}
    k = len(categories)
    acc = rng.uniform(0.7, 0.95, size=n_workers)
    confusion = np.stack(
        [np.full((k, k), (1 - a) / (k - 1)) + np.eye(k) * (a - (1 - a) / (k - 1)) for a in acc]
    )
    workers = [f"w{w:02d}" for w in range(n_workers)]
    return CrowdDataset("topics", items, categories, gold, contents, {}, workers, confusion)


def test_auto_labeling_machine_labels_what_the_model_is_sure_of_and_humans_label_the_rest(
    platform: Platform, requester_key: str
) -> None:
    data = topic_dataset(400, 6, seed=5)
    seen_iterations: list[int] = []

    async def follow(client: ApiClient, job_id: str, headers: dict[str, str]) -> None:
        while True:
            r = await client.get(f"/v1/jobs/{job_id}/auto-labeling", headers=headers)
            if r.status_code == 200:
                seen_iterations.append(len(r.json()["iterations"]))
            await asyncio.sleep(0.5)

    # Three answers per random draw, no more: cleaner draws certify this easy set's whole pool on the first
    # 30 draws, leaving no batch that would carry the model's votes (the next test covers the extra answers).
    auto = {
        "enabled": True,
        "target_accuracy": 0.8,
        "min_dataset_size": 100,
        "validation_workers_per_object": 3,
    }
    result = asyncio.run(
        run_labeling_job(
            platform.api_url,
            requester_key,
            data,
            workers_per_object=3,
            seed=5,
            auto_labeling=auto,
            monitor=follow,
            timeout_s=600,
        )
    )
    job = result.job
    c = job["counters"]
    assert job["status"] == "completed", job
    assert job["auto_labeling"] == {**auto, "max_human_labeled": 0}
    assert c["machine_labeled"] > 0 and c["human_labeled"] > 0
    assert c["human_labeled"] + c["machine_labeled"] + c["failed"] == 400 and c["unlabeled"] == 0

    headers = {"Authorization": f"Bearer {requester_key}"}
    report = httpx.get(f"{platform.api_url}/v1/jobs/{job['job_id']}/auto-labeling", headers=headers).json()
    its = report["iterations"]
    assert its[0]["iteration"] == 0 and its[0]["model_version"] == 0
    first_batch = its[0]["sent_to_humans"]
    assert 0 < first_batch < 400
    assert [it["iteration"] for it in its] == list(range(len(its))) and len(its) >= 2
    assert all(it["model_version"] >= 1 for it in its[1:])
    assert sum(it["machine_labeled"] for it in its) == c["machine_labeled"] == report["machine_labeled"]
    assert sum(it["sent_to_humans"] for it in its) + c["machine_labeled"] == 400
    assert its[-1]["decision"] in ("done", "rest_to_humans")
    assert max(seen_iterations, default=0) >= 1  # followed live while the job ran

    # Humans answered only the objects the loop sent them; machine-labeled objects have no answer.
    answers = asyncio.run(fetch_answers(platform.api_url, requester_key, job["job_id"]))
    answered = {int(a["object_id"]) for a in answers}
    attr = job["label_attribute_name"]
    machine, human = {}, {}
    for object_id, line in enumerate(result.output_lines):
        meta = line[f"{attr}-metadata"]
        assert meta["class-name"] == data.categories[line[attr]]
        assert 0.0 <= meta["confidence"] <= 1.0
        (machine if meta["human-annotated"] == "no" else human)[object_id] = meta["class-name"]
    assert len(machine) == c["machine_labeled"] and not set(machine) & answered
    assert set(human) <= answered and len(answered) == 400 - c["machine_labeled"]
    assert report["human_answers"] == len(answers)
    assert report["cost_saving_percent"] > 0 and report["human_objects_saving_percent"] > 0

    # The machine labels reach the requester's target against gold.
    items = data.items
    correct = [machine[o] == data.gold[items[o]] for o in machine]
    # The target is certified with 95 % confidence on the job's objects; these few hundred machine labels are
    # one draw of them, so allow two binomial standard errors below it (a run scored 0.792 of 171 at 0.8).
    target = auto["target_accuracy"]
    margin = 2.0 * np.sqrt(target * (1.0 - target) / len(correct))
    # On failure, each iteration's counts and certification (a rare CI failure scored 0.684 at 0.8).
    shown = [
        {k: it[k] for k in ("iteration", "n_validation", "estimated_accuracy", "machine_labeled", "decision")}
        | {"bounds": sorted({t["lower_bound"] for t in it["thresholds"]})}
        for it in its
    ]
    assert np.mean(correct) >= target - margin, (np.mean(correct), len(correct), shown)

    # A version's bound pools with the certified sets of the earlier versions whose machine labels the job
    # committed (the jobs service names them; a version it never committed must not vouch for a later set).
    job_id = job["job_id"]
    rows = _sql(
        platform,
        "SELECT model_version, machine_labeled, metrics FROM jobs.autolabel_iterations WHERE job_id = %s"
        " ORDER BY iteration",
        job_id,
    )
    committed_before = False
    for version, labeled, metrics in rows:
        if version:
            assert (int(metrics.get("n_certified_earlier", 0)) > 0) == committed_before, rows
        committed_before = committed_before or labeled > 0

    # The model as one more annotator: every object sent to humans after the first iteration carries the
    # predicted class of that iteration's model, except the random draws (inference's record of them), ...
    sent = _sent_to_humans(platform, job_id, "model_label, answer_count")
    drawn = _random_draws(platform, job_id)
    later = [(oid, label) for oid, it, label, _ in sent if it >= 1]
    assert all(label == "" for _, it, label, _ in sent if it == 0)
    assert later and all((label == "") == (oid in drawn) for oid, label in later)
    model_labeled = {oid: label for oid, label in later if label}
    per_iteration = Counter((it, oid in drawn) for oid, it, _, _ in sent)  # shown if this fails
    assert model_labeled and set(model_labeled.values()) <= set(data.categories), sorted(
        per_iteration.items()
    )
    # ... which consolidation counted once per object as the pseudo-worker's answer, ...
    pseudo = _sql(
        platform,
        "SELECT object_id, label FROM consolidation.answers WHERE job_id = %s AND worker_id = 'quorum-model'",
        job_id,
    )
    assert dict(pseudo) == model_labeled
    # ... never as a human answer: each label's answer count is its object's human answers, and no label names
    # the model among its workers.
    humans_per_object = Counter(int(a["object_id"]) for a in answers)
    assert {oid: n for oid, _, _, n in sent} == {oid: humans_per_object[oid] for oid, _, _, _ in sent}
    workers = _sql(
        platform,
        "SELECT worker_ids FROM consolidation.object_state WHERE job_id = %s AND label IS NOT NULL",
        job_id,
    )
    assert workers and not any("quorum-model" in (w or []) for (w,) in workers)


def test_an_adaptive_auto_labeling_jobs_random_draws_get_more_answers_only_while_their_workers_disagree(
    platform: Platform, requester_key: str
) -> None:
    """Adaptive redundancy (1 to 3 answers) with automated labeling and validation_workers_per_object 4: the
    random draws, whose labels certify the models (the first batch and inference's record of later ones), get
    the job's 3 answers at once however early their posterior reaches the job's target, and a 4th only while
    the first three leave the label below the draws' target (test_workforce_service checks the early stop of
    the others)."""
    data = topic_dataset(300, 6, seed=7)
    auto = {
        "enabled": True,
        "target_accuracy": 0.8,
        "min_dataset_size": 100,
        "validation_workers_per_object": 4,
    }
    result = asyncio.run(
        run_labeling_job(
            platform.api_url,
            requester_key,
            data,
            workers_per_object=3,
            target_confidence=0.9,
            min_workers_per_object=1,
            seed=7,
            auto_labeling=auto,
            timeout_s=600,
        )
    )
    job = result.job
    assert job["status"] == "completed", job
    assert job["auto_labeling"] == {**auto, "max_human_labeled": 0}
    job_id = job["job_id"]
    sent = _sent_to_humans(platform, job_id, "required_answers")
    drawn = _random_draws(platform, job_id)
    # The last batch (the rest, to humans) has no draws: no later model would certify on their labels, so
    # inference's random picks in it get the job's answers like every other object.
    last = max(it for _, it, _ in sent)
    assert last > 0 and any(it == last for oid, it, _ in sent if oid in drawn)  # inference drew some of it
    draws = {oid for oid, it, _ in sent if it == 0 or (oid in drawn and it != last)}
    assert {oid: n for oid, _, n in sent if n} == dict.fromkeys(draws, 4)
    answers = asyncio.run(fetch_answers(platform.api_url, requester_key, job_id))
    labels: dict[int, list[str]] = {}
    for a in answers:  # by object, then submission time
        labels.setdefault(int(a["object_id"]), []).append(a["answerContent"]["label"])
    assert draws and all(3 <= len(labels[oid]) <= 4 for oid in draws), sorted(len(labels[o]) for o in draws)
    assert all(len(labels.get(oid, [])) <= 3 for oid, _, _ in sent if oid not in draws)
    # Extra answers go where the first three disagree. Not only there: early in a job consolidation's
    # posterior is cautious (few answers per worker), and a label may come later than workforce's wait; nor
    # everywhere there: a majority of reliable workers may already be sure enough.
    agreed = [oid for oid in draws if len(set(labels[oid][:3])) == 1]
    split = [oid for oid in draws if len(set(labels[oid][:3])) > 1]
    counted = dict(
        _sql(platform, "SELECT object_id, answer_count FROM jobs.job_objects WHERE job_id = %s", job_id)
    )
    shown = {oid: (labels[oid], counted.get(oid)) for oid in draws}  # answers, and the label's count
    assert agreed and split, shown

    def more(objects: list[int]) -> float:
        return sum(len(labels[oid]) > 3 for oid in objects) / len(objects)

    assert more(agreed) <= 0.5 and more(split) > more(agreed), (more(agreed), more(split), shown)


def _sent_to_humans(platform: Platform, job_id: str, columns: str) -> list[tuple[Any, ...]]:
    """(object_id, auto_iteration, *columns) of every object the loop sent to humans."""
    return _sql(
        platform,
        f"SELECT object_id, auto_iteration, {columns} FROM jobs.job_objects WHERE job_id = %s"
        " AND auto_iteration IS NOT NULL AND human_annotated IS DISTINCT FROM false",
        job_id,
    )


def _random_draws(platform: Platform, job_id: str) -> set[int]:
    """The inference service's record of the job's random draws of the pool."""
    path = Path(platform.extra_env["MODELS_DIR"]) / job_id / "drawn.json"
    return {int(i) for i in json.loads(path.read_text())}


def _sql(platform: Platform, query: str, *args: object) -> list[tuple[Any, ...]]:
    """Rows of a query on the platform's database (the services' schemas)."""
    assert platform.database_url
    with psycopg.connect(platform.database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return [tuple(row) for row in conn.execute(query, args).fetchall()]


def test_auto_labeling_settings_are_checked(platform: Platform, requester_key: str, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {requester_key}"}
    team = httpx.post(f"{platform.api_url}/v1/teams", json={"name": "auto-checks"}, headers=headers).json()
    lines = "".join(f'{{"source": "sentence {i}"}}\n' for i in range(150))

    def create(**fields: Any) -> httpx.Response:
        body = {
            "name": "auto-check",
            "task_type": "text-classification",
            "categories": ["a", "b"],
            "team_id": team["team_id"],
            "manifest": lines,
            **fields,
        }
        return httpx.post(f"{platform.api_url}/v1/jobs", json=body, headers=headers)

    r = create(auto_labeling={"enabled": True})
    assert r.status_code == 400
    assert "min_dataset_size = 1250" in r.text and "the manifest has 150" in r.text
    r = create(task_type="bounding-box", auto_labeling={"enabled": True, "min_dataset_size": 100})
    assert r.status_code == 400 and "auto_labeling is for text-classification" in r.text
    r = create(auto_labeling={"enabled": True, "target_accuracy": 1.5})
    assert r.status_code == 422 and "target_accuracy" in r.text
    r = create(auto_labeling={"enabled": True, "min_dataset_size": 10})
    assert r.status_code == 400 and "at least 100" in r.text
    r = create(workers_per_object=3, auto_labeling={"enabled": True, "min_dataset_size": 100,
                                                   "validation_workers_per_object": 2})  # fmt: skip
    assert r.status_code == 400
    assert (
        "validation_workers_per_object must be 0 (workers_per_object + 2) or between workers_per_object (3)"
        in r.text
    )
    listed = httpx.get(f"{platform.api_url}/v1/jobs", headers=headers).json()["data"]
    assert not any(j["name"] == "auto-check" for j in listed)  # nothing was created
    # The CLI uploads the manifest as multipart, with the settings as a JSON form field.
    manifest = tmp_path / "sentences.manifest"
    manifest.write_text(lines)
    cli = ["--api", platform.api_url, "--api-key", requester_key]
    created = CliRunner().invoke(
        app,
        ["job", "create", "--name", "auto-cli", "--task-type", "text-classification", "--categories", "a,b",
         "--team", team["team_id"], "--manifest", str(manifest), "--auto-label", "--target-accuracy", "0.9",
         "--min-dataset-size", "100", "--max-human-labeled", "120", "--validation-workers", "4", "--json",
         *cli],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    job = json.loads(created.stdout)
    assert job["auto_labeling"] == {
        "enabled": True,
        "target_accuracy": 0.9,
        "min_dataset_size": 100,
        "max_human_labeled": 120,
        "validation_workers_per_object": 4,
    }
    shown = CliRunner().invoke(app, ["job", "auto-labeling", job["job_id"], "--json", *cli])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert report["objects"] == 150 and report["iterations"][0]["iteration"] == 0
    assert 0 < report["iterations"][0]["sent_to_humans"] <= 120
    # A job without automated labeling has no report.
    r = create(name="auto-check-off")
    assert r.status_code == 201
    r = httpx.get(f"{platform.api_url}/v1/jobs/{r.json()['job_id']}/auto-labeling", headers=headers)
    assert r.status_code == 409 and "does not use automated labeling" in r.text

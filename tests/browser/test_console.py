"""A requester uses the console in the browser: team and worker management (token shown once), creating a
job by uploading a manifest, following it, browsing its labels with filters, the workers page, stop and
download; a job with automated labeling created from the form and followed per iteration; images in the label
browser of a running job — against the real platform."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import httpx
from browser_helpers import api, assert_accessible_basics, screenshot

CATEGORIES = ["cat", "dog", "bird"]
TEXTS = ["a cat purrs", "a dog barks", "a bird sings", "another cat naps"]
GOLD = ["cat", "dog", "bird", "cat"]


def label_all(url: str, token: str, job_id: str, answer_for: Any) -> int:
    worker = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    n = 0
    while True:
        r = worker.post("/v1/worker/tasks/next", params={"job_id": job_id})
        if r.status_code == 204:
            return n
        assert r.status_code == 200, r.text
        task = r.json()
        ok = worker.post(f"/v1/worker/tasks/{task['task_id']}/answer", json={"label": answer_for(task)})
        assert ok.status_code == 200, ok.text
        n += 1


def test_requester_creates_a_job_in_the_browser_and_browses_its_labels(
    page: Any, platform: Any, requester_key: str
) -> None:
    client = api(platform.api_url, requester_key)
    resp = page.goto(f"{platform.api_url}/console/")
    assert "default-src 'self'" in resp.headers["content-security-policy"]
    page.get_by_label("API key").fill(requester_key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Jobs").wait_for()

    # Teams and workers: the token is shown once.
    page.get_by_role("link", name="Teams").click()
    page.get_by_label("Team name").fill("annotators")
    page.get_by_role("button", name="Create team").click()
    page.get_by_test_id("team-list").get_by_text("annotators").wait_for()
    tokens = []
    for name in ["Ann", "Bob"]:
        page.get_by_label("Worker name").fill(name)
        page.get_by_label("annotators").check()
        page.get_by_role("button", name="Add worker").click()
        page.get_by_text(f"Worker “{name}” added").wait_for()
        tokens.append(page.get_by_test_id("worker-token").inner_text().strip())
    screenshot(page, "console-teams")
    assert_accessible_basics(page)
    assert all(t and t not in page.url for t in tokens)
    assert {w["name"] for w in client.get("/v1/workers").json()["data"]} >= {"Ann", "Bob"}

    # Create a job by uploading a manifest file.
    page.get_by_role("link", name="New job").click()
    page.get_by_label("Job name").fill("animals")
    page.get_by_label("Task type").select_option("text-classification")
    page.get_by_label("Categories (one per line)").fill("\n".join(CATEGORIES))
    page.get_by_label("Instructions").fill("Which animal is it?")
    page.get_by_label("Workers per object").fill("2")
    page.get_by_label("Price per task (USD)").fill("0.04")
    # The last object is a known-answer object (classification jobs: the field shows for them only).
    page.get_by_label("Known-answer attribute").fill("gold-label")
    lines_in = [{"source": t, **({"gold-label": "cat"} if t == TEXTS[-1] else {})} for t in TEXTS]
    manifest = "\n".join(json.dumps(line) for line in lines_in).encode()
    page.get_by_label("Manifest file").set_input_files(
        files=[{"name": "input.manifest", "mimeType": "application/json", "buffer": manifest}]
    )
    screenshot(page, "console-create-job")
    assert_accessible_basics(page)
    page.get_by_role("button", name="Create job").click()
    page.get_by_role("heading", name="animals").wait_for()
    job = next(j for j in client.get("/v1/jobs").json()["data"] if j["name"] == "animals")
    assert job["task_type"] == "text-classification" and job["categories"] == CATEGORIES
    assert job["workers_per_object"] == 2 and job["counters"]["total"] == len(TEXTS)
    assert job["known_answer_attribute"] == "gold-label"

    # A custom job: the template and the post-processing choice appear for that type only, and reach the API.
    page.get_by_role("link", name="New job").click()
    assert page.get_by_label("Template (HTML)").is_hidden()
    page.get_by_label("Job name").fill("opinions")
    page.get_by_label("Task type").select_option("custom")
    assert page.get_by_label("Known-answer attribute").is_hidden()
    template = '<form><p>{{ task.input.source }}</p><input name="mood" aria-label="mood"></form>'
    page.get_by_label("Template (HTML)").fill(template)
    page.get_by_label("Answers kept").select_option("all")
    page.get_by_label("Manifest file").set_input_files(
        files=[{"name": "input.manifest", "mimeType": "application/json", "buffer": manifest}]
    )
    page.get_by_role("button", name="Create job").click()
    page.get_by_role("heading", name="opinions").wait_for()
    custom = next(j for j in client.get("/v1/jobs").json()["data"] if j["name"] == "opinions")
    assert custom["task_type"] == "custom"
    assert (custom["template"], custom["custom_consolidation"]) == (template, "all")

    # Two workers label it; Bob disagrees on the bird.
    gold = dict(zip(TEXTS, GOLD, strict=True))
    deadline = time.monotonic() + 30
    while client.get(f"/v1/jobs/{job['job_id']}").json()["status"] != "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert label_all(platform.api_url, tokens[0], job["job_id"], lambda t: gold[t["source"]]) == 4
    bob = lambda t: "cat" if "bird" in t["source"] else gold[t["source"]]  # noqa: E731
    assert label_all(platform.api_url, tokens[1], job["job_id"], bob) == 4
    while client.get(f"/v1/jobs/{job['job_id']}").json()["status"] != "completed":
        assert time.monotonic() < deadline + 30
        time.sleep(0.3)

    # The jobs list shows status, counts and cost; the label browser shows and filters labels.
    page.get_by_role("link", name="Jobs").click()
    row = page.locator(f"tr[data-job='{job['job_id']}']")
    row.get_by_text("completed").wait_for()
    assert "$0.32" in row.inner_text()  # 8 answers at $0.04
    screenshot(page, "console-jobs")
    row.get_by_role("link", name="animals").click()
    page.get_by_test_id("label-card").first.wait_for()
    assert page.get_by_test_id("label-count").inner_text() == "4 of 4 objects"
    page.get_by_label("Class").select_option("cat")
    assert (
        page.get_by_test_id("label-count")
        .inner_text()
        .startswith(
            f"{sum(1 for c in page.get_by_test_id('label-class').all_inner_texts() if c == 'cat')} of 4"
        )
    )
    assert set(page.get_by_test_id("label-class").all_inner_texts()) == {"cat"}
    page.get_by_label("Class").select_option("")
    page.get_by_label("Workers disagree").check()
    assert page.get_by_test_id("label-count").inner_text() == "1 of 4 objects"
    card = page.get_by_test_id("label-card")
    assert "a bird sings" in card.inner_text() and "human" in card.inner_text()
    card.get_by_text("2 worker answer(s)").click()
    assert '{"label":"cat"}' in card.inner_text() and '{"label":"bird"}' in card.inner_text()
    screenshot(page, "console-labels", full_page=True)
    page.get_by_label("Labeled by").select_option("machine")
    assert page.get_by_test_id("label-count").inner_text() == "0 of 4 objects"

    # Workers page: answers, time per task and accuracy per worker in the job.
    page.get_by_role("link", name="Workers").click()
    page.get_by_label("Job").select_option(label="animals")
    table = page.get_by_test_id("worker-quality")
    table.wait_for()
    text = table.inner_text()
    assert "Ann" in text and "Bob" in text and text.count("\t4\t") == 2
    # Both answered the known-answer object with its known class.
    assert "On known answers" in text and text.count(" of 1") == 2
    screenshot(page, "console-workers")

    # Download the output manifest; stop a running job.
    page.get_by_role("link", name="Jobs").click()
    with page.expect_download() as dl:
        row.get_by_role("button", name="Download animals").click()
    lines = [json.loads(x) for x in open(dl.value.path()).read().splitlines() if x]
    assert [line["source"] for line in lines] == TEXTS
    assert lines[-1]["gold-label"] == "cat" and lines[-1]["animals-metadata"]["confidence"] == 1.0

    running = client.post(
        "/v1/jobs",
        json={
            "name": "to-stop",
            "task_type": "text-classification",
            "categories": CATEGORIES,
            "team_id": job["team_id"],
            "manifest": json.dumps({"source": "x"}),
        },
    ).json()
    while client.get(f"/v1/jobs/{running['job_id']}").json()["status"] != "in_progress":
        time.sleep(0.3)
    page.reload()
    page.get_by_role("button", name="Stop to-stop").click()
    page.locator(f"tr[data-job='{running['job_id']}'] [data-testid=job-status]").filter(
        has_text="stop"
    ).wait_for()
    assert client.get(f"/v1/jobs/{running['job_id']}").json()["status"] in (
        "stopping",
        "stopped",
        "completed",
    )


def _pixel(page: Any, job_id: str, x: int, y: int) -> list[int]:
    return list(
        page.evaluate(
            """([x, y]) => Array.from(document.querySelector('[data-testid=label-image]')
                 .getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3))""",
            [x, y],
        )
    )


def _close(a: list[int], b: list[int] | tuple[int, ...], tol: int = 3) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def test_label_browser_draws_boxes_over_the_image_and_overlays_the_mask(
    page: Any, platform: Any, requester_key: str, tmp_path: Any
) -> None:
    import base64
    import io

    from PIL import Image, ImageDraw

    sky, tree = (156, 184, 216), (74, 124, 58)
    image = tmp_path / "park.png"
    im = Image.new("RGB", (400, 300), sky)
    ImageDraw.Draw(im).rectangle([40, 90, 160, 210], fill=tree)
    im.save(image)
    client = api(platform.api_url, requester_key)
    team = client.post("/v1/teams", json={"name": "viewers"}).json()
    token = client.post("/v1/workers", json={"name": "Vic", "team_ids": [team["team_id"]]}).json()["token"]
    worker = api(platform.api_url, token)

    def job(name: str, task_type: str, categories: list[str]) -> dict[str, Any]:
        r = client.post(
            "/v1/jobs",
            json={
                "name": name,
                "task_type": task_type,
                "categories": categories,
                "workers_per_object": 1,
                "team_id": team["team_id"],
                "manifest": json.dumps({"source-ref": str(image)}),
            },
        )
        assert r.status_code == 201, r.text
        return r.json()

    def answer_once(job_id: str, answer: Any) -> None:
        deadline = time.monotonic() + 30
        while (r := worker.post("/v1/worker/tasks/next", params={"job_id": job_id})).status_code != 200:
            assert time.monotonic() < deadline, r.text
            time.sleep(0.3)
        task = r.json()
        ok = worker.post(f"/v1/worker/tasks/{task['task_id']}/answer", json=answer(task))
        assert ok.status_code == 200, ok.text
        while client.get(f"/v1/jobs/{job_id}").json()["status"] != "completed":
            assert time.monotonic() < deadline + 30
            time.sleep(0.3)

    boxes = job("boxes-view", "bounding-box", ["tree", "car"])
    box = {"label": "tree", "left": 40, "top": 90, "width": 120, "height": 120}
    answer_once(
        boxes["job_id"],
        lambda t: {"payload": {"boxes": [box], "image_size": {"width": 400, "height": 300}}},
    )
    seg = job("mask-view", "semantic-segmentation", ["road", "car"])
    colors: list[str] = []

    def paint_road(task: dict[str, Any]) -> dict[str, Any]:
        colors.extend(task["color_map"])
        pixels = Image.new("RGB", (400, 300), "#ffffff")
        ImageDraw.Draw(pixels).rectangle([0, 150, 399, 299], fill=task["color_map"][0])
        buf = io.BytesIO()
        pixels.save(buf, format="PNG")
        return {"payload": {"mask_png": base64.b64encode(buf.getvalue()).decode()}}

    answer_once(seg["job_id"], paint_road)

    page.goto(f"{platform.api_url}/console/")
    page.get_by_label("API key").fill(requester_key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Jobs").wait_for()

    # Boxes: the image is fetched with the key (a blob: URL) and drawn under the consolidated box.
    page.goto(f"{platform.api_url}/console/#/jobs/{boxes['job_id']}")
    card = page.get_by_test_id("label-card")
    card.get_by_role("img", name="1 boxes").wait_for()
    page.locator("[data-testid=label-image][data-image=loaded]").wait_for()
    assert card.get_by_test_id("label-class").inner_text() == "tree"
    assert _close(_pixel(page, boxes["job_id"], 300, 50), sky)  # the image shows through
    assert _close(_pixel(page, boxes["job_id"], 100, 150), tree)  # inside the box: the image, not a fill
    assert _close(_pixel(page, boxes["job_id"], 40, 150), _rgb("#e6194b"))  # the box's edge, class 0
    screenshot(page, "console-labels-boxes")

    # Segmentation: the consolidated mask over the image, its white background transparent, with opacity.
    page.goto(f"{platform.api_url}/console/#/jobs/{seg['job_id']}")
    page.locator("[data-testid=label-image][data-mask=loaded][data-image=loaded]").wait_for()
    road = _rgb(colors[0])
    assert _close(_pixel(page, seg["job_id"], 300, 50), sky)  # unlabeled pixels: the image alone
    half = [round((s + r) / 2) for s, r in zip(sky, road, strict=True)]
    assert _close(_pixel(page, seg["job_id"], 300, 250), half)  # 50 % by default
    page.get_by_label("Mask opacity").fill("1")
    assert _close(_pixel(page, seg["job_id"], 300, 250), road)
    page.get_by_label("Mask opacity").fill("0")
    assert _close(_pixel(page, seg["job_id"], 300, 250), sky)
    page.get_by_label("Mask opacity").fill("0.6")
    screenshot(page, "console-labels-mask")
    assert_accessible_basics(page)

    # Workers page of the box job: the box consolidator's reliability, said in words; no confusion matrix.
    page.goto(f"{platform.api_url}/console/#/workers")
    page.get_by_label("Job").select_option(label="boxes-view")
    page.get_by_test_id("worker-quality").wait_for()
    assert "Vic" in page.get_by_test_id("worker-quality").inner_text()
    assert "box reliability" in page.get_by_test_id("quality-measures").inner_text()
    assert page.get_by_role("columnheader", name="Confusion matrix").count() == 0

    # A running job, object 1 labeled and object 0 not (yet): the console reads every object's line
    # (?include_unlabeled=true), so it knows the labeled line's object id and shows that object's image.
    sea = (40, 70, 200)
    Image.new("RGB", (200, 150), sea).save(tmp_path / "sea.png")
    running = client.post(
        "/v1/jobs",
        json={
            "name": "running-view",
            "task_type": "image-classification",
            "categories": ["park", "sea"],
            "workers_per_object": 1,
            "team_id": team["team_id"],
            "manifest": "\n".join(json.dumps({"source-ref": str(p)}) for p in [image, tmp_path / "sea.png"]),
        },
    ).json()
    deadline = time.monotonic() + 30
    while True:
        r = worker.post("/v1/worker/tasks/next", params={"job_id": running["job_id"]})
        if r.status_code != 200:
            assert time.monotonic() < deadline, r.text
            time.sleep(0.3)
            continue
        task = r.json()
        if task["object_id"] == 0:  # given back: this worker never sees it again, nobody else labels it
            assert worker.post(f"/v1/worker/tasks/{task['task_id']}/decline").status_code == 204
            continue
        ok = worker.post(f"/v1/worker/tasks/{task['task_id']}/answer", json={"label": "sea"})
        assert ok.status_code == 200, ok.text
        break
    while (j := client.get(f"/v1/jobs/{running['job_id']}").json())["counters"]["human_labeled"] != 1:
        assert time.monotonic() < deadline + 30
        time.sleep(0.3)
    assert j["status"] == "in_progress"
    gt_partial = client.get(f"/v1/jobs/{running['job_id']}/output").text.splitlines()
    assert len(gt_partial) == 1  # the default output: Ground Truth's, labeled objects only
    page.goto(f"{platform.api_url}/console/#/jobs/{running['job_id']}")
    page.get_by_role("heading", name="running-view").wait_for()  # not the mask page's canvas any more
    page.locator("[data-testid=label-image][data-image=loaded]").wait_for()
    assert page.get_by_test_id("label-count").inner_text() == "1 of 1 objects"
    assert page.get_by_test_id("label-pending").inner_text().startswith("1 object(s) not labeled yet")
    assert page.get_by_test_id("label-class").inner_text() == "sea"
    assert _close(_pixel(page, running["job_id"], 100, 75), sea)  # object 1's image, not object 0's
    card = page.get_by_test_id("label-card")
    card.get_by_text("1 worker answer(s)").click()
    assert '{"label":"sea"}' in card.inner_text()  # the raw answers of object 1 too
    screenshot(page, "console-labels-running")


# Short sentences of three topics that sentence embeddings tell apart easily (as in
# tests/integration/test_autolabel_end_to_end.py).
TOPICS = {
    "sports": ["The striker scored twice", "Our goalkeeper saved a penalty", "The team won the final"],
    "weather": ["Heavy rain is expected tonight", "A cold wind blows from the north", "Sunny skies all week"],
    "cooking": ["Simmer the sauce for ten minutes", "Knead the bread dough gently", "Season the soup"],
}
ENDINGS = ["today", "again", "as usual", "this time", "once more", "for the fans", "in the city", "at last"]


def topic_items(n: int, seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    items = {}
    for i in range(n):
        topic = rng.choice(sorted(TOPICS))
        items[f"{rng.choice(TOPICS[topic])} {rng.choice(ENDINGS)} (#{i})"] = topic
    return items


def test_requester_creates_an_auto_labeling_job_and_follows_its_iterations(
    page: Any, platform: Any, requester_key: str
) -> None:
    client = api(platform.api_url, requester_key)
    team = client.post("/v1/teams", json={"name": "auto-labelers"}).json()
    token = client.post("/v1/workers", json={"name": "Ada", "team_ids": [team["team_id"]]}).json()["token"]
    items = topic_items(150, seed=3)
    page.goto(f"{platform.api_url}/console/")
    page.get_by_label("API key").fill(requester_key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Jobs").wait_for()

    # The New-job form: automated labeling only for classification types, its settings only once enabled.
    page.get_by_role("link", name="New job").click()
    page.get_by_label("Task type").select_option("bounding-box")
    assert page.get_by_label("Enable automated labeling").is_hidden()
    page.get_by_label("Task type").select_option("text-classification")
    page.get_by_label("Job name").fill("topics-auto")
    page.get_by_label("Team").select_option(label="auto-labelers")
    page.get_by_label("Categories (one per line)").fill("\n".join(sorted(TOPICS)))
    page.get_by_label("Workers per object").fill("1")
    page.get_by_label("Price per task (USD)").fill("0.02")
    assert page.get_by_label("Target accuracy").is_disabled()
    page.get_by_label("Enable automated labeling").check()
    assert page.get_by_label("Target accuracy").input_value() == "0.95"  # the default
    page.get_by_label("Target accuracy").fill("0.8")
    page.get_by_label("Minimum dataset size").fill("100")
    manifest = "\n".join(json.dumps({"source": t}) for t in items).encode()
    page.get_by_label("Manifest file").set_input_files(
        files=[{"name": "topics.manifest", "mimeType": "application/json", "buffer": manifest}]
    )
    assert_accessible_basics(page)
    screenshot(page, "console-create-job-auto-labeling", full_page=True)
    page.get_by_role("button", name="Create job").click()
    page.get_by_role("heading", name="topics-auto").wait_for()
    job = next(j for j in client.get("/v1/jobs").json()["data"] if j["name"] == "topics-auto")
    assert job["auto_labeling"] == {
        "enabled": True,
        "target_accuracy": 0.8,
        "min_dataset_size": 100,
        "max_human_labeled": 0,
        "validation_workers_per_object": 0,
    }

    # The jobs list links its automated-labeling page: iteration 0, the random first batch sent to humans.
    page.get_by_role("link", name="Jobs", exact=True).click()
    row = page.locator(f"tr[data-job='{job['job_id']}']")
    row.get_by_role("link", name="Auto-labeling").click()
    page.get_by_role("heading", name="Automated labeling: topics-auto").wait_for()
    report = client.get(f"/v1/jobs/{job['job_id']}/auto-labeling").json()
    first = report["iterations"][0]["sent_to_humans"]
    assert report["iterations"][0]["iteration"] == 0 and 0 < first < len(items)
    table = page.get_by_test_id("auto-labeling-iterations")
    assert table.locator("tr[data-iteration='0'] [data-testid=sent-to-humans]").inner_text() == str(first)
    chart = page.get_by_test_id("auto-labeling-chart")
    assert chart.locator("[data-column='0']").get_attribute("data-sent") == str(first)
    title_id = chart.get_attribute("aria-labelledby").split()[0]
    assert "Objects per iteration" in page.locator(f"[id='{title_id}']").text_content()
    assert page.get_by_role("img", name="Estimated accuracy of machine labels").is_visible()
    assert "target accuracy 0.80" in page.get_by_test_id("auto-labeling-settings").inner_text()
    assert_accessible_basics(page)

    # A worker labels the first batch through the API; the model trains (inference: MiniLM) and iteration 1
    # machine-labels what it is sure of; the page shows it after a refresh.
    deadline = time.monotonic() + 30
    while client.get(f"/v1/jobs/{job['job_id']}").json()["status"] != "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert label_all(platform.api_url, token, job["job_id"], lambda t: items[t["source"]]) == first
    deadline = time.monotonic() + 300  # a MiniLM training on a loaded 2-core machine took over 120 s once
    while len((report := client.get(f"/v1/jobs/{job['job_id']}/auto-labeling").json())["iterations"]) < 2:
        assert time.monotonic() < deadline, report
        time.sleep(0.5)
    one = report["iterations"][1]
    assert one["model_version"] >= 1 and one["human_labeled_total"] == first
    page.get_by_role("button", name="Refresh").click()
    column = chart.locator("[data-column='1']")
    column.wait_for()
    assert column.get_attribute("data-machine") == str(one["machine_labeled_total"])
    assert table.locator("tr[data-iteration='1']").is_visible()
    assert page.get_by_test_id("auto-labeling-accuracy").locator("circle").count() >= 1
    screenshot(page, "console-auto-labeling", full_page=True)

    # The job's label browser shows its labeled objects, human and machine alike.
    page.get_by_role("link", name="Labels of this job").click()
    page.get_by_test_id("label-card").first.wait_for()
    # Iterations go on in the background, so the page and the API are compared at the same moment: a count
    # that differs from the report read just after it must match once the page is reloaded.
    deadline = time.monotonic() + 30
    while True:
        shown = page.get_by_test_id("label-count").inner_text()
        report = client.get(f"/v1/jobs/{job['job_id']}/auto-labeling").json()
        labeled = report["human_labeled"] + report["machine_labeled"]
        if shown == f"{labeled} of {labeled} objects":
            break
        assert time.monotonic() < deadline, (shown, labeled)
        page.reload()
        page.get_by_test_id("label-card").first.wait_for()
    assert labeled >= first


def test_a_slow_page_never_replaces_the_page_opened_after_it(
    page: Any, platform: Any, requester_key: str
) -> None:
    page.goto(f"{platform.api_url}/console/")
    page.get_by_label("API key").fill(requester_key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Jobs").wait_for()
    page.get_by_role("link", name="Teams").click()
    page.get_by_role("heading", name="Teams").wait_for()

    # The jobs list hangs on its request; the user moves on to the New-job form meanwhile.
    held: list[Any] = []
    page.route("**/v1/jobs?page_size=200", lambda route: held.append(route))
    page.get_by_role("link", name="Jobs", exact=True).click()
    deadline = time.monotonic() + 10
    while not held:
        assert time.monotonic() < deadline, "the jobs list never asked for its jobs"
        page.wait_for_timeout(50)
    page.get_by_role("link", name="New job").click()
    page.get_by_role("heading", name="New job").wait_for()

    # The jobs list's answer arrives late: the form stays, its fields usable.
    with page.expect_response("**/v1/jobs?page_size=200"):
        held[0].continue_()
    page.wait_for_timeout(300)  # the late page would render within a few milliseconds of its answer
    assert page.get_by_role("heading", name="New job").is_visible()
    assert not page.get_by_role("heading", name="Jobs").is_visible()
    page.get_by_label("Task type").select_option("text-classification", timeout=2000)

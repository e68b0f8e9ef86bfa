"""A worker signs in to the portal and labels a text-classification job with the keyboard, through the real
platform; the labels appear in the job's output manifest. Also: a worker sees only its teams' jobs."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from browser_helpers import ARTIFACTS, api, assert_accessible_basics, screenshot, select_text

CATEGORIES = ["negative", "neutral", "positive"]
CATEGORIES_ANIMALS = ["cat", "dog", "bird"]
# A 2x2 PNG as a data URL: example images in instructions are same-origin or data: URLs (CSP).
GOOD_EXAMPLE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGO02eLNwMDAxMDAwMDA"
    "AAAO3wE/UpD7+gAAAABJRU5ErkJggg=="
)
GOLD = ["positive", "negative", "neutral", "positive"]


def make_job(client: httpx.Client, team_id: str, name: str, gold: list[str]) -> dict[str, Any]:
    manifest = "\n".join(json.dumps({"source": f"review {i}: it was {g}"}) for i, g in enumerate(gold))
    r = client.post(
        "/v1/jobs",
        json={
            "name": name,
            "task_type": "text-classification",
            "categories": CATEGORIES,
            "workers_per_object": 1,
            "task_time_limit_s": 120,
            "price_per_task_usd": 0.05,
            "team_id": team_id,
            "manifest": manifest,
            "instructions": "Pick the sentiment of the review.\n\nFull version: read it all.\n"
            f"good: {GOOD_EXAMPLE} a clear positive review",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def wait_job(client: httpx.Client, job_id: str, status: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] == status:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} is {job.get('status')}, not {status}")


def test_worker_labels_a_classification_job_with_the_keyboard(
    page: Any, platform: Any, requester_key: str
) -> None:
    client = api(platform.api_url, requester_key)
    team = client.post("/v1/teams", json={"name": "portal-team"}).json()
    other = client.post("/v1/teams", json={"name": "other-team"}).json()
    created = client.post("/v1/workers", json={"name": "Grace", "team_ids": [team["team_id"]]}).json()
    job = make_job(client, team["team_id"], "reviews-portal", GOLD)
    hidden = make_job(client, other["team_id"], "other-team-job", ["neutral"])
    wait_job(client, job["job_id"], "in_progress")

    resp = page.goto(f"{platform.api_url}/portal/")
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    page.get_by_label("Worker token").fill("not-a-token")
    page.keyboard.press("Enter")
    page.get_by_text("That token is not valid.").wait_for()
    page.get_by_label("Worker token").fill(created["token"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Hello, Grace").wait_for()
    assert page.get_by_role("cell", name="reviews-portal", exact=True).count() == 1
    assert page.get_by_text("other-team-job").count() == 0  # another team's job is not shown
    assert page.get_by_test_id("waiting").inner_text() == str(len(GOLD))
    assert created["token"] not in page.url
    screenshot(page, "portal-home")
    assert_accessible_basics(page)

    nexts: list[str] = []
    page.on(
        "request",
        lambda r: nexts.append(r.url) if r.url.endswith("/tasks/next?job_id=" + job["job_id"]) else None,
    )
    page.get_by_role("button", name="Start “reviews-portal”").click()
    page.get_by_test_id("object-text").wait_for()
    page.wait_for_timeout(300)
    assert len(nexts) == 2  # the next task is already being fetched while the first is open
    shown_after: list[float] = []
    for n in range(len(GOLD)):
        text = page.get_by_test_id("object-text")
        text.wait_for()
        content = text.inner_text()
        gold = content.rsplit(" ", 1)[1]
        assert page.get_by_test_id("countdown").inner_text().endswith("left")
        if n == 0:
            assert "Pick the sentiment" in page.get_by_test_id("short-instructions").inner_text()
            page.get_by_text("Full instructions and examples").click()
            example = page.get_by_role("figure")
            assert example.get_by_text("Good example: a clear positive review").count() == 1
            page.wait_for_function("() => document.querySelector('figure img').naturalWidth === 2")
            page.keyboard.press(str(CATEGORIES.index(gold) + 1))
            screenshot(page, "tool-text-classification")
        else:
            page.keyboard.press(str(CATEGORIES.index(gold) + 1))
        started = time.perf_counter()
        page.keyboard.press("Enter")
        # The next object is shown (or the end notice): wait for the text to change.
        page.wait_for_function(
            "(old) => { const t = document.querySelector('[data-testid=object-text]');"
            " return !t || t.textContent !== old; }",
            arg=content,
        )
        if n < len(GOLD) - 1:
            shown_after.append(time.perf_counter() - started)
    page.get_by_text("No more tasks for you right now").wait_for()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / "timings.txt", "a") as f:
        ms = sorted(round(x * 1000) for x in shown_after)
        f.write(f"portal: Enter -> next task shown (prefetched), ms: {ms}\n")
    assert page.get_by_test_id("done-total").inner_text() == str(len(GOLD))

    done = wait_job(client, job["job_id"], "completed")
    assert done["counters"]["human_labeled"] == len(GOLD)
    lines = [json.loads(x) for x in client.get(f"/v1/jobs/{job['job_id']}/output").text.splitlines() if x]
    attr = done["label_attribute_name"]
    labels = {line["source"]: line[f"{attr}-metadata"]["class-name"] for line in lines}
    assert labels == {f"review {i}: it was {g}": g for i, g in enumerate(GOLD)}

    # The worker's token cannot reach the other team's job through the API either.
    worker = httpx.Client(base_url=platform.api_url, headers={"Authorization": f"Bearer {created['token']}"})
    refused = worker.post("/v1/worker/tasks/next", params={"job_id": hidden["job_id"]})
    assert refused.status_code in (204, 403, 404) and not refused.content.startswith(b'{"task_id"')
    assert [j["job_id"] for j in worker.get("/v1/worker/jobs").json()["data"]] == []  # its job is completed

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Worker token").wait_for()
    assert page.evaluate("() => sessionStorage.length") == 0


def test_an_expired_lease_is_told_before_submitting(page: Any, platform: Any, requester_key: str) -> None:
    client = api(platform.api_url, requester_key)
    team = client.post("/v1/teams", json={"name": "slow-team"}).json()
    created = client.post("/v1/workers", json={"name": "Slow", "team_ids": [team["team_id"]]}).json()
    manifest = json.dumps({"source": "a short review"})
    job = client.post(
        "/v1/jobs",
        json={
            "name": "quick-job",
            "task_type": "text-classification",
            "categories": CATEGORIES,
            "workers_per_object": 1,
            "task_time_limit_s": 3,
            "team_id": team["team_id"],
            "manifest": manifest,
        },
    ).json()
    wait_job(client, job["job_id"], "in_progress")
    page.goto(f"{platform.api_url}/portal/")
    page.get_by_label("Worker token").fill(created["token"])
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Start “quick-job”").click()
    page.get_by_test_id("object-text").wait_for()
    page.keyboard.press("1")
    page.get_by_text("Time is up for this task").wait_for(timeout=8000)
    assert page.get_by_role("button", name="Submit (Enter)").is_disabled()
    screenshot(page, "portal-expired-lease")
    page.keyboard.press("Enter")  # nothing is sent for an expired lease
    assert client.get(f"/v1/jobs/{job['job_id']}").json()["answers"] == 0


def sign_in_and_start(page: Any, url: str, token: str, job_name: str) -> None:
    page.goto(f"{url}/portal/")
    page.get_by_label("Worker token").fill(token)
    page.keyboard.press("Enter")
    page.get_by_role("button", name=f"Start “{job_name}”").click()


def tool_point(page: Any, sel: str, x: float, y: float) -> tuple[float, float]:
    """Screen position of image pixel (x, y) on the portal's tool canvas (fit view: the image centred)."""
    box = page.locator(sel).bounding_box()
    w, h = page.evaluate(
        f"() => [document.querySelector('{sel}').width, document.querySelector('{sel}').height]"
    )
    iw, ih = 400, 300
    scale = min(w / iw, h / ih)
    ox, oy = (w - iw * scale) / 2, (h - ih * scale) / 2
    ratio = box["width"] / w
    return box["x"] + (x * scale + ox) * ratio, box["y"] + (y * scale + oy) * ratio


def structured_job(
    client: httpx.Client,
    team_id: str,
    name: str,
    task_type: str,
    categories: list[str],
    lines: list[dict[str, Any]],
) -> dict[str, Any]:
    r = client.post(
        "/v1/jobs",
        json={
            "name": name,
            "task_type": task_type,
            "categories": categories,
            "workers_per_object": 1,
            "task_time_limit_s": 120,
            "team_id": team_id,
            "manifest": "\n".join(json.dumps(x) for x in lines),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def output_of(client: httpx.Client, job: dict[str, Any]) -> list[dict[str, Any]]:
    done = wait_job(client, job["job_id"], "completed")
    return [json.loads(x) for x in client.get(f"/v1/jobs/{done['job_id']}/output").text.splitlines() if x]


CUSTOM_TEMPLATE = """<h2 data-testid="review">{{ task.input.source }}</h2>
<form><input type="hidden" name="lang" value="{{ task.input.lang }}">
<label>Score (1-5) <input name="score" type="number" min="1" max="5" required></label>
<button type="submit">Send</button></form>"""


def test_worker_answers_a_custom_template_task_in_the_portal(
    page: Any, platform: Any, requester_key: str
) -> None:
    client = api(platform.api_url, requester_key)
    team = client.post("/v1/teams", json={"name": "custom-team"}).json()
    token = client.post("/v1/workers", json={"name": "Cleo", "team_ids": [team["team_id"]]}).json()["token"]
    r = client.post(
        "/v1/jobs",
        json={
            "name": "custom-e2e",
            "task_type": "custom",
            "template": CUSTOM_TEMPLATE,
            "workers_per_object": 1,
            "task_time_limit_s": 120,
            "team_id": team["team_id"],
            "label_attribute_name": "rating",
            "manifest": json.dumps({"source": "<i>Great</i> film & cast", "lang": "en"}),
        },
    )
    assert r.status_code == 201, r.text
    job = r.json()
    wait_job(client, job["job_id"], "in_progress")
    sign_in_and_start(page, platform.api_url, token, "custom-e2e")
    frame = page.frame_locator("[data-testid=template-frame]")
    # The template is filled from the task input (the manifest line), as text, not markup.
    assert frame.get_by_test_id("review").inner_text() == "<i>Great</i> film & cast"
    frame.get_by_label("Score (1-5)").fill("5")
    screenshot(page, "portal-custom-template")
    frame.get_by_role("button", name="Send").click()  # submitting the form submits the answer
    page.get_by_text("No more tasks for you right now").wait_for()
    (line,) = output_of(client, job)
    assert line["source"] == "<i>Great</i> film & cast"
    assert line["rating"] == {"lang": "en", "score": "5"}
    meta = line["rating-metadata"]
    assert meta["type"] == "groundtruth/custom" and meta["job-name"] == "custom-e2e"
    assert meta["confidence"] == 1.0


def test_worker_labels_boxes_entities_and_masks_in_the_portal(
    page: Any, platform: Any, requester_key: str, tmp_path: Any
) -> None:
    from PIL import Image, ImageDraw

    image = tmp_path / "street.png"
    im = Image.new("RGB", (400, 300), "#9cb8d8")
    ImageDraw.Draw(im).rectangle([40, 90, 160, 210], fill="#4a7c3a")
    im.save(image)
    client = api(platform.api_url, requester_key)
    team = client.post("/v1/teams", json={"name": "tools-team"}).json()
    token = client.post("/v1/workers", json={"name": "Tess", "team_ids": [team["team_id"]]}).json()["token"]

    # Bounding boxes: the image comes through the gateway with the worker's token.
    boxes = structured_job(
        client, team["team_id"], "boxes-e2e", "bounding-box", ["tree", "car"], [{"source-ref": str(image)}]
    )
    wait_job(client, boxes["job_id"], "in_progress")
    sign_in_and_start(page, platform.api_url, token, "boxes-e2e")
    sel = "[data-testid=box-canvas]"
    page.locator(sel).wait_for()
    page.wait_for_timeout(300)
    page.mouse.move(*tool_point(page, sel, 40, 90))
    page.mouse.down()
    page.mouse.move(*tool_point(page, sel, 160, 210), steps=5)
    page.mouse.up()
    screenshot(page, "portal-bounding-box")
    page.get_by_role("button", name="Submit (Enter)").click()
    page.get_by_text("No more tasks for you right now").wait_for()
    (line,) = output_of(client, boxes)
    label = line[boxes["label_attribute_name"]]
    (ann,) = label["annotations"]
    assert abs(ann["left"] - 40) <= 2 and abs(ann["top"] - 90) <= 2 and abs(ann["width"] - 120) <= 2
    assert label["image_size"][0]["width"] == 400
    assert line[boxes["label_attribute_name"] + "-metadata"]["class-map"][str(ann["class_id"])] == "tree"

    # The requester's label browser draws the consolidated box and shows the worker's raw answer.
    console = page.context.new_page()
    console.goto(f"{platform.api_url}/console/")
    console.get_by_label("API key").fill(requester_key)
    console.keyboard.press("Enter")
    console.get_by_role("heading", name="Jobs").wait_for()
    console.goto(f"{platform.api_url}/console/#/jobs/{boxes['job_id']}")
    card = console.get_by_test_id("label-card")
    card.wait_for()
    assert card.get_by_test_id("label-class").inner_text() == "tree"
    assert card.get_by_role("img", name="1 boxes").count() == 1
    card.get_by_text("1 worker answer(s)").click()
    assert "Tess: " in card.inner_text() and '"boxes"' in card.inner_text()
    screenshot(console, "console-labels-boxes")
    console.close()

    # Image classification: the image comes through the gateway too.
    cls = structured_job(
        client,
        team["team_id"],
        "image-cls-e2e",
        "image-classification",
        ["tree", "car"],
        [{"source-ref": str(image)}],
    )
    wait_job(client, cls["job_id"], "in_progress")
    page.reload()
    page.get_by_role("button", name="Start “image-cls-e2e”").click()
    page.wait_for_function(
        "() => { const i = document.querySelector('img.object-image'); return i && i.naturalWidth === 400; }"
    )
    screenshot(page, "portal-image-classification")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.get_by_text("No more tasks for you right now").wait_for()
    (line,) = output_of(client, cls)
    assert line[f"{cls['label_attribute_name']}-metadata"]["class-name"] == "tree"

    # Named entities, selected with the mouse.
    text = "Ada Lovelace lived in London."
    ner = structured_job(
        client,
        team["team_id"],
        "ner-e2e",
        "named-entity-recognition",
        ["Person", "Place"],
        [{"source": text}],
    )
    wait_job(client, ner["job_id"], "in_progress")
    page.reload()  # the home page lists the jobs open now
    page.get_by_role("button", name="Start “ner-e2e”").click()
    page.get_by_test_id("ner-text").wait_for()
    select_text(page, 0, 12)  # "Ada Lovelace", with the mouse
    page.keyboard.press("1")
    select_text(page, 22, 28)  # "London"
    page.keyboard.press("2")
    screenshot(page, "portal-named-entity-recognition")
    page.keyboard.press("Enter")
    page.get_by_text("No more tasks for you right now").wait_for()
    (line,) = output_of(client, ner)
    ents = line[ner["label_attribute_name"]]["annotations"]["entities"]
    assert sorted((e["label"], e["startOffset"], e["endOffset"]) for e in ents) == [
        ("Person", 0, 12),
        ("Place", 22, 28),
    ]

    # Semantic segmentation: a polygon, submitted as a PNG in the job's colour map.
    seg = structured_job(
        client,
        team["team_id"],
        "seg-e2e",
        "semantic-segmentation",
        ["tree", "sky"],
        [{"source-ref": str(image)}],
    )
    wait_job(client, seg["job_id"], "in_progress")
    page.reload()  # the home page lists the jobs open now
    page.get_by_role("button", name="Start “seg-e2e”").click()
    sel = "[data-testid=seg-canvas]"
    page.locator(sel).wait_for()
    page.wait_for_timeout(300)
    for x, y in [(40, 90), (160, 90), (160, 210), (40, 210)]:
        page.mouse.click(*tool_point(page, sel, x, y))
    page.keyboard.press("Enter")  # closes the polygon
    screenshot(page, "portal-semantic-segmentation")
    page.keyboard.press("Enter")  # submits
    page.get_by_text("No more tasks for you right now").wait_for()
    (line,) = output_of(client, seg)
    attr = seg["label_attribute_name"] + "-ref"
    assert isinstance(line[attr], str) and line[attr]
    cmap = line[attr + "-metadata"]["internal-color-map"]
    tree = next(v["hex-color"] for v in cmap.values() if v["class-name"] == "tree")
    # The consolidated mask is a PNG the platform wrote: the polygon's pixels carry the tree colour.
    mask_path = line[attr].removeprefix("file://")
    rgb = tuple(int(tree[i : i + 2], 16) for i in (1, 3, 5))
    counts = {c: n for n, c in Image.open(mask_path).convert("RGB").getcolors(400 * 300)}
    assert abs(counts.get(rgb, 0) - 120 * 120) <= 600, (line[attr], cmap, len(counts))


def test_worker_adjusts_and_verifies_boxes_of_a_ground_truth_manifest(
    page: Any, platform: Any, requester_key: str, tmp_path: Any
) -> None:
    from PIL import Image

    image = tmp_path / "dog.png"
    Image.new("RGB", (400, 300), "#c8b89a").save(image)
    # A line as Ground Truth writes a bounding-box job's output.
    line = {
        "source-ref": str(image),
        "animals": {
            "image_size": [{"width": 400, "height": 300, "depth": 3}],
            "annotations": [{"class_id": 0, "left": 40, "top": 90, "width": 120, "height": 120}],
        },
        "animals-metadata": {
            "objects": [{"confidence": 0.8}],
            "class-map": {"0": "dog"},
            "type": "groundtruth/object-detection",
            "human-annotated": "yes",
            "creation-date": "2024-01-01T00:00:00.000000",
            "job-name": "labeling-job/animals",
        },
    }
    client = api(platform.api_url, requester_key)
    team = client.post("/v1/teams", json={"name": "review-team"}).json()
    token = client.post("/v1/workers", json={"name": "Rita", "team_ids": [team["team_id"]]}).json()["token"]

    def chained(name: str, task_type: str, categories: list[str]) -> dict[str, Any]:
        r = client.post(
            "/v1/jobs",
            json={
                "name": name,
                "task_type": task_type,
                "categories": categories,
                "workers_per_object": 1,
                "team_id": team["team_id"],
                "manifest": json.dumps(line),
                "source_label_attribute": "animals",
            },
        )
        assert r.status_code == 201, r.text
        return wait_job(client, r.json()["job_id"], "in_progress")

    adjust = chained("adjust-e2e", "adjustment", ["dog", "cat"])
    sign_in_and_start(page, platform.api_url, token, "adjust-e2e")
    sel = "[data-testid=box-canvas]"
    page.locator(sel).wait_for()
    page.wait_for_timeout(300)
    page.mouse.move(*tool_point(page, sel, 100, 150))  # drag the pre-filled box 30 px to the right
    page.mouse.down()
    page.mouse.move(*tool_point(page, sel, 130, 150), steps=5)
    page.mouse.up()
    screenshot(page, "portal-adjustment")
    page.keyboard.press("Enter")
    page.get_by_text("No more tasks for you right now").wait_for()
    (out,) = output_of(client, adjust)
    attr = adjust["label_attribute_name"]
    assert out[f"{attr}-metadata"]["adjustment-status"] == "adjusted"
    (ann,) = out[attr]["annotations"]
    assert abs(ann["left"] - 70) <= 2 and abs(ann["width"] - 120) <= 2
    assert out["animals"] == line["animals"]  # the original label is kept beside the new one

    verify = chained("verify-e2e", "label-verification", ["correct", "incorrect"])
    page.reload()
    page.get_by_role("button", name="Start “verify-e2e”").click()
    page.locator(sel).wait_for()
    assert page.get_by_role("button", name="Delete").count() == 0  # the boxes are read-only
    page.keyboard.press("2")
    page.get_by_label("Comment (optional)").fill("the box misses the tail")
    screenshot(page, "portal-label-verification")
    page.get_by_role("button", name="Submit (Enter)").click()
    page.get_by_text("No more tasks for you right now").wait_for()
    (out,) = output_of(client, verify)
    meta = out[f"{verify['label_attribute_name']}-metadata"]
    assert meta["class-name"] == "incorrect"
    assert meta["worker-feedback"] == [{"comment": "the box misses the tail"}]


def test_skip_comes_back_later_and_decline_gives_the_task_away(
    page: Any, platform: Any, requester_key: str
) -> None:
    client = api(platform.api_url, requester_key)
    team = client.post("/v1/teams", json={"name": "multi-team"}).json()
    token = client.post("/v1/workers", json={"name": "Mia", "team_ids": [team["team_id"]]}).json()["token"]
    texts = ["first: cat and bird", "second: dog"]
    job = structured_job(
        client,
        team["team_id"],
        "multi-e2e",
        "text-classification-multilabel",
        CATEGORIES_ANIMALS,
        [{"source": t} for t in texts],
    )
    wait_job(client, job["job_id"], "in_progress")
    sign_in_and_start(page, platform.api_url, token, "multi-e2e")
    text = page.get_by_test_id("object-text")
    text.wait_for()
    skipped = text.inner_text()
    page.get_by_role("button", name="Skip").click()  # the other object comes next...
    page.wait_for_function(
        "(old) => document.querySelector('[data-testid=object-text]').textContent !== old", arg=skipped
    )
    seen = []
    for _ in range(2):  # ...and the skipped one comes back after it
        content = text.inner_text()
        seen.append(content)
        for i, cat in enumerate(CATEGORIES_ANIMALS):
            if cat in content:
                page.keyboard.press(str(i + 1))
        screenshot(page, "portal-multilabel")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "(old) => { const t = document.querySelector('[data-testid=object-text]');"
            " return !t || t.textContent !== old; }",
            arg=content,
        )
    assert seen[1] == skipped
    page.get_by_text("No more tasks for you right now").wait_for()
    lines = output_of(client, job)
    attr = job["label_attribute_name"]
    got = {x["source"]: sorted(x[f"{attr}-metadata"]["class-map"].values()) for x in lines}
    assert got == {texts[0]: ["bird", "cat"], texts[1]: ["dog"]}

    # Decline: the task goes back to the pool for other workers and is not offered to this one again.
    declined = structured_job(
        client, team["team_id"], "decline-e2e", "text-classification", CATEGORIES, [{"source": "only one"}]
    )
    wait_job(client, declined["job_id"], "in_progress")
    page.reload()
    page.get_by_role("button", name="Start “decline-e2e”").click()
    text.wait_for()
    page.get_by_role("button", name="Decline").click()
    page.get_by_text("No more tasks for you right now").wait_for()
    assert client.get(f"/v1/jobs/{declined['job_id']}").json()["answers"] == 0
    other = client.post("/v1/workers", json={"name": "Otto", "team_ids": [team["team_id"]]}).json()["token"]
    r = httpx.post(
        f"{platform.api_url}/v1/worker/tasks/next",
        params={"job_id": declined["job_id"]},
        headers={"Authorization": f"Bearer {other}"},
    )
    assert r.status_code == 200 and r.json()["source"] == "only one"

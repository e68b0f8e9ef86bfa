"""Each task tool's editing logic in the real page (served by the gateway with its CSP), driven with the mouse
and keyboard; the assertions read the exact answer body the portal would submit."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import pytest
from browser_helpers import (
    ARTIFACTS,
    assert_accessible_basics,
    canvas_point,
    image_data_url,
    screenshot,
    select_text,
)

W, H = 400, 300


def open_preview(page: Any, pages_url: str, task: dict[str, Any]) -> None:
    page.goto(f"{pages_url}/portal/preview")
    page.wait_for_selector("body[data-ready=true]")
    if task.get("image_url") == "generated":
        task["image_url"] = image_data_url(page, W, H)
    page.evaluate("(t) => window.quorumPreview.mount(t)", task)


def answer(page: Any) -> dict[str, Any]:
    result = page.evaluate("() => window.quorumPreview.answer()")
    assert result["ok"], result
    return result["body"]


def drag(page: Any, sel: str, a: tuple[float, float], b: tuple[float, float]) -> None:
    page.mouse.move(*canvas_point(page, sel, *a))
    page.mouse.down()
    page.mouse.move(*canvas_point(page, sel, *b), steps=5)
    page.mouse.up()


def test_preview_page_sends_a_strict_csp(page: Any, pages_url: str) -> None:
    resp = page.goto(f"{pages_url}/portal/preview")
    csp = resp.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    # An inline script injected into the page is refused by the browser.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.pwned = 1'; document.body.append(s); }"
    )
    assert page.evaluate("() => window.pwned") is None
    page.console_errors.clear()  # the refusal above is logged as an error on purpose


def test_bounding_box_draw_move_resize_class_delete_undo(page: Any, pages_url: str) -> None:
    task = {
        "task_type": "bounding-box",
        "categories": ["car", "tree"],
        "image_url": "generated",
        "job_name": "Boxes",
    }
    open_preview(page, pages_url, task)
    sel = "[data-testid=box-canvas]"
    assert not page.evaluate("() => window.quorumPreview.answer()")["ok"]  # nothing drawn, nothing ticked

    drag(page, sel, (40, 90), (160, 210))  # draw a car
    boxes = answer(page)["payload"]["boxes"]
    assert len(boxes) == 1 and boxes[0]["label"] == "car"
    b = boxes[0]
    assert abs(b["left"] - 40) <= 1.5 and abs(b["top"] - 90) <= 1.5
    assert abs(b["width"] - 120) <= 1.5 and abs(b["height"] - 120) <= 1.5
    assert answer(page)["payload"]["image_size"] == {"width": W, "height": H}

    page.keyboard.press("2")  # class key: the selected box becomes a tree
    assert answer(page)["payload"]["boxes"][0]["label"] == "tree"

    drag(page, sel, (100, 150), (130, 160))  # move by (+30, +10)
    b = answer(page)["payload"]["boxes"][0]
    assert abs(b["left"] - 70) <= 1.5 and abs(b["top"] - 100) <= 1.5 and abs(b["width"] - 120) <= 1.5

    drag(page, sel, (190, 220), (250, 260))  # resize from the bottom-right corner
    b = answer(page)["payload"]["boxes"][0]
    assert abs(b["left"] - 70) <= 1.5 and abs(b["width"] - 180) <= 1.5 and abs(b["height"] - 160) <= 1.5

    page.keyboard.press("ArrowRight")
    assert abs(answer(page)["payload"]["boxes"][0]["left"] - 71) <= 1.5

    page.keyboard.press("Escape")  # deselect, so the class key only picks the class of the next box
    page.keyboard.press("1")
    drag(page, sel, (300, 20), (380, 80))  # a second box, a car
    assert [x["label"] for x in answer(page)["payload"]["boxes"]] == ["tree", "car"]
    screenshot(page, "tool-bounding-box")
    assert_accessible_basics(page)

    page.keyboard.press("Delete")
    assert len(answer(page)["payload"]["boxes"]) == 1
    page.keyboard.press("Control+z")  # undo the delete
    assert len(answer(page)["payload"]["boxes"]) == 2
    page.keyboard.press("Control+z")  # undo the second box
    page.keyboard.press("Control+z")  # undo the nudge
    assert abs(answer(page)["payload"]["boxes"][0]["left"] - 70) <= 1.5
    page.keyboard.press("Control+y")  # redo the nudge
    assert abs(answer(page)["payload"]["boxes"][0]["left"] - 71) <= 1.5

    # Zoom and pan change the view, never the answer.
    before = answer(page)
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Zoom in").click()
    assert answer(page) == before
    page.get_by_role("button", name="Fit").click()

    # "Nothing to label" clears the boxes and is a valid answer.
    page.get_by_label("Nothing to label").check()
    assert answer(page)["payload"]["boxes"] == []


def mask_colors(body: dict[str, Any]) -> dict[tuple[int, int, int], int]:
    from PIL import Image

    img = Image.open(io.BytesIO(base64.b64decode(body["payload"]["mask_png"])))
    assert img.size == (W, H)
    return {rgb: n for n, rgb in img.convert("RGB").getcolors(W * H)}


def test_segmentation_polygon_brush_eraser_undo_and_mask_colours(page: Any, pages_url: str) -> None:
    task = {
        "task_type": "semantic-segmentation",
        "categories": ["road", "grass"],
        "image_url": "generated",
        "color_map": ["#ff0000", "#00ff00"],
        "job_name": "Segmentation",
    }
    open_preview(page, pages_url, task)
    sel = "[data-testid=seg-canvas]"
    for x, y in [(50, 50), (150, 50), (150, 150), (50, 150)]:
        page.mouse.click(*canvas_point(page, sel, x, y))
    page.keyboard.press("Enter")  # closes the polygon
    colors = mask_colors(answer(page))
    assert set(colors) == {(255, 255, 255), (255, 0, 0)}  # exactly the colour map, no anti-aliased blends
    assert abs(colors[(255, 0, 0)] - 100 * 100) <= 200

    page.keyboard.press("2")
    page.keyboard.press("b")
    drag(page, sel, (250, 220), (350, 220))
    colors = mask_colors(answer(page))
    green = colors[(0, 255, 0)]
    assert green > 100 * 3 and set(colors) == {(255, 255, 255), (255, 0, 0), (0, 255, 0)}
    screenshot(page, "tool-semantic-segmentation")
    assert_accessible_basics(page)

    red_before = colors[(255, 0, 0)]
    page.keyboard.press("e")
    drag(page, sel, (60, 100), (140, 100))  # erase a stripe through the polygon
    assert mask_colors(answer(page))[(255, 0, 0)] < red_before - 80
    page.keyboard.press("Control+z")
    assert mask_colors(answer(page))[(255, 0, 0)] == red_before
    page.keyboard.press("Control+z")  # undo the brush stroke too
    assert (0, 255, 0) not in mask_colors(answer(page))
    page.keyboard.press("Control+y")
    assert mask_colors(answer(page))[(0, 255, 0)] == green

    page.get_by_label("Opacity").fill("90")  # display only
    assert mask_colors(answer(page))[(0, 255, 0)] == green


TEXT = "Ada Lovelace met Charles Babbage in London in June 1833."


def test_ner_select_add_remove_overlap_undo(page: Any, pages_url: str) -> None:
    task = {
        "task_type": "named-entity-recognition",
        "categories": ["Person", "Place", "Date"],
        "source": TEXT,
    }
    open_preview(page, pages_url, task)
    select_text(page, 0, 12)  # "Ada Lovelace"
    page.keyboard.press("1")
    select_text(page, 36, 42)  # "London"
    page.keyboard.press("2")
    select_text(page, 46, 55)  # "June 1833"
    page.get_by_role("button", name="3 Date").click()
    ents = answer(page)["payload"]["entities"]
    assert ents == [
        {"label": "Person", "start": 0, "end": 12},
        {"label": "Place", "start": 36, "end": 42},
        {"label": "Date", "start": 46, "end": 55},
    ]
    assert [TEXT[e["start"] : e["end"]] for e in ents] == ["Ada Lovelace", "London", "June 1833"]

    select_text(page, 4, 20)  # "Lovelace met Cha": overlaps Ada Lovelace
    page.keyboard.press("1")
    assert "overlaps" in page.get_by_test_id("ner-status").inner_text()
    assert len(answer(page)["payload"]["entities"]) == 3
    screenshot(page, "tool-named-entity-recognition")
    assert_accessible_basics(page)

    page.get_by_role("button", name="Place: “London” [36, 42)").click()
    page.get_by_role("button", name="Remove").click()
    assert [e["label"] for e in answer(page)["payload"]["entities"]] == ["Person", "Date"]
    page.keyboard.press("Control+z")
    assert [e["label"] for e in answer(page)["payload"]["entities"]] == ["Person", "Place", "Date"]


def test_ner_offsets_count_code_points(page: Any, pages_url: str) -> None:
    text = "🙂 Zoë visited Zürich."
    open_preview(
        page, pages_url, {"task_type": "named-entity-recognition", "categories": ["Place"], "source": text}
    )
    start = text.index("Zürich")
    select_text(page, start + 1, start + 1 + len("Zürich"))  # +1: the emoji is two UTF-16 units in the DOM
    page.keyboard.press("1")
    assert answer(page)["payload"]["entities"] == [{"label": "Place", "start": start, "end": start + 6}]


@pytest.mark.parametrize("task_type", ["text-classification", "text-classification-multilabel"])
def test_classification_keys(page: Any, pages_url: str, task_type: str) -> None:
    task = {"task_type": task_type, "categories": ["a", "b", "c"], "source": "some text"}
    open_preview(page, pages_url, task)
    page.keyboard.press("2")
    page.keyboard.press("3")
    if task_type.endswith("multilabel"):
        assert answer(page) == {"payload": {"labels": ["b", "c"]}}
        page.keyboard.press("2")
        assert answer(page) == {"payload": {"labels": ["c"]}}
        screenshot(page, "tool-classification-multilabel")
    else:
        assert answer(page) == {"label": "c"}


PREVIOUS_BOXES = {
    "task_type": "bounding-box",
    "label": {
        "image_size": [{"width": W, "height": H, "depth": 3}],
        "annotations": [
            {"class_id": 0, "left": 40, "top": 90, "width": 120, "height": 120},
            {"class_id": 5, "left": 240, "top": 60, "width": 100, "height": 150},
        ],
    },
    "metadata": {"class-map": {"0": "dog", "5": "bone"}, "type": "groundtruth/object-detection"},
}


def test_verification_shows_previous_boxes_read_only(page: Any, pages_url: str) -> None:
    task = {
        "task_type": "label-verification",
        "categories": ["correct", "incorrect"],
        "image_url": "generated",
        "previous": PREVIOUS_BOXES,
        "job_name": "Verify boxes",
    }
    open_preview(page, pages_url, task)
    assert page.get_by_role("button", name="Delete").count() == 0  # read-only
    assert not page.evaluate("() => window.quorumPreview.answer()")["ok"]
    page.keyboard.press("2")
    page.get_by_label("Comment (optional)").fill("the bone box is too wide")
    assert answer(page) == {"label": "incorrect", "payload": {"comment": "the bone box is too wide"}}
    screenshot(page, "tool-label-verification")


def test_verification_of_a_class_label(page: Any, pages_url: str) -> None:
    task = {
        "task_type": "label-verification",
        "categories": ["yes", "no"],
        "source": "a review",
        "previous": {"task_type": "text-classification", "label": 1, "metadata": {"class-name": "positive"}},
    }
    open_preview(page, pages_url, task)
    assert page.get_by_test_id("previous-label").inner_text() == "Label: positive"
    page.keyboard.press("1")
    assert answer(page) == {"label": "yes", "payload": {}}


def test_adjustment_prefills_boxes_and_records_whether_changed(page: Any, pages_url: str) -> None:
    task = {
        "task_type": "adjustment",
        "categories": ["dog", "bone"],
        "image_url": "generated",
        "previous": PREVIOUS_BOXES,
        "job_name": "Adjust boxes",
    }
    open_preview(page, pages_url, task)
    body = answer(page)["payload"]
    assert body["adjusted"] is False
    assert [(b["label"], b["left"], b["width"]) for b in body["boxes"]] == [
        ("dog", 40, 120),
        ("bone", 240, 100),
    ]
    sel = "[data-testid=box-canvas]"
    page.mouse.click(*canvas_point(page, sel, 290, 130))  # select the bone box
    drag(page, sel, (340, 210), (320, 210))  # and narrow it by 20 from its bottom-right corner
    body = answer(page)["payload"]
    assert body["adjusted"] is True and abs(body["boxes"][1]["width"] - 80) <= 1.5, body
    screenshot(page, "tool-adjustment")
    page.keyboard.press("Control+z")
    assert answer(page)["payload"]["adjusted"] is False  # an edit that was undone is no change


def test_adjustment_of_entities(page: Any, pages_url: str) -> None:
    previous = {
        "task_type": "named-entity-recognition",
        "label": {"annotations": {"entities": [{"label": "Person", "startOffset": 0, "endOffset": 3}]}},
        "metadata": {},
    }
    task = {
        "task_type": "adjustment",
        "categories": ["Person", "Place"],
        "source": TEXT,
        "previous": previous,
    }
    open_preview(page, pages_url, task)
    assert answer(page)["payload"] == {
        "entities": [{"label": "Person", "start": 0, "end": 3}],
        "adjusted": False,
    }
    select_text(page, 4, 12)
    page.keyboard.press("1")
    body = answer(page)["payload"]
    assert body["adjusted"] is True and len(body["entities"]) == 2


TEMPLATE = """<h2>Rate: {{ task.input.source }}</h2>
<form><label>Score <input name="score" value="4"></label>
<label>Note <input name="note"></label><button type="submit">Send</button></form>
<script>
  let cookieAccess;
  try { cookieAccess = String(document.cookie); } catch (e) { cookieAccess = 'blocked'; }
  let storage;
  try { storage = String(window.parent.sessionStorage.length); } catch (e) { storage = 'blocked'; }
  document.querySelector('form').dataset.probe = cookieAccess + '|' + storage;
</script>"""


def test_custom_template_renders_escaped_input_in_a_sandbox_and_returns_its_answer(
    page: Any, pages_url: str
) -> None:
    task = {"task_type": "custom", "template": TEMPLATE, "source": "<b>bold</b> & co"}
    open_preview(page, pages_url, task)
    frame = page.frame_locator("[data-testid=template-frame]")
    assert frame.locator("h2").inner_text() == "Rate: <b>bold</b> & co"  # escaped text, not markup
    # Opaque origin: the template reaches neither the cookies nor the portal's storage.
    assert frame.locator("form").get_attribute("data-probe") == "blocked|blocked"
    frame.locator("input[name=note]").fill("fine")
    frame.get_by_role("button", name="Send").click()
    page.wait_for_function("() => window.quorumPreview.answer().ok")
    assert answer(page) == {"payload": {"score": "4", "note": "fine"}}
    screenshot(page, "tool-custom-template")


def test_a_twelve_megapixel_image_stays_responsive(page: Any, pages_url: str) -> None:
    page.goto(f"{pages_url}/portal/preview")
    page.wait_for_selector("body[data-ready=true]")
    big = image_data_url(page, 4000, 3000)
    task = {"task_type": "semantic-segmentation", "categories": ["a", "b"], "image_url": big}
    page.evaluate("(t) => window.quorumPreview.mount(t)", task)
    sel = "[data-testid=seg-canvas]"
    page.keyboard.press("b")
    start = time.perf_counter()
    drag(page, sel, (500, 1500), (3500, 1500))  # 5 pointer moves across the image
    page.mouse.move(*canvas_point(page, sel, 2000, 500))
    page.mouse.down()
    for k in range(1, 31):  # and a 30-move stroke
        page.mouse.move(*canvas_point(page, sel, 2000 + 50 * k, 500 + 30 * k))
    page.mouse.up()
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => r()))")
    elapsed = time.perf_counter() - start
    counts = page.evaluate("() => window.quorumPreview.tool().counts()")
    assert counts[1] > 3000 * 5  # both strokes painted class a
    # 36 pointer events and a repaint on 12 MP: well under the second a worker would notice.
    assert elapsed < 3.0, elapsed
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / "timings.txt", "a") as f:
        f.write(f"12 MP segmentation: 36 brush pointer moves + repaint in {elapsed * 1000:.0f} ms\n")


def test_adjustment_prefills_a_mask_and_keeps_its_colours(page: Any, pages_url: str) -> None:
    from PIL import Image, ImageDraw

    mask = Image.new("RGB", (W, H), "#ffffff")
    ImageDraw.Draw(mask).rectangle([10, 10, 109, 59], fill="#00ff00")  # 100 x 50 of class 1
    buf = io.BytesIO()
    mask.save(buf, "PNG")
    previous = {
        "task_type": "semantic-segmentation",
        "label": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode(),
        "metadata": {"internal-color-map": {"0": {"class-name": "BACKGROUND", "hex-color": "#ffffff"}}},
    }
    task = {
        "task_type": "adjustment",
        "categories": ["road", "grass"],
        "color_map": ["#ff0000", "#00ff00"],
        "image_url": "generated",
        "previous": previous,
    }
    open_preview(page, pages_url, task)
    body = answer(page)
    assert body["payload"]["adjusted"] is False
    assert mask_colors(body)[(0, 255, 0)] == 100 * 50
    page.keyboard.press("1")
    page.keyboard.press("b")
    drag(page, "[data-testid=seg-canvas]", (200, 200), (300, 200))
    body = answer(page)
    assert body["payload"]["adjusted"] is True and mask_colors(body)[(255, 0, 0)] > 100


def test_verification_shows_a_previous_mask_in_its_own_colours(page: Any, pages_url: str) -> None:
    from PIL import Image, ImageDraw

    mask = Image.new("RGB", (W, H), "#ffffff")
    ImageDraw.Draw(mask).rectangle([0, 0, 39, 29], fill="#2acf59")
    buf = io.BytesIO()
    mask.save(buf, "PNG")
    previous = {
        "task_type": "semantic-segmentation",
        "label": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode(),
        "metadata": {
            "internal-color-map": {
                "0": {"class-name": "BACKGROUND", "hex-color": "#ffffff"},
                "1": {"class-name": "buildings", "hex-color": "#2acf59"},
            }
        },
    }
    task = {
        "task_type": "label-verification",
        "categories": ["good", "bad"],
        "image_url": "generated",
        "previous": previous,
    }
    open_preview(page, pages_url, task)
    # The read-only mask holds the previous label's 40 x 30 pixels of class "buildings".
    counts = page.evaluate("() => window.quorumPreview.tool().previousTool().counts()")
    assert counts == [W * H - 40 * 30, 40 * 30]
    assert page.get_by_role("button", name="Undo").count() == 0  # read-only
    page.keyboard.press("1")
    assert answer(page) == {"label": "good", "payload": {}}
    screenshot(page, "tool-label-verification-mask")

"""Helpers of the browser tests: screenshots, test images, and API set-up calls."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"


def screenshot(pg: Any, name: str, **kwargs: Any) -> Path:
    """Save a screenshot under test-artifacts/browser/; with QUORUM_DOC_SCREENSHOTS=1 also in docs/img/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), **kwargs)
    if os.environ.get("QUORUM_DOC_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "img"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / f"{name}.png")
    return path


# A test image drawn in the page: a gradient with two solid rectangles, as a PNG data URL.
MAKE_IMAGE_JS = """([w, h]) => {
  const c = document.createElement('canvas'); c.width = w; c.height = h;
  const g = c.getContext('2d');
  const grad = g.createLinearGradient(0, 0, w, h);
  grad.addColorStop(0, '#8fb3d9'); grad.addColorStop(1, '#e8d7b0');
  g.fillStyle = grad; g.fillRect(0, 0, w, h);
  g.fillStyle = '#4a7c3a'; g.fillRect(w * 0.1, h * 0.3, w * 0.3, h * 0.4);
  g.fillStyle = '#9c3d3d'; g.fillRect(w * 0.6, h * 0.2, w * 0.25, h * 0.5);
  return c.toDataURL('image/png');
}"""


def image_data_url(pg: Any, width: int, height: int) -> str:
    return str(pg.evaluate(MAKE_IMAGE_JS, [width, height]))


def canvas_point(pg: Any, selector: str, x: float, y: float) -> tuple[float, float]:
    """Screen position of image pixel (x, y) on a tool canvas, from the tool's own view transform."""
    box = pg.locator(selector).bounding_box()
    view = pg.evaluate("() => window.quorumPreview.tool().view")
    width = pg.evaluate(f"() => document.querySelector('{selector}').width")
    ratio = box["width"] / width
    return box["x"] + (x * view["scale"] + view["ox"]) * ratio, box["y"] + (
        y * view["scale"] + view["oy"]
    ) * ratio


def api(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def select_text(page: Any, start: int, end: int) -> None:
    """Select characters [start, end) of the NER text with the mouse: drag from one to the other."""
    page.evaluate(
        """([s, e]) => {
          const box = document.querySelector('[data-testid=ner-text]');
          const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
          let pos = 0, node, startNode, startOff, endNode, endOff;
          while ((node = walker.nextNode())) {
            if (node.parentElement.tagName === 'SUP') continue;
            const len = node.textContent.length;
            if (startNode === undefined && s <= pos + len) { startNode = node; startOff = s - pos; }
            if (endNode === undefined && e <= pos + len) { endNode = node; endOff = e - pos; }
            pos += len;
          }
          const r = document.createRange(); r.setStart(startNode, startOff); r.setEnd(endNode, endOff);
          const rects = r.getClientRects();
          const last = rects[rects.length - 1];
          window.__sel = [rects[0].left + 1, rects[0].top + rects[0].height / 2,
                          last.right - 1, last.top + last.height / 2];
        }""",
        [start, end],
    )
    x1, y1, x2, y2 = page.evaluate("() => window.__sel")
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move(x2, y2, steps=4)
    page.mouse.up()


UNLABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea, button, canvas[tabindex]')]
  .filter((el) => el.type !== 'hidden' && !el.hidden && el.offsetParent !== null)
  .filter((el) => !((el.labels && el.labels.length) || el.getAttribute('aria-label')
                    || el.getAttribute('title') || (el.tagName === 'BUTTON' && el.textContent.trim())))
  .map((el) => el.outerHTML.slice(0, 80))"""


def assert_accessible_basics(pg: Any) -> None:
    """Every visible control has a label, and the focused element shows a visible focus outline."""
    assert pg.evaluate(UNLABELLED_JS) == []
    pg.evaluate("() => document.querySelector('main').focus()")
    pg.keyboard.press("Tab")  # from the top of the content: its first control
    style = pg.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; }"
    )
    assert style[0] != "BODY" and style[1] != "none" and style[2] != "0px", style

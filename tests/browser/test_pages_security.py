"""Every page and static file the gateway serves carries the security headers; the template frame is
sandboxed without same-origin and may not fetch anything."""

from __future__ import annotations

import httpx
import pytest

PAGES = ["/portal/", "/console/", "/portal/preview"]
STATIC = [
    "/static/portal.js",
    "/static/console.js",
    "/static/autolabeling.js",
    "/static/style.css",
    "/static/tools/boxes.js",
]


@pytest.mark.parametrize("path", PAGES + STATIC)
def test_strict_csp_on_every_page_and_file(pages_url: str, path: str) -> None:
    r = httpx.get(pages_url + path)
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"


def test_pages_have_no_inline_script_or_style(pages_url: str) -> None:
    for path in PAGES:
        html = httpx.get(pages_url + path).text
        assert "<style" not in html and " style=" not in html
        assert all('src="/static/' in tag for tag in html.split("<script")[1:])


def test_template_frame_is_sandboxed_without_same_origin(pages_url: str) -> None:
    csp = httpx.get(pages_url + "/portal/template-frame").headers["content-security-policy"]
    assert "sandbox allow-scripts allow-forms" in csp and "allow-same-origin" not in csp
    assert "connect-src 'none'" in csp and "form-action 'none'" in csp
    assert "frame-ancestors 'self'" in csp


def test_unknown_static_file_is_404_and_root_redirects_to_the_portal(pages_url: str) -> None:
    assert httpx.get(pages_url + "/static/nope.js").status_code == 404
    r = httpx.get(pages_url + "/")
    assert r.status_code == 307 and r.headers["location"] == "/portal/"

"""The worker portal (/portal/) and the requester console (/console/): static pages served by the gateway.

Every response carries a strict Content-Security-Policy: scripts and styles only from files on this origin
(no inline code), images also from data:/blob: URLs (task images are fetched with the worker's token and
shown as blob URLs), nothing may frame the pages, and the custom-template iframe is sandboxed without
same-origin so a requester's HTML cannot reach the portal's storage or API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

STATIC_DIR = Path(__file__).parent / "static"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def template_frame_csp(origin: str) -> str:
    """The custom-template frame: sandboxed without same-origin (an opaque origin: no cookies, storage or
    token of the portal), no network at all (connect-src 'none'), only embeddable by the portal. The
    requester's own inline script and style run there; 'self' means nothing in an opaque origin, so the
    frame's helper script is named by the gateway's origin."""
    return (
        f"default-src 'none'; script-src {origin}/static/template-frame.js 'unsafe-inline'; "
        f"style-src 'unsafe-inline'; img-src {origin} data: blob:; connect-src 'none'; form-action 'none'; "
        "base-uri 'none'; sandbox allow-scripts allow-forms; frame-ancestors 'self'"
    )


SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

PAGES = {"/portal/": "portal.html", "/console/": "console.html", "/portal/preview": "preview.html"}


def _page(name: str, csp: str = CSP) -> FileResponse:
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": csp}
    return FileResponse(STATIC_DIR / name, media_type="text/html", headers=headers)


class SecureStaticFiles(StaticFiles):
    """StaticFiles that adds the security headers to every file it serves."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: dict) -> None:  # type: ignore[type-arg]
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend((k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items())
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/portal/", status_code=307, headers=SECURITY_HEADERS)


@router.get("/portal")
async def portal_slash() -> RedirectResponse:
    return RedirectResponse("/portal/", status_code=307, headers=SECURITY_HEADERS)


@router.get("/console")
async def console_slash() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307, headers=SECURITY_HEADERS)


@router.get("/portal/")
async def portal() -> FileResponse:
    return _page("portal.html")


@router.get("/portal/preview")
async def preview() -> FileResponse:
    return _page("preview.html")


@router.get("/portal/template-frame")
async def template_frame(request: Request) -> FileResponse:
    origin = f"{request.url.scheme}://{request.url.netloc}"
    return _page("template-frame.html", template_frame_csp(origin))


@router.get("/console/")
async def console() -> FileResponse:
    return _page("console.html")


def mount_web(app: FastAPI) -> None:
    """Add the pages and their static files to the app."""
    app.include_router(router)
    app.mount("/static", SecureStaticFiles(directory=STATIC_DIR), name="static")

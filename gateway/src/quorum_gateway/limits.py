"""Request body limits, enforced before and while the body is read (nothing unbounded is buffered).

Job creation may carry a manifest (max_manifest_bytes); every other body is an answer or a small JSON
object (max_answer_bytes). A declared Content-Length over the limit is refused without being parsed or
kept; a chunked body is counted as it arrives and refused as soon as it passes the limit.

Before the 413 goes out, what is left of the body is read and thrown away (up to DRAIN_MAX_BYTES, for at most
DRAIN_MAX_SECONDS): a server closing a socket with unread bytes in it sends a TCP reset, and a client still
writing its upload then loses the 413 and sees only "connection reset". Bodies larger than that are cut off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quorum_gateway.errors import ApiError, error_response

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
DRAIN_MAX_BYTES = 16 * 1024 * 1024
DRAIN_MAX_SECONDS = 5.0


class Limit:
    __slots__ = ("max_bytes", "setting")

    def __init__(self, max_bytes: int, setting: str) -> None:
        self.max_bytes = max_bytes
        self.setting = setting

    def message(self) -> str:
        return f"request body exceeds the limit of {_human(self.max_bytes)} ({self.setting}={self.max_bytes})"


def _human(n: int) -> str:
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


class BodyTooLarge(ApiError):
    def __init__(self, limit: Limit) -> None:
        super().__init__(413, "payload_too_large", limit.message())


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], Limit]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit.max_bytes:
            # A client that asked "Expect: 100-continue" has not sent its body: reading would invite it to.
            if declared <= DRAIN_MAX_BYTES and not _expects_continue(scope):
                await _drain(receive)
            response = error_response(
                413, "payload_too_large", limit.message(), headers={"Connection": "close"}
            )
            await response(scope, receive, send)
            return
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    if message.get("more_body", False):
                        await _drain(receive)
                    # An HTTPException: FastAPI re-raises it from body parsing and our handler renders it.
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, receive_limited, send)


async def _drain(receive: Receive) -> None:
    """Reads and discards the rest of a refused body, within DRAIN_MAX_BYTES and DRAIN_MAX_SECONDS."""
    drained = 0
    try:
        async with asyncio.timeout(DRAIN_MAX_SECONDS):
            while drained <= DRAIN_MAX_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return
                drained += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
    except TimeoutError:
        return


def _expects_continue(scope: Scope) -> bool:
    return any(key == b"expect" and value.lower() == b"100-continue" for key, value in scope["headers"])


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def gateway_limits(max_manifest_bytes: int, max_answer_bytes: int) -> Callable[[Scope], Limit]:
    manifest = Limit(max_manifest_bytes, "MAX_MANIFEST_BYTES")
    other = Limit(max_answer_bytes, "MAX_ANSWER_BYTES")

    def limit_for(scope: Scope) -> Limit:
        return manifest if scope["path"].rstrip("/") == "/v1/jobs" else other

    return limit_for

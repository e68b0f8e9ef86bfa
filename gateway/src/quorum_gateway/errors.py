"""Every error the gateway answers, in one shape: `{"error": {"code": "<reason>", "message": "<text>"}}`.

gRPC status codes map to HTTP through ONE table (`GRPC_TO_HTTP`); the `code` is the domain reason the
service sent as trailing metadata (`quorum-error-reason`), or the status's default. Anything unexpected
becomes a 500 with an error id; the traceback goes to the logs only.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quorum_common.errors import reason_from_rpc_error
from quorum_common.logging import get_logger

log = get_logger(__name__)

# status code -> (HTTP status, default reason, whether the backend's message may be shown as is).
# Server-side failures without a domain reason get a generic message: grpc's own details name hosts/ports.
GRPC_TO_HTTP: Mapping[grpc.StatusCode, tuple[int, str, bool]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid_argument", True),
    grpc.StatusCode.OUT_OF_RANGE: (400, "out_of_range", True),
    grpc.StatusCode.UNAUTHENTICATED: (401, "unauthenticated", True),
    grpc.StatusCode.PERMISSION_DENIED: (403, "permission_denied", True),
    grpc.StatusCode.NOT_FOUND: (404, "not_found", True),
    grpc.StatusCode.ALREADY_EXISTS: (409, "already_exists", True),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "failed_precondition", True),
    grpc.StatusCode.ABORTED: (409, "aborted", True),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "resource_exhausted", True),
    grpc.StatusCode.UNIMPLEMENTED: (501, "not_implemented", False),
    grpc.StatusCode.UNAVAILABLE: (503, "unavailable", False),
    grpc.StatusCode.DEADLINE_EXCEEDED: (503, "deadline_exceeded", False),
    grpc.StatusCode.CANCELLED: (503, "cancelled", False),
}
_INTERNAL = (500, "internal", False)  # INTERNAL, UNKNOWN, DATA_LOSS and anything unlisted

_GENERIC_MESSAGES = {
    501: "this operation is not supported by the backend service",
    503: "a backend service is unavailable or too slow; retry shortly",
}

# Reasons for HTTP errors raised by the framework (routing, body parsing) or by the gateway itself.
_HTTP_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "resource_exhausted",
    503: "unavailable",
}

# FastAPI's wording when a JSON body cannot even be decoded (e.g. it is not UTF-8).
_FASTAPI_BODY_PARSE_DETAIL = "There was an error parsing the body"


class ResponseAborted(Exception):
    """Raised from a streaming body after the headers went out: the only signal left is to drop the
    connection (the client sees an incomplete chunked body, never a complete-looking truncated file)."""


class ApiError(StarletteHTTPException):
    """An error the gateway raises itself, with an explicit reason code."""

    def __init__(
        self, status_code: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=dict(headers) if headers else None)
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(
    status_code: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status_code, headers=headers)


def http_error_from_rpc(err: grpc.RpcError) -> tuple[int, str, str]:
    """(HTTP status, reason code, message) for a failed backend call."""
    code_fn = getattr(err, "code", None)
    status = code_fn() if callable(code_fn) else grpc.StatusCode.UNKNOWN
    http_status, default_reason, show_details = GRPC_TO_HTTP.get(status, _INTERNAL)
    reason = reason_from_rpc_error(err)
    details_fn = getattr(err, "details", None)
    details = (details_fn() if callable(details_fn) else None) or ""
    if reason is not None or show_details:
        # A domain error: the service wrote its message for a person to read.
        return http_status, reason or default_reason, details or default_reason.replace("_", " ")
    if http_status == 500:
        error_id = uuid.uuid4().hex[:12]
        log.error("backend_error", status=status.name, details=details, error_id=error_id)
        return 500, "internal", f"internal error (id {error_id})"
    log.warning("backend_unavailable", status=status.name, details=details)
    return http_status, default_reason, _GENERIC_MESSAGES.get(http_status, default_reason)


def _extra_headers(status_code: int) -> dict[str, str] | None:
    if status_code in (429, 503):
        return {"Retry-After": "1"}
    if status_code == 401:
        return {"WWW-Authenticate": "Bearer"}
    return None


async def _rpc_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, grpc.RpcError)
    status_code, code, message = http_error_from_rpc(exc)
    return error_response(status_code, code, message, headers=_extra_headers(status_code))


async def _http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if isinstance(exc, ApiError):
        return error_response(exc.status_code, exc.code, exc.message, headers=headers or None)
    code = _HTTP_DEFAULT_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = str(exc.detail)
    if exc.status_code == 400 and message == _FASTAPI_BODY_PARSE_DETAIL:
        code, message = "invalid_body", "the request body could not be decoded; send UTF-8 encoded JSON"
    elif exc.status_code == 404 and message == "Not Found":
        message = f"no such route: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    return error_response(exc.status_code, code, message, headers=headers or None)


def _format_loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    for err in errors:
        if err.get("type") == "json_invalid":
            detail = (err.get("ctx") or {}).get("error") or err.get("msg", "")
            return error_response(400, "invalid_json", f"the request body is not valid JSON: {detail}")
    shown = [f"{_format_loc(err.get('loc', ()))}: {err.get('msg', 'invalid')}" for err in errors[:5]]
    if len(errors) > 5:
        shown.append(f"... and {len(errors) - 5} more")
    return error_response(422, "validation_error", "; ".join(shown) or "invalid request")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(grpc.RpcError, _rpc_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)


class UnhandledErrorMiddleware:
    """Last line: an unexpected exception becomes a 500 JSON with an id; the traceback is logged only.

    Pure ASGI (not BaseHTTPMiddleware) so the hot path pays one try block, and unlike Starlette's
    ServerErrorMiddleware the exception is not re-raised to the server (which would log it twice).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except ResponseAborted:
            # Logged where it happened. Returning with the response unfinished makes the server close it.
            if not started:
                await error_response(503, "unavailable", "the export was interrupted; retry")(
                    scope, receive, send
                )
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            log.exception(
                "request_failed", method=scope.get("method"), path=scope.get("path"), error_id=error_id
            )
            if started:
                raise  # the status line is gone; let the server drop the connection mid-body
            response = error_response(500, "internal", f"internal error (id {error_id})")
            await response(scope, receive, send)

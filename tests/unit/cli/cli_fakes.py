"""Helpers of the CLI tests: a scripted HTTP API for httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


class Api:
    """A scripted API: `routes[(method, path)]` is a response or a callable(request) -> response."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], httpx.Response | Callable[[httpx.Request], httpx.Response]] = {}
        self.requests: list[httpx.Request] = []
        self.clients: list[tuple[str, str | None]] = []

    def on(self, method: str, path: str, status: int = 200, body: Any = None, **kwargs: Any) -> None:
        self.routes[(method, path)] = (
            httpx.Response(status, json=body, **kwargs)
            if body is not None
            else httpx.Response(status, **kwargs)
        )

    def error(self, method: str, path: str, status: int, code: str, message: str) -> None:
        self.on(method, path, status, {"error": {"code": code, "message": message}})

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no route"}})
        return route(request) if callable(route) else route

    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last().content)


def write_credentials(directory: Path, **values: str) -> None:
    (directory / ".quorum").mkdir(exist_ok=True)
    (directory / ".quorum" / "credentials.json").write_text(json.dumps(values))

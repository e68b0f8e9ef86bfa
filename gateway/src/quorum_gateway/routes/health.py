"""Probes: /healthz (the process answers) and /readyz (every backend's gRPC health is SERVING)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from grpc_health.v1 import health_pb2

from quorum_gateway.deps import ClientsDep
from quorum_gateway.errors import error_body

router = APIRouter(tags=["health"])

_SERVING = health_pb2.HealthCheckResponse.SERVING


@router.get("/healthz", summary="Liveness: the gateway process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _check(stub: Any, timeout: float) -> str:
    try:
        resp = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    except Exception as err:  # an unreachable backend is simply not ready
        code = getattr(err, "code", None)
        return code().name if callable(code) else type(err).__name__
    return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)


@router.get(
    "/readyz",
    summary="Readiness: every backend service reports SERVING",
    responses={503: {"description": "Some backend is not serving; the body names it."}},
)
async def readyz(clients: ClientsDep) -> JSONResponse:
    names = list(clients.health)
    statuses = await asyncio.gather(*(_check(clients.health[n], clients.readiness_timeout_s) for n in names))
    backends = dict(zip(names, statuses, strict=True))
    down = [f"{name} ({status})" for name, status in backends.items() if status != "SERVING"]
    if down:
        body = error_body("not_ready", "not serving: " + ", ".join(down))
        return JSONResponse({**body, "backends": backends}, status_code=503)
    return JSONResponse({"status": "ready", "backends": backends})

"""The FastAPI application: `create_app(settings, clients=None)`.

In production the lifespan opens one grpc.aio channel per backend and closes them on shutdown. Tests
inject `clients` (fake stubs); the app then neither opens nor closes anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from quorum_gateway.auth import AuthCache
from quorum_gateway.clients import GrpcClients
from quorum_gateway.errors import UnhandledErrorMiddleware, install_error_handlers
from quorum_gateway.limits import BodyLimitMiddleware, gateway_limits
from quorum_gateway.routes import API_PREFIX, health, portal, routers
from quorum_gateway.settings import GatewaySettings
from quorum_gateway.web import mount_web

API_VERSION = "1.0.0"

TAGS = [
    {"name": "admin", "description": "Operator routes (`Authorization: Bearer <ADMIN_API_KEY>`)."},
    {"name": "teams", "description": "A requester's private teams."},
    {"name": "workers", "description": "A requester's workers and their tokens."},
    {"name": "jobs", "description": "Labeling jobs: create, follow, stop, export."},
    {
        "name": "worker",
        "description": "The worker portal's task loop (`Authorization: Bearer <worker token>`).",
    },
    {"name": "health", "description": "Liveness and readiness probes."},
]


def create_app(settings: GatewaySettings | None = None, clients: GrpcClients | None = None) -> FastAPI:
    settings = settings or GatewaySettings()  # type: ignore[call-arg]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if clients is not None:
            yield
            return
        # Channels bind to the running loop, so they are opened here, not at import or in create_app.
        app.state.clients = GrpcClients.connect(settings)
        try:
            yield
        finally:
            await app.state.clients.close()

    app = FastAPIOffline(
        title="Quorum API",
        summary="Self-hosted data labeling: jobs, workforce, Ground Truth compatible output.",
        version=API_VERSION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url="/redoc",
    )
    app.state.settings = settings
    app.state.clients = clients
    app.state.auth_cache = AuthCache(settings.auth_cache_ttl_s, settings.auth_cache_size)
    install_error_handlers(app)
    # add_middleware wraps: the last added runs first. Unexpected errors are caught outermost.
    app.add_middleware(
        BodyLimitMiddleware, limit_for=gateway_limits(settings.max_manifest_bytes, settings.max_answer_bytes)
    )
    app.add_middleware(UnhandledErrorMiddleware)
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health.router)
    # The worker portal and requester console (pages + the worker's job list they need).
    app.include_router(portal.router, prefix=API_PREFIX)
    mount_web(app)
    return app

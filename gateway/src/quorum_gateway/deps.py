"""Dependencies as `Annotated` aliases, so route signatures read like a spec (RequesterDep, WorkerDep...).

Authentication lives here: admin routes compare the bearer key with ADMIN_API_KEY in constant time;
requester and worker tokens are verified by the owning service (jobs / workforce) and cached briefly.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import grpc
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from quorum.jobs.v1 import jobs_pb2
from quorum.workforce.v1 import workforce_pb2
from quorum_gateway.auth import AuthCache, RequesterIdentity, WorkerIdentity, token_key
from quorum_gateway.clients import GrpcClients
from quorum_gateway.errors import ApiError
from quorum_gateway.settings import GatewaySettings

MAX_TOKEN_CHARS = 512

# Rejections of a token by the backend; anything else (UNAVAILABLE...) keeps its own mapping.
_REJECTED = frozenset(
    {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT}
)

admin_bearer = HTTPBearer(
    auto_error=False, scheme_name="AdminKey", description="`Authorization: Bearer <ADMIN_API_KEY>`"
)
requester_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="RequesterKey",
    description="`Authorization: Bearer <requester API key>` (from POST /v1/requesters)",
)
requester_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="RequesterApiKey", description="The requester API key."
)
worker_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="WorkerToken",
    description="`Authorization: Bearer <worker token>` (from POST /v1/workers)",
)


def unauthenticated(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": "Bearer"})


# async although they never await: FastAPI runs a plain `def` dependency in its thread pool, a thread hop
# per request that measurably cut throughput.
async def get_settings(request: Request) -> GatewaySettings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_clients(request: Request) -> GrpcClients:
    return request.app.state.clients  # type: ignore[no-any-return]


async def get_auth_cache(request: Request) -> AuthCache:
    return request.app.state.auth_cache  # type: ignore[no-any-return]


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
ClientsDep = Annotated[GrpcClients, Depends(get_clients)]
AuthCacheDep = Annotated[AuthCache, Depends(get_auth_cache)]


def _rejected(err: grpc.RpcError) -> bool:
    code = getattr(err, "code", None)
    return callable(code) and code() in _REJECTED


async def require_admin(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
) -> None:
    if credentials is None:
        raise unauthenticated("unauthenticated", "missing header Authorization: Bearer <ADMIN_API_KEY>")
    expected = settings.admin_api_key.get_secret_value().encode()
    if not hmac.compare_digest(credentials.credentials.encode("utf-8", "surrogateescape"), expected):
        raise unauthenticated("invalid_api_key", "invalid admin API key")


async def current_requester(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(requester_bearer)],
    x_api_key: Annotated[str | None, Depends(requester_api_key)],
) -> RequesterIdentity:
    # State is read from the request, not through nested dependencies: each dependency node costs
    # measurable time per request in FastAPI, and these run on every call.
    token = credentials.credentials if credentials is not None else x_api_key
    if not token:
        raise unauthenticated(
            "unauthenticated", "missing API key: send Authorization: Bearer <api key> (or X-API-Key)"
        )
    if len(token) > MAX_TOKEN_CHARS:
        raise unauthenticated("invalid_api_key", "invalid API key")
    cache: AuthCache = request.app.state.auth_cache
    key = token_key("requester", token)
    cached = cache.requesters.get(key)
    if cached is not None:
        return cached
    clients: GrpcClients = request.app.state.clients
    try:
        requester = await clients.jobs.AuthenticateRequester(
            jobs_pb2.AuthenticateRequesterRequest(api_key=token), timeout=clients.deadline_s
        )
    except grpc.RpcError as err:
        if _rejected(err):
            raise unauthenticated("invalid_api_key", "invalid API key") from None
        raise
    identity = RequesterIdentity(requester_id=requester.requester_id, name=requester.name)
    cache.requesters.put(key, identity)
    return identity


def _worker_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        raise unauthenticated("unauthenticated", "missing header Authorization: Bearer <worker token>")
    if len(credentials.credentials) > MAX_TOKEN_CHARS:
        raise unauthenticated("invalid_token", "invalid worker token")
    return credentials.credentials


async def worker_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(worker_bearer)],
) -> str:
    return _worker_token(credentials)


def _worker_identity(worker: workforce_pb2.Worker) -> WorkerIdentity:
    return WorkerIdentity(
        worker_id=worker.worker_id,
        owner_id=worker.owner_id,
        name=worker.name,
        team_ids=tuple(worker.team_ids),
    )


WorkerTokenDep = Annotated[str, Depends(worker_token)]


async def fetch_worker(clients: GrpcClients, cache: AuthCache, token: str) -> workforce_pb2.Worker:
    """Verify a worker token with the workforce service (no cache read) and refresh the cache."""
    try:
        worker = await clients.workforce.AuthenticateWorker(
            workforce_pb2.AuthenticateWorkerRequest(token=token), timeout=clients.deadline_s
        )
    except grpc.RpcError as err:
        if _rejected(err):
            raise unauthenticated("invalid_token", "invalid worker token") from None
        raise
    cache.workers.put(token_key("worker", token), _worker_identity(worker))
    return worker


async def current_worker(request: Request) -> WorkerIdentity:
    """The task loop's auth: a single dependency node reading the header itself, one dict lookup when
    cached. (Each FastAPI dependency node costs tens of microseconds per request, and this runs on every
    next/answer; the routes declare the WorkerToken scheme in their OpenAPI entry instead.)"""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthenticated("unauthenticated", "missing header Authorization: Bearer <worker token>")
    if len(token) > MAX_TOKEN_CHARS:
        raise unauthenticated("invalid_token", "invalid worker token")
    cache: AuthCache = request.app.state.auth_cache
    cached = cache.workers.get(token_key("worker", token))
    if cached is not None:
        return cached
    worker = await fetch_worker(request.app.state.clients, cache, token)
    return _worker_identity(worker)


def clients_of(request: Request) -> GrpcClients:
    """The backend stubs without a dependency node (hot routes; elsewhere use ClientsDep)."""
    return request.app.state.clients  # type: ignore[no-any-return]


WORKER_SECURITY: dict[str, Any] = {"security": [{"WorkerToken": []}]}


AdminDep = Annotated[None, Depends(require_admin)]
RequesterDep = Annotated[RequesterIdentity, Depends(current_requester)]
WorkerDep = Annotated[WorkerIdentity, Depends(current_worker)]

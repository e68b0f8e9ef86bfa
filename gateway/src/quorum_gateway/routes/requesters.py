"""Admin: create requester accounts (the owners of jobs, teams and workers)."""

from __future__ import annotations

from fastapi import APIRouter

from quorum.jobs.v1 import jobs_pb2
from quorum_gateway.deps import AdminDep, ClientsDep
from quorum_gateway.schemas import RequesterCreate, RequesterCreated, error_responses

router = APIRouter(prefix="/requesters", tags=["admin"])


@router.post(
    "",
    status_code=201,
    summary="Create a requester and its API key (admin)",
    description="Needs `Authorization: Bearer <ADMIN_API_KEY>`. The API key is shown once.",
    responses=error_responses(401, 409, 422, 503),
)
async def create_requester(_: AdminDep, clients: ClientsDep, body: RequesterCreate) -> RequesterCreated:
    created = await clients.jobs.CreateRequester(
        jobs_pb2.CreateRequesterRequest(name=body.name), timeout=clients.deadline_s
    )
    return RequesterCreated(
        requester_id=created.requester.requester_id, name=created.requester.name, api_key=created.api_key
    )

"""Requester: the workers of your private workforce (each gets a bearer token for the worker API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from quorum.workforce.v1 import workforce_pb2
from quorum_gateway.deps import ClientsDep, RequesterDep
from quorum_gateway.schemas import WorkerCreate, WorkerCreated, WorkerPublic, WorkersPublic, error_responses

router = APIRouter(prefix="/workers", tags=["workers"])


@router.post(
    "",
    status_code=201,
    summary="Add a worker to teams",
    description="Returns the worker and its bearer token; the token is shown once.",
    responses=error_responses(400, 401, 404, 409, 422, 503),
)
async def create_worker(requester: RequesterDep, clients: ClientsDep, body: WorkerCreate) -> WorkerCreated:
    created = await clients.workforce.CreateWorker(
        workforce_pb2.CreateWorkerRequest(
            owner_id=requester.requester_id, name=body.name, team_ids=body.team_ids
        ),
        timeout=clients.deadline_s,
    )
    return WorkerCreated(worker=WorkerPublic.from_proto(created.worker), token=created.token)


@router.get("", summary="List your workers", responses=error_responses(401, 422, 503))
async def list_workers(
    requester: RequesterDep,
    clients: ClientsDep,
    team_id: Annotated[str | None, Query(max_length=64, description="Only this team's workers.")] = None,
) -> WorkersPublic:
    resp = await clients.workforce.ListWorkers(
        workforce_pb2.ListWorkersRequest(owner_id=requester.requester_id, team_id=team_id or ""),
        timeout=clients.deadline_s,
    )
    data = [WorkerPublic.from_proto(worker) for worker in resp.workers]
    return WorkersPublic(data=data, count=len(data))

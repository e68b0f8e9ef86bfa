"""Worker: the task loop of the worker portal — next task, answer, decline.

This is the hot path (hundreds of answers per second): one cached auth lookup and one RPC per request.
The task routes take `request` and read the stubs with `clients_of` rather than a ClientsDep: every
FastAPI dependency node costs tens of microseconds per request.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from quorum.workforce.v1 import workforce_pb2
from quorum_gateway.deps import (
    WORKER_SECURITY,
    AuthCacheDep,
    ClientsDep,
    WorkerDep,
    WorkerTokenDep,
    clients_of,
    fetch_worker,
)
from quorum_gateway.schemas import AnswerAck, AnswerSubmit, TaskPublic, WorkerPublic, error_responses

router = APIRouter(prefix="/worker", tags=["worker"])

TaskId = Annotated[str, Path(min_length=1, max_length=64, description="The task (lease) id.")]


@router.post(
    "/tasks/next",
    response_model=TaskPublic,
    summary="Get your next task",
    description="Leases the next object for you to label (until `expires_at`), or answers 204 when "
    "there is nothing for you right now.",
    responses={204: {"description": "No task available right now"}, **error_responses(401, 404, 429, 503)},
    openapi_extra=WORKER_SECURITY,
)
async def next_task(
    worker: WorkerDep,
    request: Request,
    job_id: Annotated[str | None, Query(max_length=64, description="Only tasks of this job.")] = None,
) -> TaskPublic | Response:
    clients = clients_of(request)
    resp = await clients.workforce.NextTask(
        workforce_pb2.NextTaskRequest(worker_id=worker.worker_id, job_id=job_id or ""),
        timeout=clients.deadline_s,
    )
    if not resp.HasField("task"):
        return Response(status_code=204)
    return TaskPublic.from_proto(resp.task)


@router.post(
    "/tasks/{task_id}/answer",
    summary="Submit your answer to a task",
    description="Idempotent: submitting the same task again answers `duplicate: true` and counts nothing.",
    responses=error_responses(400, 401, 404, 409, 413, 422, 429, 503),
    openapi_extra=WORKER_SECURITY,
)
async def submit_answer(
    task_id: TaskId, body: AnswerSubmit, worker: WorkerDep, request: Request
) -> AnswerAck:
    clients = clients_of(request)
    payload_json = json.dumps(body.payload, separators=(",", ":")) if body.payload else ""
    resp = await clients.workforce.SubmitAnswer(
        workforce_pb2.SubmitAnswerRequest(
            worker_id=worker.worker_id, task_id=task_id, label=body.label, payload_json=payload_json
        ),
        timeout=clients.deadline_s,
    )
    return AnswerAck(answer_id=resp.answer_id, duplicate=resp.duplicate)


@router.post(
    "/tasks/{task_id}/decline",
    status_code=204,
    summary="Give a task back",
    description="Releases the lease so another worker can take the object.",
    responses=error_responses(401, 404, 409, 503),
    openapi_extra=WORKER_SECURITY,
)
async def decline_task(task_id: TaskId, worker: WorkerDep, request: Request) -> Response:
    clients = clients_of(request)
    await clients.workforce.DeclineTask(
        workforce_pb2.DeclineTaskRequest(worker_id=worker.worker_id, task_id=task_id),
        timeout=clients.deadline_s,
    )
    return Response(status_code=204)


@router.get(
    "/me", summary="Who you are, and how many answers you have given", responses=error_responses(401, 503)
)
async def me(token: WorkerTokenDep, clients: ClientsDep, cache: AuthCacheDep) -> WorkerPublic:
    # Not from the auth cache: the answer count must be current.
    return WorkerPublic.from_proto(await fetch_worker(clients, cache, token))

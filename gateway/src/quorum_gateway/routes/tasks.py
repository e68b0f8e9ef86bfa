"""Worker: the task loop of the worker portal — next task, answer, decline.

This is the hot path (hundreds of answers per second): one cached auth lookup and one RPC per request.
The task routes take `request` and read the stubs with `clients_of` rather than a ClientsDep: every
FastAPI dependency node costs tens of microseconds per request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

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
from quorum_gateway.errors import ApiError
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
    payload_json = json.dumps(body.payload, separators=(",", ":")) if body.payload is not None else ""
    resp = await clients.workforce.SubmitAnswer(
        workforce_pb2.SubmitAnswerRequest(
            worker_id=worker.worker_id, task_id=task_id, label=body.label, payload_json=payload_json
        ),
        timeout=clients.deadline_s,
    )
    return AnswerAck(answer_id=resp.answer_id, duplicate=resp.duplicate)


@router.get(
    "/tasks/{task_id}/content",
    summary="The image of a task you hold",
    description="Streams the object's image (file paths and file:// URIs of the manifest) while your lease "
    "on the task is active, so the portal never needs storage credentials. 403 for someone else's task, "
    "404 for a task that is gone or has no image, 409 once the lease has expired.",
    responses={200: {"content": {"image/*": {}}}, **error_responses(401, 403, 404, 409, 503)},
    openapi_extra=WORKER_SECURITY,
)
async def task_content(task_id: TaskId, worker: WorkerDep, request: Request) -> StreamingResponse:
    return await _stream_content(request, worker.worker_id, task_id, previous_mask=False)


@router.get(
    "/tasks/{task_id}/previous-mask",
    summary="The previous mask of a segmentation adjustment or verification task you hold",
    description="Streams the previous label's mask PNG (a file Quorum wrote, or a local path) while your "
    "lease is active; `previous.mask_url` of the task points here.",
    responses={200: {"content": {"image/png": {}}}, **error_responses(401, 403, 404, 409, 503)},
    openapi_extra=WORKER_SECURITY,
)
async def task_previous_mask(task_id: TaskId, worker: WorkerDep, request: Request) -> StreamingResponse:
    return await _stream_content(request, worker.worker_id, task_id, previous_mask=True)


async def _stream_content(
    request: Request, worker_id: str, task_id: str, *, previous_mask: bool
) -> StreamingResponse:
    clients = clients_of(request)
    stream = clients.workforce.GetTaskContent(
        workforce_pb2.GetTaskContentRequest(
            worker_id=worker_id, task_id=task_id, previous_mask=previous_mask
        ),
        timeout=clients.deadline_s,
    )
    # Read the first chunk before answering: errors (not yours, expired, not an image) become their status.
    chunks = aiter(stream)
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        raise ApiError(404, "content_not_found", "the task's object has no image") from None

    async def rest() -> AsyncIterator[bytes]:
        yield first.data
        async for chunk in chunks:
            yield chunk.data

    headers = {"Content-Length": str(first.size), "Cache-Control": "private, no-store"}
    return StreamingResponse(rest(), media_type=first.content_type, headers=headers)


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

"""Worker portal: the jobs a worker may label (its teams' running jobs), built from the jobs service's list.

A worker sees only jobs dispatched to one of its teams, and only what it needs to pick one: name, task type,
instructions and how many objects still wait for a label. Nothing about other workers or their answers.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from quorum_gateway.clients import requester_jobs
from quorum_gateway.deps import WORKER_SECURITY, ClientsDep, WorkerDep
from quorum_gateway.schemas import error_responses

router = APIRouter(prefix="/worker", tags=["worker"])

_OPEN = {"initializing", "in_progress"}
_MAX_PAGES = 20


class WorkerJobPublic(BaseModel):
    job_id: str
    name: str
    task_type: str
    categories: list[str]
    instructions: str
    task_time_limit_s: int
    price_per_task_usd: float
    waiting: int = Field(description="Objects of the job that have no final label yet.")


class WorkerJobsPublic(BaseModel):
    data: list[WorkerJobPublic]
    count: int


@router.get(
    "/jobs",
    summary="The running jobs of your teams",
    responses=error_responses(401, 503),
    openapi_extra=WORKER_SECURITY,
)
async def worker_jobs(worker: WorkerDep, clients: ClientsDep) -> WorkerJobsPublic:
    teams = set(worker.team_ids)
    data: list[WorkerJobPublic] = []
    async for job in requester_jobs(clients, worker.owner_id, _MAX_PAGES):
        if job.team_id in teams and job.status in _OPEN:
            data.append(
                WorkerJobPublic(
                    job_id=job.job_id,
                    name=job.name,
                    task_type=job.task_type,
                    categories=list(job.categories),
                    instructions=job.instructions,
                    task_time_limit_s=job.task_time_limit_s,
                    price_per_task_usd=job.price_per_task_usd,
                    waiting=job.counters.unlabeled,
                )
            )
    return WorkerJobsPublic(data=data, count=len(data))

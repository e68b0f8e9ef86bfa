"""Requester: private teams of workers (a job is dispatched to one team)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from quorum.consolidation.v1 import consolidation_pb2
from quorum.workforce.v1 import workforce_pb2
from quorum_gateway.clients import requester_jobs
from quorum_gateway.deps import ClientsDep, RequesterDep
from quorum_gateway.errors import ApiError
from quorum_gateway.schemas import (
    TeamCreate,
    TeamPublic,
    TeamsPublic,
    TeamWorkersPublic,
    error_responses,
)

#: Pages of the requester's jobs read to find a team's jobs (200 each).
_MAX_JOB_PAGES = 50

router = APIRouter(prefix="/teams", tags=["teams"])


@router.post("", status_code=201, summary="Create a team", responses=error_responses(400, 401, 409, 422, 503))
async def create_team(requester: RequesterDep, clients: ClientsDep, body: TeamCreate) -> TeamPublic:
    team = await clients.workforce.CreateTeam(
        workforce_pb2.CreateTeamRequest(owner_id=requester.requester_id, name=body.name),
        timeout=clients.deadline_s,
    )
    return TeamPublic.from_proto(team)


@router.get("", summary="List your teams", responses=error_responses(401, 503))
async def list_teams(requester: RequesterDep, clients: ClientsDep) -> TeamsPublic:
    resp = await clients.workforce.ListTeams(
        workforce_pb2.ListTeamsRequest(owner_id=requester.requester_id), timeout=clients.deadline_s
    )
    data = [TeamPublic.from_proto(team) for team in resp.teams]
    return TeamsPublic(data=data, count=len(data))


@router.get(
    "/{team_id}/workers",
    summary="Per-worker quality over the team's jobs (answers, jobs, accuracy, agreement)",
    description="Each job's worker model is fitted on its recorded answers; a worker's line adds up the "
    "answers and weights each job's estimates by them. `method` as for a job's workers (default ds).",
    responses=error_responses(400, 401, 404, 503),
)
async def team_workers(
    team_id: Annotated[str, Path(max_length=64)],
    requester: RequesterDep,
    clients: ClientsDep,
    method: Annotated[str, Query(max_length=32, description="Aggregation method (default ds).")] = "",
) -> TeamWorkersPublic:
    teams = await clients.workforce.ListTeams(
        workforce_pb2.ListTeamsRequest(owner_id=requester.requester_id), timeout=clients.deadline_s
    )
    if team_id not in {team.team_id for team in teams.teams}:
        raise ApiError(404, "team_not_found", f"team {team_id!r} not found")
    job_ids = [
        job.job_id
        async for job in requester_jobs(clients, requester.requester_id, _MAX_JOB_PAGES)
        if job.team_id == team_id
    ]
    report = await clients.consolidation.GetTeamWorkerQuality(
        consolidation_pb2.GetTeamWorkerQualityRequest(team_id=team_id, job_ids=job_ids[:500], method=method),
        timeout=clients.deadline_s,
    )
    return TeamWorkersPublic.from_proto(report)

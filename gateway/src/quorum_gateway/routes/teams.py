"""Requester: private teams of workers (a job is dispatched to one team)."""

from __future__ import annotations

from fastapi import APIRouter

from quorum.workforce.v1 import workforce_pb2
from quorum_gateway.deps import ClientsDep, RequesterDep
from quorum_gateway.schemas import TeamCreate, TeamPublic, TeamsPublic, error_responses

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

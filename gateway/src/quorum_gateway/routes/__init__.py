"""One router per resource. The app mounts each under /v1 directly (not nested in a parent router: FastAPI
matches nested routers recursively), worker task routes first because they take most of the traffic."""

from fastapi import APIRouter

from quorum_gateway.routes import jobs, requesters, tasks, teams, workers

API_PREFIX = "/v1"
routers: list[APIRouter] = [tasks.router, jobs.router, teams.router, workers.router, requesters.router]

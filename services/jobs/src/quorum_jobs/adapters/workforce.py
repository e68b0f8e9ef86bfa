"""gRPC client of the workforce service: one channel, a deadline on every call, errors made explicit.

Calls raise `WorkforceError`; `retryable` tells the caller whether trying again later can help (the peer
is down or overloaded) or whether workforce refused the request itself (the job should fail).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import grpc

from quorum.common.v1 import common_pb2
from quorum.workforce.v1 import workforce_pb2, workforce_pb2_grpc
from quorum_jobs.adapters.peers import PeerError, channel_options
from quorum_jobs.core.batching import DataObject, batches


class WorkforceError(PeerError):
    peer = "workforce"


@dataclass(frozen=True, slots=True)
class JobProgress:
    answers: int
    objects_complete: int
    complete_object_ids: list[int]


@dataclass(frozen=True, slots=True)
class OpenSpec:
    job_id: str
    owner_id: str
    team_id: str
    name: str
    task_type: str
    categories: Sequence[str]
    workers_per_object: int
    task_time_limit_s: int
    price_per_task_usd: float
    instructions: str
    object_count: int
    target_confidence: float = 0.0
    min_workers_per_object: int = 0
    template: str = ""


class WorkforceClient:
    def __init__(self, addr: str, *, timeout_s: float = 10.0, batch_bytes: int = 2 * 1024 * 1024) -> None:
        self.addr = addr
        self.timeout_s = timeout_s
        self.batch_bytes = batch_bytes
        self._channel = grpc.aio.insecure_channel(addr, options=channel_options(64 * 1024 * 1024))
        self._stub = workforce_pb2_grpc.WorkforceServiceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method: str, request: object, timeout_s: float | None = None) -> object:
        try:
            return await getattr(self._stub, method)(request, timeout=timeout_s or self.timeout_s)
        except grpc.aio.AioRpcError as err:
            raise WorkforceError(method, err.code(), err.details() or "") from err

    async def team_ids(self, owner_id: str) -> set[str]:
        resp = await self._call("ListTeams", workforce_pb2.ListTeamsRequest(owner_id=owner_id))
        assert isinstance(resp, workforce_pb2.ListTeamsResponse)
        return {team.team_id for team in resp.teams if team.owner_id in ("", owner_id)}

    async def team_size(self, owner_id: str, team_id: str) -> int:
        """How many workers the team has now."""
        request = workforce_pb2.ListWorkersRequest(owner_id=owner_id, team_id=team_id)
        resp = await self._call("ListWorkers", request)
        assert isinstance(resp, workforce_pb2.ListWorkersResponse)
        return len(resp.workers)

    async def put_objects(self, job_id: str, objects: Iterable[DataObject]) -> int:
        """Load the job's objects in calls of at most `batch_bytes`; returns how many calls were made."""
        calls = 0
        for batch in batches(objects, self.batch_bytes):
            await self._call(
                "PutJobObjects",
                workforce_pb2.PutJobObjectsRequest(
                    job_id=job_id,
                    objects=[
                        common_pb2.DataObject(
                            object_id=o.object_id,
                            source=o.source,
                            source_ref=o.source_ref,
                            input_json=o.input_json,
                            known_label=o.known_label,
                            model_label=o.model_label,
                            required_answers=o.required_answers,
                            min_answers=o.min_answers,
                            target_confidence=o.target_confidence,
                        )
                        for o in batch
                    ],
                    previous=[
                        workforce_pb2.PreviousLabel(object_id=o.object_id, previous_json=o.previous_json)
                        for o in batch
                        if o.previous_json
                    ],
                ),
            )
            calls += 1
        return calls

    async def open_job(self, spec: OpenSpec) -> None:
        await self._call(
            "OpenJob",
            workforce_pb2.OpenJobRequest(
                spec=workforce_pb2.JobSpec(
                    job_id=spec.job_id,
                    owner_id=spec.owner_id,
                    team_id=spec.team_id,
                    name=spec.name,
                    task_type=spec.task_type,
                    categories=list(spec.categories),
                    workers_per_object=spec.workers_per_object,
                    task_time_limit_s=spec.task_time_limit_s,
                    price_per_task_usd=spec.price_per_task_usd,
                    instructions=spec.instructions,
                    object_count=spec.object_count,
                    target_confidence=spec.target_confidence,
                    min_workers_per_object=spec.min_workers_per_object,
                    template=spec.template,
                )
            ),
        )

    async def close_job(self, job_id: str) -> None:
        await self._call("CloseJob", workforce_pb2.CloseJobRequest(job_id=job_id))

    async def progress(self, job_id: str, *, timeout_s: float | None = None) -> JobProgress:
        resp = await self._call(
            "GetJobProgress", workforce_pb2.GetJobProgressRequest(job_id=job_id), timeout_s
        )
        assert isinstance(resp, workforce_pb2.JobProgress)
        return JobProgress(resp.answers, resp.objects_complete, list(resp.complete_object_ids))

    async def replay_answers(self, job_id: str, object_ids: Sequence[int]) -> int:
        resp = await self._call(
            "ReplayAnswers", workforce_pb2.ReplayAnswersRequest(job_id=job_id, object_ids=list(object_ids))
        )
        assert isinstance(resp, workforce_pb2.ReplayAnswersResponse)
        return int(resp.republished)

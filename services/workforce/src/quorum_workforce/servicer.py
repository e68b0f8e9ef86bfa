"""gRPC edge of the workforce service: protos in, one call into Workforce, protos out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from quorum.common.v1 import common_pb2
from quorum.workforce.v1 import workforce_pb2, workforce_pb2_grpc
from quorum_workforce.adapters.content import read_chunks
from quorum_workforce.adapters.events import answer_to_proto
from quorum_workforce.core.jobs import JobSpec
from quorum_workforce.core.models import DataObject, Task, Team, Worker
from quorum_workforce.errors import InvalidArgument
from quorum_workforce.workforce import Workforce

Ctx = grpc.aio.ServicerContext


def _team(team: Team) -> workforce_pb2.Team:
    return workforce_pb2.Team(
        team_id=team.team_id, owner_id=team.owner_id, name=team.name, created_at_ms=team.created_at_ms
    )


def _worker(worker: Worker) -> workforce_pb2.Worker:
    return workforce_pb2.Worker(
        worker_id=worker.worker_id,
        owner_id=worker.owner_id,
        name=worker.name,
        team_ids=list(worker.team_ids),
        created_at_ms=worker.created_at_ms,
        answers=worker.answers,
    )


def _task(task: Task) -> workforce_pb2.Task:
    return workforce_pb2.Task(
        task_id=task.task_id,
        job_id=task.job_id,
        object_id=task.object_id,
        task_type=task.task_type,
        source=task.source,
        source_ref=task.source_ref,
        categories=list(task.categories),
        instructions=task.instructions,
        job_name=task.job_name,
        lease_expires_at_ms=task.lease_expires_at_ms,
        time_limit_s=task.time_limit_s,
        accepted_at_ms=task.accepted_at_ms,
        color_map=list(task.color_map),
        previous_json=task.previous_json,
        template=task.template,
        input_json=task.input_json,
    )


def _spec(spec: workforce_pb2.JobSpec) -> JobSpec:
    return JobSpec(
        job_id=spec.job_id,
        owner_id=spec.owner_id,
        team_id=spec.team_id,
        name=spec.name,
        task_type=spec.task_type,
        categories=tuple(spec.categories),
        workers_per_object=spec.workers_per_object,
        task_time_limit_s=spec.task_time_limit_s,
        price_per_task_usd=spec.price_per_task_usd,
        instructions=spec.instructions,
        object_count=spec.object_count,
        target_confidence=spec.target_confidence,
        min_workers_per_object=spec.min_workers_per_object,
        template=spec.template,
    )


class WorkforceServicer(workforce_pb2_grpc.WorkforceServiceServicer):
    def __init__(self, workforce: Workforce) -> None:
        self._wf = workforce

    async def CreateTeam(self, request: workforce_pb2.CreateTeamRequest, context: Ctx) -> workforce_pb2.Team:  # noqa: N802
        return _team(await self._wf.create_team(request.owner_id, request.name))

    async def ListTeams(  # noqa: N802
        self, request: workforce_pb2.ListTeamsRequest, context: Ctx
    ) -> workforce_pb2.ListTeamsResponse:
        return workforce_pb2.ListTeamsResponse(
            teams=[_team(t) for t in await self._wf.list_teams(request.owner_id)]
        )

    async def CreateWorker(  # noqa: N802
        self, request: workforce_pb2.CreateWorkerRequest, context: Ctx
    ) -> workforce_pb2.CreateWorkerResponse:
        worker, token = await self._wf.create_worker(request.owner_id, request.name, list(request.team_ids))
        return workforce_pb2.CreateWorkerResponse(worker=_worker(worker), token=token)

    async def ListWorkers(  # noqa: N802
        self, request: workforce_pb2.ListWorkersRequest, context: Ctx
    ) -> workforce_pb2.ListWorkersResponse:
        workers = await self._wf.list_workers(request.owner_id, request.team_id)
        return workforce_pb2.ListWorkersResponse(workers=[_worker(w) for w in workers])

    async def AuthenticateWorker(  # noqa: N802
        self, request: workforce_pb2.AuthenticateWorkerRequest, context: Ctx
    ) -> workforce_pb2.Worker:
        return _worker(await self._wf.authenticate(request.token))

    async def PutJobObjects(  # noqa: N802
        self, request: workforce_pb2.PutJobObjectsRequest, context: Ctx
    ) -> workforce_pb2.PutJobObjectsResponse:
        previous = {p.object_id: p.previous_json for p in request.previous}
        objects = [
            DataObject(
                o.object_id,
                o.source,
                o.source_ref,
                previous.get(o.object_id, ""),
                o.input_json,
                o.known_label,
                o.model_label,
                o.required_answers,
                o.min_answers,
                o.target_confidence,
            )
            for o in request.objects
        ]
        return workforce_pb2.PutJobObjectsResponse(stored=await self._wf.put_objects(request.job_id, objects))

    async def OpenJob(
        self, request: workforce_pb2.OpenJobRequest, context: Ctx
    ) -> workforce_pb2.OpenJobResponse:  # noqa: N802
        if not request.HasField("spec"):
            raise InvalidArgument("spec is required", reason="job_spec_invalid")
        await self._wf.open_job(_spec(request.spec))
        return workforce_pb2.OpenJobResponse()

    async def CloseJob(
        self, request: workforce_pb2.CloseJobRequest, context: Ctx
    ) -> workforce_pb2.CloseJobResponse:  # noqa: N802
        await self._wf.close_job(request.job_id)
        return workforce_pb2.CloseJobResponse()

    async def GetJobProgress(  # noqa: N802
        self, request: workforce_pb2.GetJobProgressRequest, context: Ctx
    ) -> workforce_pb2.JobProgress:
        p = await self._wf.progress(request.job_id)
        return workforce_pb2.JobProgress(
            job_id=p.job_id,
            answers=p.answers,
            objects_complete=p.objects_complete,
            active_leases=p.active_leases,
            complete_object_ids=list(p.complete_object_ids),
        )

    async def NextTask(
        self, request: workforce_pb2.NextTaskRequest, context: Ctx
    ) -> workforce_pb2.NextTaskResponse:  # noqa: N802
        task = await self._wf.next_task(request.worker_id, request.job_id)
        return workforce_pb2.NextTaskResponse(task=_task(task)) if task else workforce_pb2.NextTaskResponse()

    async def SubmitAnswer(  # noqa: N802
        self, request: workforce_pb2.SubmitAnswerRequest, context: Ctx
    ) -> workforce_pb2.SubmitAnswerResponse:
        result = await self._wf.submit(
            request.worker_id, request.task_id, request.label, request.payload_json
        )
        return workforce_pb2.SubmitAnswerResponse(answer_id=result.answer_id, duplicate=result.duplicate)

    async def DeclineTask(  # noqa: N802
        self, request: workforce_pb2.DeclineTaskRequest, context: Ctx
    ) -> workforce_pb2.DeclineTaskResponse:
        await self._wf.decline(request.worker_id, request.task_id)
        return workforce_pb2.DeclineTaskResponse()

    async def GetTaskContent(  # noqa: N802
        self, request: workforce_pb2.GetTaskContentRequest, context: Ctx
    ) -> AsyncIterator[workforce_pb2.ContentChunk]:
        image = await self._wf.task_content(request.worker_id, request.task_id, request.previous_mask)
        first = True
        for chunk in read_chunks(image):
            if first:
                yield workforce_pb2.ContentChunk(data=chunk, content_type=image.content_type, size=image.size)
                first = False
            else:
                yield workforce_pb2.ContentChunk(data=chunk)

    async def ListAnswers(  # noqa: N802
        self, request: workforce_pb2.ListAnswersRequest, context: Ctx
    ) -> AsyncIterator[common_pb2.Answer]:
        async for answer in self._wf.list_answers(request.job_id, list(request.object_ids)):
            yield answer_to_proto(answer)

    async def ReplayAnswers(  # noqa: N802
        self, request: workforce_pb2.ReplayAnswersRequest, context: Ctx
    ) -> workforce_pb2.ReplayAnswersResponse:
        count = await self._wf.replay(request.job_id, list(request.object_ids))
        return workforce_pb2.ReplayAnswersResponse(republished=count)

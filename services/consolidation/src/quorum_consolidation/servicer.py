"""gRPC edge of the consolidation service: protos in, core or store call, protos out."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quorum.consolidation.v1 import consolidation_pb2, consolidation_pb2_grpc
from quorum_common.clock import to_ms
from quorum_common.errors import FailedPrecondition
from quorum_common.logging import get_logger
from quorum_consolidation.adapters import store
from quorum_consolidation.adapters.job_quality import job_quality
from quorum_consolidation.core import ConsolidationInputError, consolidate, make_aggregator
from quorum_consolidation.core.model_annotator import is_model
from quorum_consolidation.core.worker_quality import (
    DEFAULT_METHOD,
    JobWorkerQuality,
    check_method,
    team_worker_quality,
)
from quorum_consolidation.errors import InvalidArgument, NotFound, invalid_input
from quorum_consolidation.settings import ConsolidationSettings

#: Jobs one team-quality request may name (each is a fit over its answers).
MAX_TEAM_JOBS = 500

log = get_logger(__name__)


def _checked_method(method: str) -> str:
    method = method or DEFAULT_METHOD
    try:
        check_method(method)
    except ConsolidationInputError as err:
        raise invalid_input(err) from err
    return method


class ConsolidationServicer(consolidation_pb2_grpc.ConsolidationServiceServicer):
    def __init__(self, settings: ConsolidationSettings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._settings = settings
        self._sessions = sessions

    async def ConsolidateAnswers(  # noqa: N802 - gRPC method name
        self, request: consolidation_pb2.ConsolidateAnswersRequest, context: grpc.aio.ServicerContext
    ) -> consolidation_pb2.ConsolidateAnswersResponse:
        method = request.method or self._settings.default_method
        categories = list(request.categories)
        # Objects are (job_id, object_id); each job is fitted on its own, as the consumer does.
        by_job: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
        for i, a in enumerate(request.answers):
            if not a.worker_id:
                raise InvalidArgument(f"answers[{i}] has no worker_id", reason="missing_worker_id")
            by_job[a.job_id].append((a.object_id, a.worker_id, a.label))
        labels: list[consolidation_pb2.ObjectLabel] = []
        try:
            make_aggregator(method)
            if not by_job:  # still validate the categories of an empty request
                consolidate([], categories, method)
            for job_id in sorted(by_job):
                labels.extend(
                    consolidation_pb2.ObjectLabel(
                        job_id=job_id,
                        object_id=r.object_id,
                        label=r.label,
                        class_index=r.class_index,
                        confidence=r.confidence,
                        answer_count=r.answer_count,
                        method=r.method,
                    )
                    for r in consolidate(by_job[job_id], categories, method)
                )
        except ConsolidationInputError as err:
            raise invalid_input(err) from err
        return consolidation_pb2.ConsolidateAnswersResponse(labels=labels)

    async def ListJobLabels(  # noqa: N802 - gRPC method name
        self, request: consolidation_pb2.ListJobLabelsRequest, context: grpc.aio.ServicerContext
    ) -> consolidation_pb2.ConsolidateAnswersResponse:
        if not request.job_id:
            raise InvalidArgument("job_id is required", reason="missing_job_id")
        async with self._sessions() as session:
            rows = await store.job_labels(session, request.job_id)
        return consolidation_pb2.ConsolidateAnswersResponse(
            labels=[
                consolidation_pb2.ObjectLabel(
                    job_id=r.job_id,
                    object_id=r.object_id,
                    label=r.label,
                    class_index=r.class_index,
                    confidence=r.confidence,
                    answer_count=r.answer_count,
                    method=r.method,
                    consolidated_at_ms=to_ms(r.consolidated_at),
                    worker_ids=r.worker_ids,
                    label_json=r.label_json,
                )
                for r in rows
            ]
        )

    async def GetWorkerQuality(  # noqa: N802 - gRPC method name
        self, request: consolidation_pb2.GetWorkerQualityRequest, context: grpc.aio.ServicerContext
    ) -> consolidation_pb2.WorkerQualityResponse:
        if not request.job_id:
            raise InvalidArgument("job_id is required", reason="missing_job_id")
        method = _checked_method(request.method)
        async with self._sessions() as session:
            rows = await store.job_answer_rows(session, request.job_id)
        try:
            # The fit is CPU-bound: off the event loop. Classification jobs fit `method`'s worker model,
            # structured task types their own consolidator.
            report = await asyncio.to_thread(job_quality, rows, method)
        except ConsolidationInputError as err:
            # The request was valid; the job's stored answers cannot be scored.
            raise FailedPrecondition(str(err), reason=err.reason) from err
        if report is None:
            raise NotFound(f"no answers recorded for job {request.job_id!r}", reason="job_not_found")
        return consolidation_pb2.WorkerQualityResponse(
            job_id=request.job_id,
            method=report.method,
            categories=report.categories,
            task_type=report.task_type,
            accuracy_measure=report.accuracy_measure,
            agreement_measure=report.agreement_measure,
            known_objects=report.known_objects,
            workers=[
                consolidation_pb2.WorkerQuality(
                    worker_id=w.worker_id,
                    answers=w.answers,
                    accuracy=w.accuracy,
                    confusion=w.confusion.ravel().tolist(),
                    agreement_with_consensus=w.agreement,
                    known_answers=w.known_answers,
                    known_accuracy=w.known_accuracy,
                    machine=is_model(w.worker_id),
                )
                for w in report.workers
            ],
        )

    async def GetTeamWorkerQuality(  # noqa: N802 - gRPC method name
        self, request: consolidation_pb2.GetTeamWorkerQualityRequest, context: grpc.aio.ServicerContext
    ) -> consolidation_pb2.TeamWorkerQualityResponse:
        if not request.team_id:
            raise InvalidArgument("team_id is required", reason="missing_team_id")
        if len(request.job_ids) > MAX_TEAM_JOBS:
            raise InvalidArgument(
                f"at most {MAX_TEAM_JOBS} job_ids per request, got {len(request.job_ids)}",
                reason="too_many_jobs",
            )
        method = _checked_method(request.method)
        reports: list[JobWorkerQuality] = []
        skipped: list[str] = []
        for job_id in dict.fromkeys(request.job_ids):  # each job once, in the caller's order
            async with self._sessions() as session:
                rows = await store.job_answer_rows(session, job_id)
            try:
                report = await asyncio.to_thread(job_quality, rows, method)
            except ConsolidationInputError as err:
                log.warning("worker_quality_skipped", job_id=job_id, reason=err.reason, error=str(err))
                skipped.append(job_id)
                continue
            if report is not None:
                reports.append(report)
        return consolidation_pb2.TeamWorkerQualityResponse(
            team_id=request.team_id,
            method=method,
            jobs=len(reports),
            accuracy_measures=list(dict.fromkeys(r.accuracy_measure for r in reports)),
            agreement_measures=list(dict.fromkeys(r.agreement_measure for r in reports)),
            skipped_job_ids=skipped,
            workers=[
                consolidation_pb2.TeamWorkerQuality(
                    worker_id=w.worker_id,
                    answers=w.answers,
                    jobs=w.jobs,
                    accuracy=w.accuracy,
                    agreement_with_consensus=w.agreement,
                    known_answers=w.known_answers,
                    known_accuracy=w.known_accuracy,
                )
                # The automated-labeling model is a different model in every job: not one of the team.
                for w in team_worker_quality(reports)
                if not is_model(w.worker_id)
            ],
        )

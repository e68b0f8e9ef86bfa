"""gRPC edge of the jobs service: protos in, one call into the application, protos out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from quorum.jobs.v1 import jobs_pb2, jobs_pb2_grpc
from quorum_common.clock import to_ms
from quorum_common.content import read_chunks
from quorum_jobs.adapters.autolabel_store import IterationRow
from quorum_jobs.application import JobsApp, JobView, ManifestSource
from quorum_jobs.autolabeling import AutoLabelReport
from quorum_jobs.core.autolabel import AutoLabelSpec
from quorum_jobs.core.spec import JobSpecInput


def job_to_proto(view: JobView) -> jobs_pb2.Job:
    job, spec, c = view.job, view.job.spec, view.job.counters
    return jobs_pb2.Job(
        job_id=job.job_id,
        requester_id=job.requester_id,
        name=spec.name,
        task_type=spec.task_type,
        label_attribute_name=spec.label_attribute_name,
        categories=list(spec.categories),
        workers_per_object=spec.workers_per_object,
        task_time_limit_s=spec.task_time_limit_s,
        price_per_task_usd=spec.price_per_task_usd,
        team_id=spec.team_id,
        status=job.status.value,
        counters=jobs_pb2.LabelCounters(
            total=c.total,
            human_labeled=c.human_labeled,
            machine_labeled=c.machine_labeled,
            failed=c.failed,
            unlabeled=max(c.unlabeled, 0),
        ),
        answers=view.answers,
        cost_usd=view.cost_usd,
        created_at_ms=to_ms(job.created_at),
        completed_at_ms=to_ms(job.completed_at),
        failure_reason=job.failure_reason or "",
        instructions=spec.instructions,
        target_confidence=spec.target_confidence,
        min_workers_per_object=spec.min_workers,
        source_label_attribute=spec.source_label_attribute,
        template=spec.template,
        custom_consolidation=spec.custom_consolidation,
        auto_labeling=_auto_labeling_pb(spec.auto_labeling),
        known_answer_attribute=spec.known_answer_attribute,
    )


def _auto_labeling_pb(auto: AutoLabelSpec) -> jobs_pb2.AutoLabeling | None:
    if not auto.enabled:
        return None
    return jobs_pb2.AutoLabeling(
        enabled=True,
        target_accuracy=auto.target_accuracy,
        min_dataset_size=auto.min_dataset_size,
        max_human_labeled=auto.max_human_labeled,
        validation_workers_per_object=auto.validation_workers,
    )


def _iteration_pb(row: IterationRow) -> jobs_pb2.AutoLabelingIteration:
    m = row.metrics
    return jobs_pb2.AutoLabelingIteration(
        iteration=row.iteration,
        model_version=row.model_version,
        model_id=row.model_id,
        n_train=int(m.get("n_train", 0)),
        n_validation=int(m.get("n_validation", 0)),
        validation_accuracy=float(m.get("validation_accuracy", 0.0)),
        thresholds=[
            jobs_pb2.AutoLabelingThreshold(
                category=str(t.get("category", "")),
                has_threshold=bool(t.get("has_threshold", False)),
                threshold=float(t.get("threshold", 0.0)),
                support=int(t.get("support", 0)),
                accuracy=float(t.get("accuracy", 0.0)),
                lower_bound=float(t.get("lower_bound", 0.0)),
            )
            for t in m.get("thresholds", [])
        ],
        validation_coverage=float(m.get("validation_coverage", 0.0)),
        # Corrected for the human labels' error rate (older iterations: agreement with them).
        estimated_accuracy=float(m.get("estimated_accuracy", m.get("validation_auto_accuracy", 0.0))),
        machine_labeled=row.machine_labeled,
        sent_to_humans=row.sent_to_humans,
        human_labeled_total=row.human_labeled_total,
        machine_labeled_total=row.machine_labeled_total,
        unlabeled=row.unlabeled,
        created_at_ms=to_ms(row.created_at),
        decision=row.decision,
    )


def report_to_proto(report: AutoLabelReport) -> jobs_pb2.AutoLabelingReport:
    job = report.job
    return jobs_pb2.AutoLabelingReport(
        job_id=job.job_id,
        settings=_auto_labeling_pb(job.spec.auto_labeling),
        iterations=[_iteration_pb(row) for row in report.iterations],
        objects=job.counters.total,
        human_labeled=job.counters.human_labeled,
        machine_labeled=job.counters.machine_labeled,
        failed=job.counters.failed,
        human_answers=report.human_answers,
        cost_usd=report.cost_usd,
        all_human_cost_usd=report.all_human_cost_usd,
        cost_saving_percent=report.cost_saving_percent,
        human_objects_saving_percent=report.human_objects_saving_percent,
    )


class JobsServicer(jobs_pb2_grpc.JobsServiceServicer):
    def __init__(self, app: JobsApp) -> None:
        self._app = app

    async def CreateRequester(  # noqa: N802 - gRPC method name
        self, request: jobs_pb2.CreateRequesterRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.CreateRequesterResponse:
        record, api_key = await self._app.create_requester(request.name)
        return jobs_pb2.CreateRequesterResponse(
            requester=jobs_pb2.Requester(requester_id=record.requester_id, name=record.name), api_key=api_key
        )

    async def AuthenticateRequester(  # noqa: N802
        self, request: jobs_pb2.AuthenticateRequesterRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.Requester:
        record = await self._app.authenticate(request.api_key)
        return jobs_pb2.Requester(requester_id=record.requester_id, name=record.name)

    async def CreateJob(  # noqa: N802
        self, request: jobs_pb2.CreateJobRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.Job:
        which = request.WhichOneof("manifest")
        source = ManifestSource(
            data=request.manifest_data if which == "manifest_data" else None,
            path=request.manifest_path if which == "manifest_path" else None,
        )
        spec = JobSpecInput(
            name=request.name,
            task_type=request.task_type,
            categories=list(request.categories),
            workers_per_object=request.workers_per_object,
            task_time_limit_s=request.task_time_limit_s,
            price_per_task_usd=request.price_per_task_usd,
            team_id=request.team_id,
            label_attribute_name=request.label_attribute_name,
            instructions=request.instructions,
            target_confidence=request.target_confidence,
            min_workers_per_object=request.min_workers_per_object,
            source_label_attribute=request.source_label_attribute,
            template=request.template,
            custom_consolidation=request.custom_consolidation,
            auto_labeling=request.auto_labeling.enabled,
            auto_target_accuracy=request.auto_labeling.target_accuracy,
            auto_min_dataset_size=request.auto_labeling.min_dataset_size,
            auto_max_human_labeled=request.auto_labeling.max_human_labeled,
            auto_validation_workers=request.auto_labeling.validation_workers_per_object,
            known_answer_attribute=request.known_answer_attribute,
        )
        return job_to_proto(await self._app.create_job(request.requester_id, spec, source))

    async def GetJob(  # noqa: N802
        self, request: jobs_pb2.GetJobRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.Job:
        return job_to_proto(await self._app.get_job(request.job_id, request.requester_id))

    async def ListJobs(  # noqa: N802
        self, request: jobs_pb2.ListJobsRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.ListJobsResponse:
        views, next_token = await self._app.list_jobs(
            request.requester_id, request.page_size, request.page_token
        )
        return jobs_pb2.ListJobsResponse(jobs=[job_to_proto(v) for v in views], next_page_token=next_token)

    async def StopJob(  # noqa: N802
        self, request: jobs_pb2.StopJobRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.Job:
        return job_to_proto(await self._app.stop_job(request.job_id, request.requester_id))

    async def GetAutoLabeling(  # noqa: N802
        self, request: jobs_pb2.GetJobRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.AutoLabelingReport:
        return report_to_proto(await self._app.auto_labeling(request.job_id, request.requester_id))

    async def GetOutputManifest(  # noqa: N802
        self, request: jobs_pb2.GetOutputManifestRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[jobs_pb2.ManifestChunk]:
        async for chunk in self._app.output_chunks(
            request.job_id, request.requester_id, include_unlabeled=request.include_unlabeled
        ):
            yield jobs_pb2.ManifestChunk(data=chunk)

    async def GetObjectContent(  # noqa: N802
        self, request: jobs_pb2.GetObjectContentRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[jobs_pb2.ObjectContentChunk]:
        image = await self._app.object_content(
            request.job_id, request.requester_id, request.object_id, mask=request.mask
        )
        first = True
        for chunk in read_chunks(image):
            if first:
                yield jobs_pb2.ObjectContentChunk(
                    data=chunk, content_type=image.content_type, size=image.size
                )
                first = False
            else:
                yield jobs_pb2.ObjectContentChunk(data=chunk)

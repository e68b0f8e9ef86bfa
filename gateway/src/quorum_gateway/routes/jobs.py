"""Requester: labeling jobs — create (JSON or multipart upload), follow, stop, export.

Job creation reads its own body (rather than a declared body parameter) because one route accepts both
`application/json` and `multipart/form-data`; the OpenAPI schema of both is declared by hand below.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from quorum.common.v1 import common_pb2
from quorum.consolidation.v1 import consolidation_pb2
from quorum.jobs.v1 import jobs_pb2
from quorum.workforce.v1 import workforce_pb2
from quorum_common.logging import get_logger
from quorum_gateway.deps import ClientsDep, RequesterDep
from quorum_gateway.errors import ApiError, ResponseAborted
from quorum_gateway.schemas import (
    AutoLabelingPublic,
    JobCreate,
    JobFields,
    JobPublic,
    JobsPublic,
    JobWorkersPublic,
    error_responses,
    iso_ms,
)

log = get_logger(__name__)

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobId = Annotated[str, Path(min_length=1, max_length=64, description="The job's id.")]
ObjectId = Annotated[
    int,
    Path(
        ge=0,
        le=2**63 - 1,
        description="The object's index in the job's manifest (0-based), as `object_id` in the answers.",
    ),
]
NDJSON = "application/x-ndjson"
_FLUSH_BYTES = 64 * 1024
_MAX_FORM_FIELDS = 200


def _multipart_schema() -> dict[str, Any]:
    schema = JobFields.model_json_schema()
    properties = dict(schema["properties"])
    properties["categories"] = {
        "type": "array",
        "items": {"type": "string"},
        "description": "Repeat the field once per category, or send one JSON array string.",
    }
    properties["manifest"] = {"type": "string", "format": "binary", "description": "The manifest file."}
    properties["manifest_path"] = {"type": "string", "description": "Instead of a file: a service-side path."}
    return {"type": "object", "properties": properties, "required": schema.get("required", [])}


_CREATE_JOB_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": JobCreate.model_json_schema()},
            "multipart/form-data": {"schema": _multipart_schema()},
        },
    }
}


def _validation_error(err: ValidationError, prefix: tuple[str, ...] = ("body",)) -> RequestValidationError:
    """A pydantic error from a body we parsed ourselves, shaped like FastAPI's own (the same 422)."""
    errors = []
    for item in err.errors(include_url=False, include_input=False):
        item = dict(item)
        item["loc"] = (*prefix, *item.get("loc", ()))
        ctx = item.get("ctx")
        if ctx:  # a validator's ValueError object is not JSON-able: keep its text
            item["ctx"] = {key: str(value) for key, value in ctx.items()}
        errors.append(item)
    return RequestValidationError(errors)


def _field_error(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("body", field), "msg": message}])


async def _parse_json(request: Request) -> tuple[JobFields, bytes | None, str | None]:
    body = await request.body()
    if not body:
        raise ApiError(422, "validation_error", "the request body is empty: send the job as JSON")
    try:
        spec = JobCreate.model_validate_json(body)
    except ValidationError as err:
        raise _validation_error(err) from None
    del body
    if spec.manifest is not None:
        return spec, spec.manifest.encode("utf-8"), None
    return spec, None, spec.manifest_path


async def _parse_multipart(
    request: Request, max_part_bytes: int
) -> tuple[JobFields, bytes | None, str | None]:
    form = await request.form(max_files=1, max_fields=_MAX_FORM_FIELDS, max_part_size=max_part_bytes)
    try:
        fields: dict[str, Any] = {}
        categories: list[str] = []
        manifest_data: bytes | None = None
        for key, value in form.multi_items():
            if key == "manifest":
                if manifest_data is not None:
                    raise _field_error("manifest", "give one manifest")
                if isinstance(value, UploadFile):
                    manifest_data = await value.read()
                else:
                    manifest_data = value.encode("utf-8")
            elif isinstance(value, UploadFile):
                raise _field_error(key, "unexpected file part (only `manifest` is a file)")
            elif key == "categories":
                categories.append(value)
            elif key in fields:
                raise _field_error(key, "field given more than once")
            else:
                fields[key] = value
    finally:
        await form.close()
    if len(categories) == 1 and categories[0].lstrip().startswith("["):
        try:
            fields["categories"] = json.loads(categories[0])
        except ValueError:
            raise _field_error("categories", "not a valid JSON array of strings") from None
    elif categories:
        fields["categories"] = categories
    if "auto_labeling" in fields:
        try:
            fields["auto_labeling"] = json.loads(fields["auto_labeling"])
        except ValueError:
            raise _field_error("auto_labeling", "not a valid JSON object") from None
    manifest_path = fields.pop("manifest_path", None) or None
    if (manifest_data is None) == (manifest_path is None):
        raise _field_error(
            "manifest", "give exactly one of a `manifest` file part or a `manifest_path` field"
        )
    if fields.get("label_attribute_name") == "":
        fields.pop("label_attribute_name")
    try:
        spec = JobFields.model_validate(fields)
    except ValidationError as err:
        raise _validation_error(err) from None
    return spec, manifest_data, manifest_path


@router.post(
    "",
    status_code=201,
    response_model=JobPublic,
    summary="Create a labeling job",
    description=(
        "Send the job as JSON (with the manifest's JSON lines in `manifest`, or a service-side "
        "`manifest_path`), or as `multipart/form-data` with the manifest as a file part named `manifest` "
        "and the other fields as form fields. The body may be at most MAX_MANIFEST_BYTES."
    ),
    openapi_extra=_CREATE_JOB_BODY,
    responses=error_responses(400, 401, 404, 409, 413, 415, 422, 503),
)
async def create_job(
    request: Request, response: Response, requester: RequesterDep, clients: ClientsDep
) -> JobPublic:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        spec, data, path = await _parse_multipart(request, request.app.state.settings.max_manifest_bytes)
    elif media_type in ("", "application/json") or media_type.endswith("+json"):
        spec, data, path = await _parse_json(request)
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"unsupported content type {media_type!r}: send application/json or multipart/form-data",
        )
    create = jobs_pb2.CreateJobRequest(
        requester_id=requester.requester_id,
        name=spec.name,
        task_type=spec.task_type,
        label_attribute_name=spec.label_attribute_name or "",
        categories=spec.categories,
        workers_per_object=spec.workers_per_object,
        task_time_limit_s=spec.task_time_limit_s,
        price_per_task_usd=spec.price_per_task_usd,
        team_id=spec.team_id,
        instructions=spec.instructions,
        target_confidence=spec.target_confidence,
        min_workers_per_object=spec.min_workers_per_object,
        source_label_attribute=spec.source_label_attribute,
        template=spec.template,
        custom_consolidation=spec.custom_consolidation,
        known_answer_attribute=spec.known_answer_attribute,
    )
    if spec.auto_labeling is not None:
        create.auto_labeling.CopyFrom(spec.auto_labeling.proto())
    if data is not None:
        create.manifest_data = data
    else:
        create.manifest_path = path or ""
    job = await clients.jobs.CreateJob(create, timeout=clients.upload_deadline_s)
    response.headers["Location"] = f"/v1/jobs/{job.job_id}"
    return JobPublic.from_proto(job)


@router.get("", summary="List your jobs, newest first", responses=error_responses(401, 422, 503))
async def list_jobs(
    requester: RequesterDep,
    clients: ClientsDep,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
    page_token: Annotated[str, Query(max_length=1024)] = "",
) -> JobsPublic:
    resp = await clients.jobs.ListJobs(
        jobs_pb2.ListJobsRequest(
            requester_id=requester.requester_id, page_size=page_size, page_token=page_token
        ),
        timeout=clients.deadline_s,
    )
    data = [JobPublic.from_proto(job) for job in resp.jobs]
    return JobsPublic(data=data, count=len(data), next_page_token=resp.next_page_token)


@router.get(
    "/{job_id}", summary="A job's status, counters and cost", responses=error_responses(401, 404, 503)
)
async def get_job(job_id: JobId, requester: RequesterDep, clients: ClientsDep) -> JobPublic:
    job = await clients.jobs.GetJob(
        jobs_pb2.GetJobRequest(job_id=job_id, requester_id=requester.requester_id), timeout=clients.deadline_s
    )
    return JobPublic.from_proto(job)


@router.post(
    "/{job_id}/stop",
    summary="Stop a job",
    description="No new tasks are handed out; the labels gathered so far are consolidated and exported.",
    responses=error_responses(401, 404, 409, 503),
)
async def stop_job(job_id: JobId, requester: RequesterDep, clients: ClientsDep) -> JobPublic:
    job = await clients.jobs.StopJob(
        jobs_pb2.StopJobRequest(job_id=job_id, requester_id=requester.requester_id),
        timeout=clients.deadline_s,
    )
    return JobPublic.from_proto(job)


@router.get(
    "/{job_id}/auto-labeling",
    summary="Automated labeling of a job: every iteration (model, thresholds, machine and human labels) and "
    "the cost against an all-human job",
    responses=error_responses(401, 404, 409, 503),
)
async def job_auto_labeling(
    job_id: JobId, requester: RequesterDep, clients: ClientsDep
) -> AutoLabelingPublic:
    report = await clients.jobs.GetAutoLabeling(
        jobs_pb2.GetJobRequest(job_id=job_id, requester_id=requester.requester_id), timeout=clients.deadline_s
    )
    return AutoLabelingPublic.from_proto(report)


@router.get(
    "/{job_id}/workers",
    summary="Per-worker quality estimates for a job (answers, accuracy, confusion matrix, agreement)",
    description="Fitted on every answer recorded for the job so far. Classification: `method` picks the "
    "aggregation model (ds, mv, one_coin_ds, glad, mace, auto; default ds). Structured task types (boxes, "
    "spans, masks, multi-label, verification, adjustment, custom): the reliability their consolidator "
    "estimates; `accuracy_measure` and `agreement_measure` say what the numbers mean, and only "
    "classification and label verification have a confusion matrix.",
    responses=error_responses(400, 401, 404, 503),
)
async def job_workers(
    job_id: JobId,
    requester: RequesterDep,
    clients: ClientsDep,
    method: Annotated[str, Query(max_length=32, description="Aggregation method (default ds).")] = "",
) -> JobWorkersPublic:
    # The consolidation service does not know owners: check the job is this requester's first.
    job = await clients.jobs.GetJob(
        jobs_pb2.GetJobRequest(job_id=job_id, requester_id=requester.requester_id), timeout=clients.deadline_s
    )
    request = consolidation_pb2.GetWorkerQualityRequest(job_id=job_id, method=method)
    try:
        resp = await clients.consolidation.GetWorkerQuality(request, timeout=clients.deadline_s)
    except grpc.RpcError as err:
        code = err.code() if callable(getattr(err, "code", None)) else None  # type: ignore[attr-defined]
        if code != grpc.StatusCode.NOT_FOUND:
            raise
        # The job is the requester's but no answer has reached consolidation yet: no workers so far.
        resp = consolidation_pb2.WorkerQualityResponse(job_id=job_id, method=method or "ds")
    return JobWorkersPublic.from_proto(resp, task_type=job.task_type)


# ---------------------------------------------------------------- exports (streamed)


async def _open_stream(call: Any) -> tuple[list[Any], AsyncIterator[Any]]:
    """Read the first message before answering, so NOT_FOUND & co. still become a proper HTTP error."""
    iterator = call.__aiter__()
    try:
        return [await iterator.__anext__()], iterator
    except StopAsyncIteration:
        return [], iterator
    except BaseException:
        _cancel(call)
        raise


def _cancel(call: Any) -> None:
    cancel = getattr(call, "cancel", None)
    if callable(cancel):
        cancel()


async def _relay(
    call: Any, first: list[Any], rest: AsyncIterator[Any], to_bytes: Any, what: str, job_id: str
) -> AsyncIterator[bytes]:
    """Re-chunk a gRPC stream into ~64 KiB HTTP chunks; cancel the call if the client goes away."""
    buffer: list[bytes] = []
    size = 0
    try:
        for message in first:
            piece = to_bytes(message)
            buffer.append(piece)
            size += len(piece)
        async for message in rest:
            piece = to_bytes(message)
            buffer.append(piece)
            size += len(piece)
            if size >= _FLUSH_BYTES:
                yield b"".join(buffer)
                buffer, size = [], 0
        if buffer:
            yield b"".join(buffer)
    except grpc.RpcError as err:
        code = err.code() if callable(getattr(err, "code", None)) else None  # type: ignore[attr-defined]
        log.warning("export_interrupted", what=what, job_id=job_id, status=getattr(code, "name", str(code)))
        raise ResponseAborted(f"{what} export of job {job_id} interrupted") from err
    finally:
        _cancel(call)


def _chunk_bytes(chunk: jobs_pb2.ManifestChunk) -> bytes:
    return chunk.data


@router.get(
    "/{job_id}/output",
    summary="Download the output manifest (Ground Truth format, JSON lines)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {NDJSON: {}}, "description": "The output manifest, streamed."},
        **error_responses(401, 404, 409, 503),
    },
)
async def job_output(
    job_id: JobId,
    requester: RequesterDep,
    clients: ClientsDep,
    include_unlabeled: Annotated[
        bool,
        Query(
            description="While the job runs, also write its unlabeled objects (each as its input line "
            "alone), so every object is a line in object order and a line's index is its object id. "
            "Off (the default): a running job's output holds only its labeled objects, as Ground Truth's. "
            "A finished job's output has every object either way."
        ),
    ] = False,
) -> StreamingResponse:
    call = clients.jobs.GetOutputManifest(
        jobs_pb2.GetOutputManifestRequest(
            job_id=job_id, requester_id=requester.requester_id, include_unlabeled=include_unlabeled
        ),
        timeout=clients.stream_deadline_s,
    )
    first, rest = await _open_stream(call)
    return StreamingResponse(
        _relay(call, first, rest, _chunk_bytes, "output", job_id),
        media_type=NDJSON,
        headers={"Content-Disposition": 'attachment; filename="output.manifest"'},
    )


def answer_record(answer: common_pb2.Answer) -> dict[str, Any]:
    """One raw answer in the shape of a Ground Truth worker response."""
    content: dict[str, Any] = {}
    if answer.payload_json:
        try:
            parsed = json.loads(answer.payload_json)
        except ValueError:
            parsed = {"raw": answer.payload_json}
        content = parsed if isinstance(parsed, dict) else {"value": parsed}
    if answer.label and "label" not in content:
        content = {"label": answer.label, **content}
    return {
        "object_id": answer.object_id,
        "answerId": answer.answer_id,
        "workerId": answer.worker_id,
        "answerContent": content,
        "acceptanceTime": iso_ms(answer.accepted_at_ms),
        "submissionTime": iso_ms(answer.submitted_at_ms),
        "timeSpentInSeconds": round(answer.time_spent_s, 3),
    }


def _answer_line(answer: common_pb2.Answer) -> bytes:
    return (json.dumps(answer_record(answer), ensure_ascii=False, separators=(",", ":")) + "\n").encode()


@router.get(
    "/{job_id}/answers",
    summary="Download the raw worker answers (one JSON line per answer)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {NDJSON: {}}, "description": "Every answer, by object then submission time."},
        **error_responses(401, 404, 503),
    },
)
async def job_answers(job_id: JobId, requester: RequesterDep, clients: ClientsDep) -> StreamingResponse:
    # The workforce service does not know owners: check the job is this requester's first.
    await clients.jobs.GetJob(
        jobs_pb2.GetJobRequest(job_id=job_id, requester_id=requester.requester_id), timeout=clients.deadline_s
    )
    call = clients.workforce.ListAnswers(
        workforce_pb2.ListAnswersRequest(job_id=job_id), timeout=clients.stream_deadline_s
    )
    first, rest = await _open_stream(call)
    return StreamingResponse(
        _relay(call, first, rest, _answer_line, "answers", job_id),
        media_type=NDJSON,
        headers={"Content-Disposition": 'attachment; filename="worker-responses.jsonl"'},
    )


# ---------------------------------------------------------------- an object's image and mask (streamed)


async def _object_file(
    clients: Any, job_id: str, requester_id: str, object_id: int, *, mask: bool
) -> StreamingResponse:
    call = clients.jobs.GetObjectContent(
        jobs_pb2.GetObjectContentRequest(
            job_id=job_id, requester_id=requester_id, object_id=object_id, mask=mask
        ),
        timeout=clients.stream_deadline_s,
    )
    # The first chunk is read before answering: not yours, unknown, no image become their status.
    first, rest = await _open_stream(call)
    if not first:
        raise ApiError(404, "no_image", f"object {object_id} has no {'mask' if mask else 'image'}")
    headers = {"Content-Length": str(first[0].size), "Cache-Control": "private, no-store"}
    return StreamingResponse(
        _relay(call, first, rest, _chunk_bytes, "mask" if mask else "image", job_id),
        media_type=first[0].content_type,
        headers=headers,
    )


@router.get(
    "/{job_id}/objects/{object_id}/content",
    summary="An object's image",
    description="Streams the image of one of your job's objects (file paths and file:// URIs of the "
    "manifest), so the console never needs storage credentials. 404 for another requester's job or an "
    "unknown object, 404 `no_image` for a text object, 409 for an image that is not a local file or is "
    "larger than CONTENT_MAX_BYTES.",
    response_class=StreamingResponse,
    responses={200: {"content": {"image/*": {}}}, **error_responses(401, 404, 409, 422, 503)},
)
async def object_content(
    job_id: JobId, object_id: ObjectId, requester: RequesterDep, clients: ClientsDep
) -> StreamingResponse:
    return await _object_file(clients, job_id, requester.requester_id, object_id, mask=False)


@router.get(
    "/{job_id}/objects/{object_id}/mask",
    summary="An object's consolidated segmentation mask (PNG)",
    description="Streams the mask file the output manifest references as `<attr>-ref` (the job's colours, "
    "background `#ffffff`). 404 for another requester's job or an unknown object, 404 `no_image` for an "
    "object without a segmentation label (yet).",
    response_class=StreamingResponse,
    responses={200: {"content": {"image/png": {}}}, **error_responses(401, 404, 409, 422, 503)},
)
async def object_mask(
    job_id: JobId, object_id: ObjectId, requester: RequesterDep, clients: ClientsDep
) -> StreamingResponse:
    return await _object_file(clients, job_id, requester.requester_id, object_id, mask=True)

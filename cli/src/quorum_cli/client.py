"""A small synchronous client of the Quorum REST API (one method per endpoint), used by the CLI.

Every non-2xx answer raises `QuorumApiError(status, code, message)` with the gateway's error code; an
unreachable API raises it too (status 0, code "connection_failed"), so callers handle one exception type.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import httpx

DEFAULT_API = "http://127.0.0.1:8080"
# Job creation uploads and loads a whole manifest: allow the service time to answer.
_CREATE_JOB_TIMEOUT = httpx.Timeout(30.0, read=600.0, write=600.0)
_EXPORT_TIMEOUT = httpx.Timeout(30.0, read=600.0)


class QuorumApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _error_from(response: httpx.Response) -> QuorumApiError:
    try:
        error = response.json()["error"]
        return QuorumApiError(response.status_code, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        text = response.text.strip()[:300] or response.reason_phrase
        return QuorumApiError(response.status_code, f"http_{response.status_code}", text)


class QuorumClient:
    def __init__(
        self,
        api_url: str = DEFAULT_API,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.api_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> QuorumClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        try:
            response = self._http.send(request, stream=stream)
        except httpx.TimeoutException as err:
            raise QuorumApiError(
                0, "timeout", f"the Quorum API at {self.api_url} did not answer in time"
            ) from err
        except httpx.TransportError as err:
            raise QuorumApiError(
                0,
                "connection_failed",
                f"cannot reach the Quorum API at {self.api_url} ({err}); is it running (`quorum up`)?",
            ) from err
        if response.status_code >= 400:
            if stream:
                response.read()
                response.close()
            raise _error_from(response)
        return response

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._send(self._http.build_request(method, path, **kwargs))

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # ------------------------------------------------------------------ admin

    def create_requester(self, name: str) -> dict[str, Any]:
        """Needs the admin key. Returns {requester_id, name, api_key}; the key is shown once."""
        return self._json("POST", "/v1/requesters", json={"name": name})  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ teams and workers

    def create_team(self, name: str) -> dict[str, Any]:
        return self._json("POST", "/v1/teams", json={"name": name})  # type: ignore[no-any-return]

    def list_teams(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/teams")["data"]  # type: ignore[no-any-return]

    def create_worker(self, name: str, team_ids: list[str]) -> dict[str, Any]:
        """Returns {worker, token}; the token is shown once."""
        body = {"name": name, "team_ids": team_ids}
        return self._json("POST", "/v1/workers", json=body)  # type: ignore[no-any-return]

    def list_workers(self, team_id: str | None = None) -> list[dict[str, Any]]:
        params = {"team_id": team_id} if team_id else None
        return self._json("GET", "/v1/workers", params=params)["data"]  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ jobs

    def create_job(
        self,
        *,
        name: str,
        task_type: str,
        categories: list[str],
        team_id: str,
        workers_per_object: int = 3,
        task_time_limit_s: int = 300,
        price_per_task_usd: float = 0.0,
        instructions: str = "",
        label_attribute_name: str | None = None,
        target_confidence: float = 0.0,
        min_workers_per_object: int = 0,
        source_label_attribute: str = "",
        template: str = "",
        custom_consolidation: str = "",
        auto_labeling: dict[str, Any] | None = None,
        known_answer_attribute: str = "",
        manifest_file: Path | None = None,
        manifest_path: str | None = None,
        manifest: str | None = None,
    ) -> dict[str, Any]:
        """Give exactly one of `manifest_file` (uploaded, streamed from disk), `manifest_path` (read by the
        jobs service from its own file system) or `manifest` (the JSON lines as a string)."""
        if sum(x is not None for x in (manifest_file, manifest_path, manifest)) != 1:
            raise ValueError("give exactly one of manifest_file, manifest_path or manifest")
        fields: dict[str, Any] = {
            "name": name,
            "task_type": task_type,
            "categories": categories,
            "team_id": team_id,
            "workers_per_object": workers_per_object,
            "task_time_limit_s": task_time_limit_s,
            "price_per_task_usd": price_per_task_usd,
            "instructions": instructions,
        }
        if label_attribute_name:
            fields["label_attribute_name"] = label_attribute_name
        if target_confidence:
            fields["target_confidence"] = target_confidence
        if min_workers_per_object:
            fields["min_workers_per_object"] = min_workers_per_object
        if source_label_attribute:
            fields["source_label_attribute"] = source_label_attribute
        if template:
            fields["template"] = template
        if custom_consolidation:
            fields["custom_consolidation"] = custom_consolidation
        if auto_labeling:
            fields["auto_labeling"] = auto_labeling
        if known_answer_attribute:
            fields["known_answer_attribute"] = known_answer_attribute
        if manifest_file is None:
            body = (
                {**fields, "manifest": manifest}
                if manifest is not None
                else {**fields, "manifest_path": manifest_path}
            )
            request = self._http.build_request("POST", "/v1/jobs", json=body, timeout=_CREATE_JOB_TIMEOUT)
            return self._send(request).json()  # type: ignore[no-any-return]
        form = {
            key: value
            if isinstance(value, list)
            else json.dumps(value)
            if isinstance(value, dict)
            else str(value)
            for key, value in fields.items()
        }
        with manifest_file.open("rb") as fh:
            request = self._http.build_request(
                "POST",
                "/v1/jobs",
                data=form,
                files={"manifest": (manifest_file.name, fh, "application/x-ndjson")},
                timeout=_CREATE_JOB_TIMEOUT,
            )
            return self._send(request).json()  # type: ignore[no-any-return]

    def list_jobs(self, page_size: int = 50, page_token: str = "") -> dict[str, Any]:
        """One page: {data, count, next_page_token}."""
        params: Mapping[str, Any] = {
            "page_size": page_size,
            **({"page_token": page_token} if page_token else {}),
        }
        return self._json("GET", "/v1/jobs", params=params)  # type: ignore[no-any-return]

    def iter_jobs(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        token = ""
        while True:
            page = self.list_jobs(page_size=page_size, page_token=token)
            yield from page["data"]
            token = page.get("next_page_token") or ""
            if not token:
                return

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/jobs/{job_id}")  # type: ignore[no-any-return]

    def stop_job(self, job_id: str) -> dict[str, Any]:
        return self._json("POST", f"/v1/jobs/{job_id}/stop")  # type: ignore[no-any-return]

    def job_auto_labeling(self, job_id: str) -> dict[str, Any]:
        """A job's automated labeling: settings, iterations, counts and cost against an all-human job."""
        return self._json("GET", f"/v1/jobs/{job_id}/auto-labeling")  # type: ignore[no-any-return]

    def job_workers(self, job_id: str, method: str = "") -> dict[str, Any]:
        """Per-worker quality of a job: {job_id, method, categories, data, count}."""
        params: Mapping[str, Any] = {"method": method} if method else {}
        return self._json("GET", f"/v1/jobs/{job_id}/workers", params=params)  # type: ignore[no-any-return]

    def _download(self, path: str, dest: IO[bytes]) -> int:
        request = self._http.build_request("GET", path, timeout=_EXPORT_TIMEOUT)
        response = self._send(request, stream=True)
        written = 0
        try:
            for chunk in response.iter_bytes():
                dest.write(chunk)
                written += len(chunk)
        except httpx.HTTPError as err:
            raise QuorumApiError(
                0, "download_interrupted", f"the download of {path} was interrupted: {err}"
            ) from err
        finally:
            response.close()
        return written

    def download_output(self, job_id: str, dest: IO[bytes]) -> int:
        """Stream the output manifest (Ground Truth format) into `dest`; returns the bytes written."""
        return self._download(f"/v1/jobs/{job_id}/output", dest)

    def download_answers(self, job_id: str, dest: IO[bytes]) -> int:
        """Stream the raw worker answers (one JSON line each) into `dest`."""
        return self._download(f"/v1/jobs/{job_id}/answers", dest)

    # ------------------------------------------------------------------ worker (with a worker token)

    def next_task(self, job_id: str | None = None) -> dict[str, Any] | None:
        """The next leased task, or None when there is none right now (204)."""
        response = self._request(
            "POST", "/v1/worker/tasks/next", params={"job_id": job_id} if job_id else None
        )
        return None if response.status_code == 204 else response.json()

    def submit_answer(
        self, task_id: str, label: str = "", payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"label": label}
        if payload is not None:
            body["payload"] = payload
        return self._json("POST", f"/v1/worker/tasks/{task_id}/answer", json=body)  # type: ignore[no-any-return]

    def decline_task(self, task_id: str) -> None:
        self._request("POST", f"/v1/worker/tasks/{task_id}/decline")

    def me(self) -> dict[str, Any]:
        return self._json("GET", "/v1/worker/me")  # type: ignore[no-any-return]

    def health(self) -> bool:
        return self._request("GET", "/healthz").status_code == 200

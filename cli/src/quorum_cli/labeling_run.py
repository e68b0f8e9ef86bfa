"""Drive one whole labeling job through the public HTTP API with simulated workers.

Used by `quorum demo`, `bench/platform.py` and the end-to-end tests, so all three exercise exactly what a
real requester and real workers do: create a team and workers, create the job, then many concurrent
workers loop next-task -> answer -> submit until the job completes.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from quorum_cli.simulation import CrowdDataset, CrowdSimulator

# aiohttp, not httpx, on this hot path: with 48 concurrent workers httpx's async pool fell to ~300 req/s
# on this machine while aiohttp kept ~4,000 req/s, and the load generator must not be the bottleneck.


@dataclass
class RunResult:
    job: dict[str, Any]
    output_lines: list[dict[str, Any]]
    acked: dict[str, str]  # answer_id -> task_id of every acknowledged submit
    answers_submitted: int
    wall_s: float
    next_latencies_ms: list[float] = field(default_factory=list)
    submit_latencies_ms: list[float] = field(default_factory=list)

    def predictions(self, attribute: str) -> dict[str, str]:
        """item id -> consolidated class name, read back from the output manifest."""
        out = {}
        for line in self.output_lines:
            meta = line.get(f"{attribute}-metadata", {})
            if attribute in line and "class-name" in meta:
                out[str(line["item"])] = meta["class-name"]
        return out


class ApiError(RuntimeError):
    pass


@dataclass
class Response:
    """A fully read HTTP response (the body is read before the connection goes back to the pool)."""

    method: str
    path: str
    status_code: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class ApiClient:
    """The few HTTP verbs the simulation needs, over one pooled aiohttp session."""

    def __init__(self, base_url: str, *, connections: int, timeout_s: float = 60) -> None:
        self._session = aiohttp.ClientSession(
            base_url,
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        )

    async def request(self, method: str, path: str, **kwargs: Any) -> Response:
        async with self._session.request(method, path, **kwargs) as r:
            return Response(method, path, r.status, await r.text())

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Response:
        return await self.request("POST", path, **kwargs)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()


def _check(response: Response, expected: tuple[int, ...] = (200, 201)) -> Response:
    if response.status_code not in expected:
        raise ApiError(f"{response.method} {response.path} -> {response.status_code}: {response.text[:500]}")
    return response


async def create_workers(
    client: ApiClient, key: str, names: list[str], team_name: str
) -> tuple[str, dict[str, str]]:
    headers = {"Authorization": f"Bearer {key}"}
    team = _check(await client.post("/v1/teams", json={"name": team_name}, headers=headers)).json()
    team_id = team["team_id"]
    semaphore = asyncio.Semaphore(16)

    async def add(name: str) -> tuple[str, str]:
        async with semaphore:
            r = _check(
                await client.post("/v1/workers", json={"name": name, "team_ids": [team_id]}, headers=headers)
            )
            return name, r.json()["token"]

    tokens = dict(await asyncio.gather(*(add(n) for n in names)))
    return team_id, tokens


def answers_to_stop_at(
    n_objects: int,
    workers_per_object: int,
    auto_labeling: dict[str, Any] | None,
    target_confidence: float | None,
) -> int | None:
    """After how many submitted answers the simulated workers may stop before the job reports completion
    (saves their idle polling): every object's fixed count, known only for a job with neither automated
    labeling nor adaptive redundancy. None: they work until the job ends. An automated-labeling job asks for
    answers on only some objects, and more than workers_per_object on its random draws (validation
    workers), so a total can be reached while objects still wait for answers: stopping then stalled the
    job until its timeout."""
    if (auto_labeling and auto_labeling.get("enabled")) or target_confidence:
        return None
    return n_objects * workers_per_object


async def run_labeling_job(
    api_url: str,
    requester_key: str,
    dataset: CrowdDataset,
    *,
    workers_per_object: int = 3,
    price_per_task_usd: float = 0.012,
    time_limit_s: int = 300,
    concurrency: int = 64,
    seed: int = 0,
    job_name: str | None = None,
    on_answer: Any = None,
    think_s: float = 0.0,
    timeout_s: float = 1800,
    target_confidence: float | None = None,
    min_workers_per_object: int | None = None,
    auto_labeling: dict[str, Any] | None = None,
    monitor: Any = None,
    known_answer_attribute: str = "",
    on_task: Any = None,
) -> RunResult:
    """Create a job for `dataset` and label it with simulated workers; returns once it completed.

    `auto_labeling`: the job's automated-labeling settings (the API's object). `monitor(client, job_id,
    headers)`: a coroutine run beside the workers until the job ends (e.g. to follow its iterations).
    `known_answer_attribute`: the job's known-answer attribute (the dataset's manifest lines carry it).
    `on_task(worker, task)`: called with every task a worker receives (the portal API's JSON)."""
    simulator = CrowdSimulator(dataset, seed=seed)
    async with ApiClient(api_url, connections=concurrency) as client:
        headers = {"Authorization": f"Bearer {requester_key}"}
        suffix = uuid.uuid4().hex[:8]
        team_id, tokens = await create_workers(client, requester_key, dataset.workers, f"team-{suffix}")
        name = job_name or f"{dataset.name.replace('_', '-')[:40]}-{suffix}"
        job = _check(
            await client.post(
                "/v1/jobs",
                headers=headers,
                json={
                    "name": name,
                    "task_type": dataset.task_type,
                    "categories": dataset.categories,
                    "workers_per_object": workers_per_object,
                    "task_time_limit_s": time_limit_s,
                    "price_per_task_usd": price_per_task_usd,
                    "team_id": team_id,
                    "instructions": f"Pick the right class for each {dataset.name} item.",
                    "manifest": "\n".join(dataset.manifest_lines()) + "\n",
                    **({"target_confidence": target_confidence} if target_confidence else {}),
                    **({"min_workers_per_object": min_workers_per_object} if min_workers_per_object else {}),
                    **({"auto_labeling": auto_labeling} if auto_labeling else {}),
                    **({"known_answer_attribute": known_answer_attribute} if known_answer_attribute else {}),
                },
            )
        ).json()
        job_id = job["job_id"]
        item_of_object = dict(enumerate(dataset.items))
        needed = answers_to_stop_at(len(dataset.items), workers_per_object, auto_labeling, target_confidence)
        result = RunResult(job, [], {}, 0, 0.0)
        done = asyncio.Event()
        started = time.perf_counter()

        async def call(method: str, url: str, **kwargs: Any) -> Response:
            """Retry while a service restarts (503/transport errors): the same request is safe to repeat."""
            for attempt in range(600):
                try:
                    r = await client.request(method, url, **kwargs)
                    if r.status_code not in (502, 503, 504):
                        return r
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if done.is_set() or attempt == 599:
                    raise ApiError(f"{method} {url}: service unavailable")
                await asyncio.sleep(0.1)
            raise AssertionError("unreachable")

        rng = random.Random(seed)

        async def worker_loop(worker: str, token: str) -> None:
            worker_headers = {"Authorization": f"Bearer {token}"}
            idle = 0.05
            while not done.is_set():
                t0 = time.perf_counter()
                r = await call(
                    "POST", "/v1/worker/tasks/next", params={"job_id": job_id}, headers=worker_headers
                )
                result.next_latencies_ms.append((time.perf_counter() - t0) * 1000)
                if r.status_code == 204:
                    await asyncio.sleep(idle)
                    idle = min(idle * 2, 1.0)
                    continue
                task = _check(r).json()
                if on_task is not None:
                    on_task(worker, task)
                idle = 0.05
                label = simulator.answer(worker, item_of_object[int(task["object_id"])])
                t0 = time.perf_counter()
                # A retried submit is idempotent: the same task id is never counted twice.
                r = await call(
                    "POST",
                    f"/v1/worker/tasks/{task['task_id']}/answer",
                    json={"label": label},
                    headers=worker_headers,
                )
                result.submit_latencies_ms.append((time.perf_counter() - t0) * 1000)
                if r.status_code == 409:  # lease expired or job closed meanwhile: move on
                    continue
                ack = _check(r).json()
                result.acked[ack["answer_id"]] = task["task_id"]
                result.answers_submitted += 0 if ack.get("duplicate") else 1
                if on_answer is not None:
                    await on_answer(result)
                if needed is not None and result.answers_submitted >= needed:
                    done.set()
                if think_s:  # a person takes a moment per task; spread it so workers don't move in lockstep
                    await asyncio.sleep(think_s * (0.5 + rng.random()))

        async def watch_job() -> dict[str, Any]:
            deadline = time.monotonic() + timeout_s
            while True:
                status = _check(await client.get(f"/v1/jobs/{job_id}", headers=headers)).json()
                if status["status"] in ("completed", "stopped", "failed"):
                    done.set()
                    return status
                if time.monotonic() > deadline:
                    done.set()
                    raise TimeoutError(f"job {job_id} not complete after {timeout_s}s: {status}")
                await asyncio.sleep(0.25)

        workers = [asyncio.create_task(worker_loop(w, tokens[w])) for w in dataset.workers]
        watcher = asyncio.create_task(monitor(client, job_id, headers)) if monitor is not None else None
        try:
            result.job = await watch_job()
        finally:
            done.set()
            await asyncio.gather(*workers, return_exceptions=True)
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
        result.wall_s = time.perf_counter() - started
        output = _check(await client.get(f"/v1/jobs/{job_id}/output", headers=headers))
        result.output_lines = [json.loads(line) for line in output.text.splitlines() if line.strip()]
        for task in workers:
            if task.done() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return result


async def fetch_answers(api_url: str, requester_key: str, job_id: str) -> list[dict[str, Any]]:
    async with ApiClient(api_url, connections=4) as client:
        r = _check(
            await client.get(
                f"/v1/jobs/{job_id}/answers", headers={"Authorization": f"Bearer {requester_key}"}
            )
        )
        return [json.loads(line) for line in r.text.splitlines() if line.strip()]

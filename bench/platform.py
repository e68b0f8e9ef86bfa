# ruff: noqa: E402 - imports follow the sys.path fix below
"""End-to-end platform benchmark: sustained answers/s and next-task/submit latency through the public API.

Many concurrent simulated workers label a generated text-classification job (next task -> answer ->
submit) until every object has its consolidated label stored by the jobs service. Baseline, measured in the
same run and at the same concurrency: `GET /healthz` on the same gateway (HTTP + FastAPI cost alone), so the
ratio says how much of the bare web stack's throughput a full answer round (two API calls, two gRPC calls,
a PostgreSQL commit, Redis leases, Kafka events, consolidation, label storage) keeps.

    .venv/bin/python bench/platform.py [--objects 2000] [--workers 48] [--per-object 3] \
        [--api URL --api-key K]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the standard
# library's `platform` module (which numpy imports): take the folder off before importing anything else.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import json
import platform as host
import statistics
import tempfile
import time

import httpx
import numpy as np

from quorum_cli.labeling_run import ApiClient, run_labeling_job
from quorum_cli.platform import Platform
from quorum_cli.simulation import CrowdDataset
from quorum_common.devinfra import free_port


def synthetic(n_items: int, n_workers: int, seed: int = 0) -> CrowdDataset:
    rng = np.random.default_rng(seed)
    categories = ["a", "b", "c", "d"]
    items = [f"i{i}" for i in range(n_items)]
    gold = {i: categories[int(rng.integers(4))] for i in items}
    acc = rng.uniform(0.6, 0.95, size=n_workers)
    conf = np.stack([np.full((4, 4), (1 - a) / 3) + np.eye(4) * (a - (1 - a) / 3) for a in acc])
    contents = {i: {"source": f"text of {i}"} for i in items}
    return CrowdDataset(
        "bench", items, categories, gold, contents, {}, [f"w{w}" for w in range(n_workers)], conf
    )


async def healthz_baseline(api: str, concurrency: int, seconds: float) -> float:
    count = 0
    async with ApiClient(api, connections=concurrency) as client:
        deadline = time.perf_counter() + seconds

        async def loop() -> None:
            nonlocal count
            while time.perf_counter() < deadline:
                assert (await client.get("/healthz")).status_code == 200
                count += 1

        start = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return count / (time.perf_counter() - start)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=48, help="concurrent simulated workers")
    parser.add_argument("--per-object", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=48, help="HTTP connections")
    parser.add_argument("--think-ms", type=float, default=0.0, help="mean pause of a worker between tasks")
    parser.add_argument("--api")
    parser.add_argument("--api-key")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    plat = None
    tmp = None
    api, key = args.api, args.api_key
    if api is None:
        tmp = tempfile.TemporaryDirectory(prefix="quorum-bench-")
        plat = Platform(data_dir=Path(tmp.name), gateway_port=free_port()).start()
        api = plat.api_url
        key = httpx.post(
            f"{api}/v1/requesters",
            json={"name": "bench"},
            headers={"Authorization": f"Bearer {plat.admin_api_key}"},
        ).json()["api_key"]
    try:
        baseline = asyncio.run(healthz_baseline(api, args.concurrency, 5.0))
        data = synthetic(args.objects, args.workers)
        result = asyncio.run(
            run_labeling_job(
                api,
                key,
                data,
                workers_per_object=args.per_object,
                concurrency=args.concurrency,
                think_s=args.think_ms / 1000,
            )
        )
    finally:
        if plat is not None:
            plat.stop()
        if tmp is not None:
            tmp.cleanup()
    answers = result.answers_submitted
    figures = {
        "machine": f"{host.machine()} {host.processor() or ''} cpus={__import__('os').cpu_count()}".strip(),
        "objects": args.objects,
        "answers": answers,
        "workers": args.workers,
        "think_ms": args.think_ms,
        "wall_s_submit_to_all_labels_stored": round(result.wall_s, 2),
        "answers_per_s_end_to_end": round(answers / result.wall_s, 1),
        "baseline_healthz_req_per_s": round(baseline, 1),
        "ratio_answers_vs_healthz": round(answers / result.wall_s / baseline, 3),
        "next_task_p50_ms": round(pct(result.next_latencies_ms, 0.5), 2),
        "next_task_p99_ms": round(pct(result.next_latencies_ms, 0.99), 2),
        "submit_p50_ms": round(pct(result.submit_latencies_ms, 0.5), 2),
        "submit_p99_ms": round(pct(result.submit_latencies_ms, 0.99), 2),
        "next_task_mean_ms": round(statistics.fmean(result.next_latencies_ms), 2),
        "job_status": result.job["status"],
    }
    print(json.dumps(figures, indent=2))  # noqa: T201 - a benchmark prints its figures
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

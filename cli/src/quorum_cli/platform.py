"""Start and supervise the whole platform on one machine: infrastructure, migrations, services, gateway.

`quorum up` (what `make run` runs) and the end-to-end tests both use `Platform`. Every service is a real
OS process speaking gRPC; infrastructure comes from pip wheels (see quorum_common.devinfra) unless
DATABASE_URL / REDIS_URL / KAFKA_BOOTSTRAP_SERVERS point at existing servers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from quorum_common.db import run_migrations
from quorum_common.devinfra import (
    EmbeddedKafka,
    EmbeddedPostgres,
    EmbeddedRedis,
    free_port,
    stop_process,
    wait_for_port,
)

# (name, module, schema) in start order; the gateway comes last.
SERVICES: tuple[tuple[str, str, str], ...] = (
    ("workforce", "quorum_workforce", "workforce"),
    ("consolidation", "quorum_consolidation", "consolidation"),
    ("inference", "quorum_inference", "inference"),
    ("jobs", "quorum_jobs", "jobs"),
)


class PlatformError(RuntimeError):
    pass


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown at all (fault tests)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout_s: float = 20.0) -> None:
        stop_process(self.proc, timeout_s=timeout_s)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Platform:
    data_dir: Path
    gateway_port: int = 8080
    gateway_host: str = "127.0.0.1"
    database_url: str | None = None
    redis_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    admin_api_key: str = "dev-admin-key-not-for-production"
    service_ports: dict[str, int] = field(default_factory=dict)
    infra_ports: dict[str, int] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    log_json: bool = True
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    _infra: list[EmbeddedPostgres | EmbeddedRedis | EmbeddedKafka] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    # -- infrastructure ---------------------------------------------------------------------------
    def start_infrastructure(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.database_url:
            pg = EmbeddedPostgres(self.data_dir / "postgres", **_port(self.infra_ports, "postgres")).start()
            self._infra.append(pg)
            self.database_url = pg.url
        if not self.redis_url:
            redis = EmbeddedRedis(self.data_dir / "redis", **_port(self.infra_ports, "redis")).start()
            self._infra.append(redis)
            self.redis_url = redis.url
        if not self.kafka_bootstrap_servers:
            kafka = EmbeddedKafka(self.data_dir / "kafka", **_port(self.infra_ports, "kafka")).start()
            self._infra.append(kafka)
            self.kafka_bootstrap_servers = kafka.bootstrap_servers

    def migrate(self) -> None:
        import importlib

        assert self.database_url
        for _name, module, schema in SERVICES:
            mod = importlib.import_module(module)
            run_migrations(self.database_url, schema, mod.MIGRATIONS)

    # -- services ---------------------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        assert self.database_url and self.redis_url and self.kafka_bootstrap_servers
        for name, _module, _schema in SERVICES:
            self.service_ports.setdefault(name, free_port())
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "LOG_JSON": "true" if self.log_json else "false",
            "PYTHONUNBUFFERED": "1",
            "ADMIN_API_KEY": self.admin_api_key,
        }
        for name, _module, _schema in SERVICES:
            env[f"{name.upper()}_ADDR"] = f"127.0.0.1:{self.service_ports[name]}"
        env.update(self.extra_env)
        return env

    def _make_process(self, name: str) -> ManagedProcess:
        env = self._base_env()
        if name == "gateway":
            env.update({"HOST": self.gateway_host, "PORT": str(self.gateway_port)})
            argv = [sys.executable, "-m", "quorum_gateway"]
            port = self.gateway_port
        else:
            module = next(m for n, m, _s in SERVICES if n == name)
            port = self.service_ports[name]
            env.update({"GRPC_HOST": "127.0.0.1", "GRPC_PORT": str(port)})
            argv = [sys.executable, "-m", module, "serve"]
        return ManagedProcess(name, argv, port, env, self.log_dir / f"{name}.log")

    def start_service(self, name: str, *, wait: bool = True) -> ManagedProcess:
        process = self._make_process(name)
        self.processes[name] = process
        process.start()
        if wait:
            self.wait_ready(name)
        return process

    def wait_ready(self, name: str, timeout_s: float = 90.0) -> None:
        process = self.processes[name]
        deadline = time.monotonic() + timeout_s
        try:
            wait_for_port(process.port, timeout_s=timeout_s, proc=process.proc)  # type: ignore[arg-type]
        except (RuntimeError, TimeoutError) as err:
            raise PlatformError(
                f"{name} did not start: {err}\n--- {process.log_path} ---\n{process.tail()}"
            ) from err
        if name == "gateway":
            self._wait_http_ready(process, deadline)
            return
        with grpc.insecure_channel(f"127.0.0.1:{process.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                if not process.alive() or time.monotonic() > deadline:
                    raise PlatformError(
                        f"{name} is not serving\n--- {process.log_path} ---\n{process.tail()}"
                    )
                time.sleep(0.1)

    def _wait_http_ready(self, process: ManagedProcess, deadline: float) -> None:
        import httpx

        while True:
            try:
                if httpx.get(f"{self.api_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if not process.alive() or time.monotonic() > deadline:
                raise PlatformError(f"gateway is not ready\n--- {process.log_path} ---\n{process.tail()}")
            time.sleep(0.1)

    def start(self) -> Platform:
        self.start_infrastructure()
        self.migrate()
        for name, _module, _schema in SERVICES:
            self.start_service(name, wait=False)
        for name, _module, _schema in SERVICES:
            self.wait_ready(name)
        self.start_service("gateway")
        return self

    def kill(self, name: str) -> None:
        self.processes[name].kill()

    def restart(self, name: str) -> None:
        self.processes[name].stop()
        self.start_service(name)

    def stop(self) -> None:
        """Gateway first (no new requests), then services (each drains), then infrastructure."""
        for name in ["gateway", *[n for n, _m, _s in reversed(SERVICES)]]:
            if name in self.processes:
                self.processes[name].stop()
        for server in reversed(self._infra):
            server.stop()
        self._infra.clear()

    def __enter__(self) -> Platform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _port(ports: dict[str, int], name: str) -> dict[str, int]:
    return {"port": ports[name]} if name in ports else {}


def _reachable(api: str) -> bool:
    try:
        return httpx.get(f"{api}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def borrowed_platform(
    api: str | None, api_key: str | None, console: Any, *, requester_name: str
) -> Iterator[tuple[str, str]]:
    """(API URL, requester key) of a platform to run a job on: `api` as given, else the one `quorum up`
    runs (its credentials file), else a platform started here in a temporary folder and stopped after."""
    from quorum_cli.credentials import load_credentials  # noqa: PLC0415 - cli-only dependency

    if api is None:
        creds = load_credentials()
        if creds.get("api") and creds.get("api_key") and _reachable(creds["api"]):
            api, api_key = creds["api"], creds["api_key"]
            console.print(f"Using the running platform at {api}")
    platform: Platform | None = None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    # SIGTERM (e.g. `timeout`) would end the process without the `finally` below: make it an exit that does.
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if api is None:
            tmp = tempfile.TemporaryDirectory(prefix=f"quorum-{requester_name}-")
            console.print("No running platform: starting one for this run…")
            platform = Platform(data_dir=Path(tmp.name), gateway_port=free_port()).start()
            api = platform.api_url
            r = httpx.post(
                f"{api}/v1/requesters",
                json={"name": requester_name},
                headers={"Authorization": f"Bearer {platform.admin_api_key}"},
                timeout=10,
            )
            r.raise_for_status()
            api_key = r.json()["api_key"]
        if not api_key:
            raise PlatformError("--api-key (or QUORUM_API_KEY) is required with --api")
        yield api, api_key
    finally:
        signal.signal(signal.SIGTERM, previous)
        if platform is not None:
            platform.stop()
        if tmp is not None:
            tmp.cleanup()


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)

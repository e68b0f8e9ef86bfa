"""`quorum up`: start the whole platform on embedded defaults and keep it running until Ctrl-C."""

from __future__ import annotations

import secrets
import signal
import threading
from pathlib import Path

import httpx
import typer
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from quorum_cli.credentials import load_credentials, save_credentials
from quorum_cli.platform import Platform, PlatformError

console = Console(stderr=True)


class UpSettings(BaseSettings):
    """Existing servers to use instead of the embedded ones (unset: start embedded servers)."""

    model_config = SettingsConfigDict(extra="ignore")
    database_url: str | None = Field(None)
    redis_url: str | None = Field(None)
    kafka_bootstrap_servers: str | None = Field(None)


def ensure_requester(platform: Platform, data_dir: Path) -> dict[str, str]:
    """Keep one default requester account across restarts; create it on first start."""
    creds = load_credentials(data_dir)
    api = platform.api_url
    key = creds.get("api_key")
    if key:
        r = httpx.get(f"{api}/v1/jobs", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        if r.status_code == 200:
            creds["api"] = api
            save_credentials(creds, data_dir)
            return creds
    r = httpx.post(
        f"{api}/v1/requesters",
        json={"name": "default"},
        headers={"Authorization": f"Bearer {platform.admin_api_key}"},
        timeout=10,
    )
    r.raise_for_status()
    creds.update({"api": api, "api_key": r.json()["api_key"], "admin_api_key": platform.admin_api_key})
    save_credentials(creds, data_dir)
    return creds


def start_platform(data_dir: Path, port: int, host: str = "127.0.0.1") -> tuple[Platform, dict[str, str]]:
    settings = UpSettings()
    creds = load_credentials(data_dir)
    admin_key = creds.get("admin_api_key") or secrets.token_urlsafe(24)
    creds["admin_api_key"] = admin_key
    save_credentials(creds, data_dir)
    platform = Platform(
        data_dir=data_dir.resolve(),
        gateway_port=port,
        gateway_host=host,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        kafka_bootstrap_servers=settings.kafka_bootstrap_servers,
        admin_api_key=admin_key,
    )
    try:
        platform.start()
    except BaseException:
        platform.stop()
        raise
    return platform, ensure_requester(platform, data_dir)


def up(
    data_dir: Path = typer.Option(Path(".quorum"), help="State directory (databases, logs, credentials)."),
    port: int = typer.Option(8080, help="Gateway HTTP port."),
    host: str = typer.Option("127.0.0.1", help="Gateway bind address."),
) -> None:
    """Start PostgreSQL, Redis, the Kafka-protocol broker, every service and the gateway. Ctrl-C stops all."""
    console.print(f"[bold]Starting Quorum[/] (state in {data_dir})…")
    try:
        platform, creds = start_platform(data_dir, port, host)
    except PlatformError as err:
        console.print(f"[red]Quorum failed to start:[/] {err}")
        raise typer.Exit(1) from err
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # explicit: a shell may start us with SIGINT ignored
        signal.signal(sig, lambda *_: stop.set())
    console.print(
        f"\n[green bold]Quorum is running[/]\n"
        f"  API:          {platform.api_url}/v1\n"
        f"  API docs:     {platform.api_url}/docs\n"
        f"  Console:      {platform.api_url}/console/ (sign in with the requester key)\n"
        f"  Worker portal: {platform.api_url}/portal/ (sign in with a worker token)\n"
        f"  Requester key: {creds['api_key']}\n"
        f"  Credentials:  {data_dir / 'credentials.json'} (the CLI reads it)\n"
        f"  Logs:         {platform.log_dir}\n"
        f"Try: quorum demo   |   quorum job list   |   Ctrl-C to stop\n"
    )
    try:
        while not stop.wait(2.0):
            for name, process in list(platform.processes.items()):
                if not process.alive():  # a crashed service is restarted: state lives in PostgreSQL
                    console.print(f"[yellow]{name} exited; restarting[/]\n{process.tail(10)}")
                    platform.start_service(name)
    except KeyboardInterrupt:
        pass
    finally:
        console.print("Stopping Quorum…")
        platform.stop()
        console.print("Stopped.")

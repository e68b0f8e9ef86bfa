"""The `python -m quorum_<svc> serve|migrate` entry point every service shares."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer

from quorum_common.db import run_migrations
from quorum_common.grpc_server import GrpcService
from quorum_common.logging import configure_logging
from quorum_common.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def service_app(
    name: str,
    settings_cls: type[S],
    build: Callable[[S], Awaitable[GrpcService]],
    *,
    schema: str | None,
    migrations: Path | None,
) -> typer.Typer:
    app = typer.Typer(add_completion=False, help=f"Quorum {name} service.")

    @app.command()
    def serve(migrate: bool = typer.Option(False, help="Apply migrations before serving.")) -> None:
        """Run the gRPC server until SIGTERM/SIGINT."""
        settings = settings_cls()  # type: ignore[call-arg]
        configure_logging(name, level=settings.log_level, json=settings.log_json)
        if migrate and migrations is not None and schema is not None:
            run_migrations(settings.database_url, schema, migrations)

        async def main() -> None:
            service = await build(settings)
            await service.serve_forever()

        asyncio.run(main())

    @app.command()
    def migrate() -> None:
        """Bring this service's database schema to the newest revision."""
        settings = settings_cls()  # type: ignore[call-arg]
        configure_logging(name, level=settings.log_level, json=settings.log_json)
        if migrations is None or schema is None:
            typer.echo(f"{name} has no database schema")
            return
        run_migrations(settings.database_url, schema, migrations)
        typer.echo(f"{name}: schema {schema} is at head")

    return app

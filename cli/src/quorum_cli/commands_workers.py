"""`quorum workers add|list`: the workers of a requester's private workforce."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from quorum_cli.commands_common import (
    ApiKeyOption,
    ApiOption,
    JsonOption,
    console,
    handle_errors,
    make_client,
    print_json,
)

app = typer.Typer(help="Workers of your private workforce and their tokens.", no_args_is_help=True)


@app.command("add")
@handle_errors
def add(
    name: Annotated[str, typer.Argument(help="Worker name.")],
    team: Annotated[list[str], typer.Option("--team", "-t", help="Team id (repeat for several teams).")],
    api: ApiOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a worker to one or more teams; prints the worker's token once."""
    with make_client(api, api_key) as client:
        created = client.create_worker(name, team)
    if as_json:
        print_json(created)
        return
    worker = created["worker"]
    console.print(f"Created worker [bold]{worker['name']}[/] id [cyan]{worker['worker_id']}[/]")
    console.print(f"Token (shown once): [bold yellow]{created['token']}[/]")


@app.command("list")
@handle_errors
def list_(
    team: Annotated[str | None, typer.Option("--team", "-t", help="Only this team's workers.")] = None,
    api: ApiOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """List your workers."""
    with make_client(api, api_key) as client:
        workers = client.list_workers(team)
    if as_json:
        print_json(workers)
        return
    table = Table(title=f"{len(workers)} worker(s)")
    table.add_column("worker id", style="cyan", no_wrap=True, min_width=32)
    table.add_column("name")
    table.add_column("teams", overflow="fold")
    table.add_column("answers", justify="right")
    for worker in workers:
        table.add_row(
            worker["worker_id"], worker["name"], ", ".join(worker["team_ids"]), str(worker["answers"])
        )
    console.print(table)

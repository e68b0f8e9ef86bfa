"""`quorum teams add|list`: a requester's private teams."""

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

app = typer.Typer(help="Private teams of workers (a job is dispatched to one team).", no_args_is_help=True)


@app.command("add")
@handle_errors
def add(
    name: Annotated[str, typer.Argument(help="Team name.")],
    api: ApiOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a team."""
    with make_client(api, api_key) as client:
        team = client.create_team(name)
    if as_json:
        print_json(team)
        return
    console.print(f"Created team [bold]{team['name']}[/] id [cyan]{team['team_id']}[/]")


@app.command("list")
@handle_errors
def list_(api: ApiOption = None, api_key: ApiKeyOption = None, as_json: JsonOption = False) -> None:
    """List your teams."""
    with make_client(api, api_key) as client:
        teams = client.list_teams()
    if as_json:
        print_json(teams)
        return
    table = Table(title=f"{len(teams)} team(s)")
    table.add_column("team id", style="cyan", no_wrap=True, min_width=32)
    table.add_column("name")
    table.add_column("created")
    for team in teams:
        table.add_row(team["team_id"], team["name"], team.get("created_at") or "")
    console.print(table)

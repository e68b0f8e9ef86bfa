"""`quorum requesters add`: create requester accounts (needs the gateway's admin key)."""

from __future__ import annotations

from typing import Annotated

import typer

from quorum_cli.commands_common import (
    AdminKeyOption,
    ApiOption,
    JsonOption,
    console,
    handle_errors,
    make_client,
    print_json,
)

app = typer.Typer(help="Requester accounts (admin).", no_args_is_help=True)


@app.command("add")
@handle_errors
def add(
    name: Annotated[str, typer.Argument(help="Requester name.")],
    api: ApiOption = None,
    admin_key: AdminKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a requester and print its API key (shown once)."""
    with make_client(api, admin_key, admin=True) as client:
        created = client.create_requester(name)
    if as_json:
        print_json(created)
        return
    console.print(f"Created requester [bold]{created['name']}[/] id [cyan]{created['requester_id']}[/]")
    console.print(f"API key (shown once): [bold yellow]{created['api_key']}[/]")

"""Quorum command line: `quorum job|workers|teams|requesters ...` talk to the gateway over HTTP;
`quorum up` and `quorum demo` (registered below when their modules exist) run the platform itself."""

from __future__ import annotations

import importlib

import typer

from quorum_cli import commands_jobs, commands_requesters, commands_teams, commands_workers

app = typer.Typer(
    name="quorum",
    help="Quorum: self-hosted data labeling (the open Ground Truth).",
    no_args_is_help=True,
    add_completion=False,
    # A traceback's locals could print API keys.
    pretty_exceptions_show_locals=False,
)
app.add_typer(commands_jobs.app, name="job")
app.add_typer(commands_workers.app, name="workers")
app.add_typer(commands_teams.app, name="teams")
app.add_typer(commands_requesters.app, name="requesters")


def _register_optional(command: str, module_name: str) -> None:
    """Register `quorum_cli.<module>.<command>` as a command if that module exists (written separately)."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:  # not written yet; a missing dependency inside it still fails loudly
            return
        raise
    app.command(command)(getattr(module, command))


_register_optional("up", "quorum_cli.up")
_register_optional("demo", "quorum_cli.demo")

"""Quorum command line: `quorum job|workers|teams|requesters ...` talk to the gateway over HTTP;
`quorum up` and `quorum demo` (registered below when their modules exist) run the platform itself."""

from __future__ import annotations

import typer

from quorum_cli import commands_jobs, commands_requesters, commands_teams, commands_workers
from quorum_cli.autolabel_bench import autolabel_bench
from quorum_cli.consolidate_cmd import consolidate
from quorum_cli.demo import demo
from quorum_cli.up import up

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


app.command("up")(up)
app.command("demo")(demo)
app.command("consolidate")(consolidate)
app.command("autolabel-bench")(autolabel_bench)

"""What every HTTP command shares: the --api/--api-key options, credentials lookup, and error display.

Resolution order: --api / QUORUM_API, then `.quorum/credentials.json` (written by `quorum up`), then
http://127.0.0.1:8080. The key: --api-key / QUORUM_API_KEY, then the credentials file's `api_key`
(`admin_api_key` for admin commands).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from quorum_cli.client import DEFAULT_API, QuorumApiError, QuorumClient
from quorum_cli.credentials import load_credentials

console = Console()
err_console = Console(stderr=True)

ApiOption = Annotated[
    str | None,
    typer.Option(
        "--api",
        envvar="QUORUM_API",
        help="Quorum API URL (default: .quorum/credentials.json, then " + DEFAULT_API + ")",
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="QUORUM_API_KEY", help="Requester API key (default: .quorum/credentials.json)"
    ),
]
AdminKeyOption = Annotated[
    str | None,
    typer.Option(
        "--admin-key",
        "--api-key",
        envvar="QUORUM_ADMIN_API_KEY",
        help="The gateway's ADMIN_API_KEY (default: .quorum/credentials.json)",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")]

# Tests swap this to route the client through a mock transport or the gateway app.
client_factory: Callable[..., QuorumClient] = QuorumClient

P = ParamSpec("P")
R = TypeVar("R")


def fail(code: str, message: str) -> NoReturn:
    err_console.print(f"[bold red]error[/] [red]{escape(code)}[/]: {escape(message)}")
    raise typer.Exit(1)


def _credentials() -> dict[str, Any]:
    try:
        return load_credentials()
    except (OSError, ValueError) as err:
        fail("bad_credentials", f".quorum/credentials.json cannot be read: {err}")


def make_client(api: str | None, api_key: str | None, *, admin: bool = False) -> QuorumClient:
    creds: dict[str, Any] = {}
    if api is None or api_key is None:
        creds = _credentials()
    url = api or creds.get("api") or DEFAULT_API
    key = api_key or creds.get("admin_api_key" if admin else "api_key")
    if not key:
        if admin:
            fail(
                "missing_api_key",
                "no admin key: pass --admin-key, set QUORUM_ADMIN_API_KEY, or run `quorum up` here",
            )
        fail(
            "missing_api_key",
            "no API key: pass --api-key, set QUORUM_API_KEY, or run `quorum up` in this directory",
        )
    return client_factory(url, key)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """API and file errors become one red line and exit status 1, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except QuorumApiError as err:
            fail(err.code, err.message)
        except OSError as err:
            fail("file_error", f"{err.strerror or err}: {err.filename}" if err.filename else str(err))

    return wrapper


def print_json(value: Any) -> None:
    # Plain stdout (not rich) so the output pipes cleanly into jq.
    typer.echo(json.dumps(value, indent=2))

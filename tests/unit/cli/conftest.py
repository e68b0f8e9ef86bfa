"""CLI tests: commands run with CliRunner; HTTP goes to an httpx MockTransport or the gateway app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_fakes import Api

from quorum_cli import commands_common
from quorum_cli.client import QuorumClient


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Api]:
    fake = Api()
    transport = httpx.MockTransport(fake.handler)

    def factory(api_url: str, api_key: str | None = None, **kwargs: Any) -> QuorumClient:
        fake.clients.append((api_url, api_key))
        return QuorumClient(api_url, api_key, transport=transport)

    monkeypatch.setattr(commands_common, "client_factory", factory)
    # No stray credentials from the developer's environment or working directory.
    for var in ("QUORUM_API", "QUORUM_API_KEY", "QUORUM_ADMIN_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    yield fake

"""gRPC's fork handlers are off in every Quorum process unless the operator turns them on."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = "import quorum_common, os, grpc; print(os.environ['GRPC_ENABLE_FORK_SUPPORT'])"


def _probe(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_importing_quorum_common_turns_grpc_fork_support_off() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_ENABLE_FORK_SUPPORT"}
    assert _probe(env) == "false"


def test_an_operators_own_setting_wins() -> None:
    assert _probe({**os.environ, "GRPC_ENABLE_FORK_SUPPORT": "true"}) == "true"

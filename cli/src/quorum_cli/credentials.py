"""`.quorum/credentials.json`: where `quorum up` leaves the API URL and keys for the CLI to pick up."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = Path(".quorum")


def credentials_path(data_dir: Path = DEFAULT_DATA_DIR) -> Path:
    return data_dir / "credentials.json"


def load_credentials(data_dir: Path = DEFAULT_DATA_DIR) -> dict[str, Any]:
    path = credentials_path(data_dir)
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text()))


def save_credentials(values: dict[str, Any], data_dir: Path = DEFAULT_DATA_DIR) -> Path:
    path = credentials_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values, indent=2) + "\n")
    os.chmod(tmp, 0o600)  # it holds secrets
    tmp.replace(path)
    return path

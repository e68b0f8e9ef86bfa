from quorum_common.db import run_alembic_env
from quorum_inference.adapters.tables import metadata

run_alembic_env(metadata)

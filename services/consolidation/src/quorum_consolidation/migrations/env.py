from quorum_common.db import run_alembic_env
from quorum_consolidation.adapters.tables import metadata

run_alembic_env(metadata)

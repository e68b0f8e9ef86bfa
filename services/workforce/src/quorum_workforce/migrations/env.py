from quorum_common.db import run_alembic_env
from quorum_workforce.adapters.tables import metadata

run_alembic_env(metadata)

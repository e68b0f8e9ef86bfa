from quorum_common.entrypoint import service_app
from quorum_consolidation import MIGRATIONS, SCHEMA
from quorum_consolidation.server import build_service
from quorum_consolidation.settings import ConsolidationSettings

app = service_app("consolidation", ConsolidationSettings, build_service, schema=SCHEMA, migrations=MIGRATIONS)

if __name__ == "__main__":
    app()

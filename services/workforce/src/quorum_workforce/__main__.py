from quorum_common.entrypoint import service_app
from quorum_workforce import MIGRATIONS, SCHEMA
from quorum_workforce.server import build_service
from quorum_workforce.settings import WorkforceSettings

app = service_app("workforce", WorkforceSettings, build_service, schema=SCHEMA, migrations=MIGRATIONS)

if __name__ == "__main__":
    app()

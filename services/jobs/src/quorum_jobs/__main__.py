from quorum_common.entrypoint import service_app
from quorum_jobs import MIGRATIONS, SCHEMA
from quorum_jobs.server import build_service
from quorum_jobs.settings import JobsSettings

app = service_app("jobs", JobsSettings, build_service, schema=SCHEMA, migrations=MIGRATIONS)

if __name__ == "__main__":
    app()

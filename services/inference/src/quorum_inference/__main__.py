from quorum_common.entrypoint import service_app
from quorum_inference import MIGRATIONS, SCHEMA
from quorum_inference.server import build_service
from quorum_inference.settings import InferenceSettings

app = service_app("inference", InferenceSettings, build_service, schema=SCHEMA, migrations=MIGRATIONS)

if __name__ == "__main__":
    app()

# One image for every Quorum service; the k8s manifests pick the module to run.
FROM python:3.11-slim
WORKDIR /app
RUN useradd --uid 10001 --create-home quorum
COPY pyproject.toml README.md ./
COPY protos protos
COPY scripts scripts
COPY libs libs
COPY services services
COPY gateway gateway
COPY cli cli
RUN pip install --no-cache-dir "grpcio-tools==1.85.1" && python scripts/gen_protos.py \
 && pip install --no-cache-dir . && pip uninstall -y grpcio-tools
USER 10001

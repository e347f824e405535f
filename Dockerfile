# syntax=docker/dockerfile:1
#
# The mlgraph API image: `docker build -t mlgraph .` (see deploy/README.md).
#
# Two stages: the builder has a compiler and pip's cache and builds the virtual environment;
# the final stage gets only that environment and the source, so no compiler ships.
#
# Where the code lives: `mlgraph migrate` finds the migrations at
# `Path(graph/cli/migrate.py).resolve().parents[2] / "alembic"` (ALEMBIC_DIR there), so
# graph/ must sit next to alembic/ at run time. A regular install would put graph/ in
# site-packages, where that path is site-packages/alembic: the Alembic *library*, not our
# migrations. So the source goes to /app and the project is installed from there in editable
# mode (`pip install -e /app`): the venv then holds
# the dependencies, a path hook to /app/graph, /app/db, /app/mlclient and /app/monitoring and the
# `mlgraph` script,
# and ALEMBIC_DIR is /app/alembic. The venv and /app keep the same absolute paths in both
# stages because the path hook and the script's shebang are absolute. This is the layout of the
# FastAPI full-stack template's backend image (source in /app, project installed editable).

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Every dependency ships manylinux wheels today; the compiler is here for a platform or a
# release without one, and stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv

WORKDIR /app
COPY pyproject.toml README.md ./
COPY graph/ graph/
COPY db/ db/
COPY mlclient/ mlclient/
COPY monitoring/ monitoring/

# The dependencies from pyproject.toml, and the project itself in editable mode: see the
# comment at the top for why. The tracing extra (OpenTelemetry) is in by default: tracing is
# switched on by OTEL_* variables on the pod, which must not need another image.
# `--build-arg MLGRAPH_EXTRAS=` leaves it out.
ARG MLGRAPH_EXTRAS=tracing
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -e "/app${MLGRAPH_EXTRAS:+[$MLGRAPH_EXTRAS]}"

# --- final -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

# A fixed numeric user, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
RUN groupadd --system --gid 10001 mlgraph \
    && useradd --system --uid 10001 --gid mlgraph --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin mlgraph

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    MLGRAPH_HOST=0.0.0.0 \
    MLGRAPH_PORT=8000

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY alembic/ alembic/
COPY graph/ graph/
COPY db/ db/
COPY mlclient/ mlclient/
COPY monitoring/ monitoring/
# Bytecode is compiled now, as root, because the container runs with a read-only root
# filesystem and PYTHONDONTWRITEBYTECODE.
RUN python -m compileall -q /app

USER 10001:10001

EXPOSE 8000

# Docker's own health check (Kubernetes uses its probes instead). The slim image has no curl;
# urlopen raises on a refused connection or a non-2xx answer, which exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MLGRAPH_PORT', '8000'), timeout=3)"

# Serves only: PostgreSQL's migrations are a separate step (`mlgraph migrate`, the Kubernetes
# migration Job), so several replicas starting at once never race on the schema. Worker processes per
# container come from MLGRAPH_WORKERS (default auto: one per CPU the container may use, each on
# a socket of its own; the Kubernetes ConfigMap sets 1 and scales with replicas instead).
CMD ["mlgraph", "serve"]

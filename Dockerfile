# syntax=docker/dockerfile:1
# smartlead-monitor: `docker build -t smartlead-monitor .` then
#   docker run --read-only --tmpfs /tmp -v smartlead-state:/var/lib/smartlead-monitor \
#     -e SMARTLEAD_API_KEY=... -p 127.0.0.1:9877:9877 smartlead-monitor
# Runtime dependencies come from requirements.lock (exact versions and hashes); see
# the README (Deploy, Container) for the command that regenerates it from pyproject.toml.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps --only-binary=:all: \
        -r requirements.lock
COPY pyproject.toml README.md ./
COPY monitor ./monitor
# The project itself, without dependencies: everything it needs is already locked in above.
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
    && /opt/venv/bin/python -c "import monitor.cli"

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MONITOR_LISTEN=0.0.0.0:9877 \
    MONITOR_STATE_PATH=/var/lib/smartlead-monitor/monitor.db \
    LOG_FORMAT=json
# A fixed, non-root uid: Kubernetes' runAsUser and volume ownership rely on it.
RUN groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid monitor --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin monitor \
    && mkdir -p /var/lib/smartlead-monitor \
    && chown 10001:10001 /var/lib/smartlead-monitor
COPY --from=build /opt/venv /opt/venv
# The shipped config reads everything from env vars; mount another one and point
# SMARTLEAD_MONITOR_CONFIG at it for several workspaces, routes or silences.
WORKDIR /app
COPY config/monitor.yaml config/monitor.yaml
USER 10001:10001
VOLUME ["/var/lib/smartlead-monitor"]
EXPOSE 9877
# Liveness only (never depends on SmartLead); no curl in the image, so Python asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('MONITOR_LISTEN', '0.0.0.0:9877').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
ENTRYPOINT ["smartlead-monitor"]
CMD ["run"]

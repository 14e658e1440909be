# The KBJU bot image: `kbjuctl` is the entrypoint (run, db upgrade, roles, backup ...).
# Build stage installs the locked dependencies (requirements/runtime.txt, every file's sha256
# checked) and the project into a virtualenv; the runtime stage copies only that venv and sql/,
# and runs as an unprivileged user. No secret is ever passed at build time: the token and
# passwords come from the environment or from mounted files (*_FILE) when a container starts.
#
# Base image: pinned by digest with ./scripts/pin-images.sh (tag@sha256:...), kept moving by Renovate.
# Build arguments VERSION and REVISION label the image (the CI workflow passes the package version
# and the commit); REVISION is also what `kbjuctl --version`, /healthz and kbju_build_info report.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The locked dependencies first, so a code change does not reinstall them.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN pip install --no-cache-dir --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY kbjuctl ./kbjuctl
COPY tgstandin ./tgstandin
COPY loadtests ./loadtests
# The build backend (setuptools) comes from the lock: nothing unhashed is downloaded.
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE} AS runtime
ARG PYTHON_IMAGE
ARG VERSION=unknown
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="kbju-bot" \
      org.opencontainers.image.description="KBJU Telegram bot and the kbjuctl operations CLI" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
RUN groupadd --system --gid 10001 kbju \
    && useradd --system --uid 10001 --gid kbju --home-dir /app --no-create-home --shell /usr/sbin/nologin kbju \
    && mkdir -p /app /backups \
    && chown kbju:kbju /backups
COPY --from=build /opt/venv /opt/venv
COPY sql /app/sql
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KBJU_SQL_DIR=/app/sql \
    KBJU_REVISION=${REVISION} \
    MPLCONFIGDIR=/tmp/matplotlib \
    WEBHOOK_LISTEN=0.0.0.0 \
    WEBHOOK_PORT=8443 \
    METRICS_HOST=0.0.0.0 \
    METRICS_PORT=9101 \
    LOG_FORMAT=json \
    BACKUP_DIR=/backups
WORKDIR /app
USER 10001:10001
# The webhook (put TLS in front of it) and the metrics port (keep it on the internal network).
EXPOSE 8443 9101
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WEBHOOK_PORT', '8443'), timeout=4)"]
ENTRYPOINT ["kbjuctl"]
CMD ["run", "--webhook"]

# The KBJU bot image: `kbjuctl` is the entrypoint (run, db upgrade, roles, backup ...).
# Build stage installs the project into a virtualenv; the runtime stage copies only that venv
# and sql/, and runs as an unprivileged user. No secret is ever passed at build time: the
# token and passwords come from the environment when a container starts.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p bot kbjuctl tgstandin loadtests \
    && pip install --no-cache-dir . \
    && pip uninstall --yes kbju-platform
COPY bot ./bot
COPY kbjuctl ./kbjuctl
COPY tgstandin ./tgstandin
COPY loadtests ./loadtests
RUN pip install --no-cache-dir --no-deps . \
    && python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="kbju-bot" \
      org.opencontainers.image.description="KBJU Telegram bot and the kbjuctl operations CLI"
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

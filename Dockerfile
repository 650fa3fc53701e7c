# auditor: an immutable image for an immutable-infrastructure auditor.
#
# The base is pinned by digest (refresh with `docker buildx imagetools inspect python:3.11-slim`
# and bump it in one commit). Dependencies come from requirements/runtime.lock with hashes;
# the runtime stage has no compiler and no pip, runs as a numeric non-root user and writes
# only to its volumes, so it runs with a read-only root filesystem.
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS base

FROM base AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/runtime.lock requirements/runtime.lock
RUN python -m venv /opt/auditor \
 && /opt/auditor/bin/pip install --require-hashes --no-deps -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY auditor ./auditor
COPY rules ./rules
COPY reports ./reports
RUN /opt/auditor/bin/pip install --no-deps . \
 && /opt/auditor/bin/pip uninstall --yes pip setuptools \
 && /opt/auditor/bin/auditor --version

FROM base AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="auditor" \
      org.opencontainers.image.description="Drift detection and compliance auditing for immutable infrastructure on AWS" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/auditor/auditor" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN python -m pip uninstall --yes pip setuptools wheel \
 && groupadd --system --gid 10001 auditor \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/auditor --create-home auditor \
 && mkdir -p /etc/auditor \
 && chown 10001:10001 /var/lib/auditor
COPY --from=build /opt/auditor /opt/auditor
ENV PATH=/opt/auditor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/auditor \
    AUDITOR_HEALTH_URL=http://127.0.0.1:9464/healthz
# smoke test: the installed entry point starts
RUN auditor --version
USER 10001:10001
WORKDIR /var/lib/auditor
VOLUME ["/var/lib/auditor", "/tmp"]
EXPOSE 8080 9464
# /healthz of the daemon (metrics.listen) by default; `serve` sets AUDITOR_HEALTH_URL to its own
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os,sys,urllib.request as u; sys.exit(0 if u.urlopen(os.environ['AUDITOR_HEALTH_URL'], timeout=4).status == 200 else 1)"]
ENTRYPOINT ["auditor"]
CMD ["run", "--config", "/etc/auditor/auditor.yaml"]

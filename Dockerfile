# naftiko: serve capability specs. Build: docker build -t naftiko .
# Run:   docker run --rm --read-only -p 8080:8080 -p 9090:9090 -e GROQ_API_KEY \
#          -v "$PWD/examples/groq-batch.yaml:/specs/capability.yaml:ro" naftiko
# For a bit-for-bit base, pin its digest: --build-arg PYTHON=python:3.11-slim-bookworm@sha256:...
ARG PYTHON=python:3.11-slim-bookworm

# Build stage: a venv holding exactly requirements.lock (bash .ci/lock), then the package.
FROM ${PYTHON} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/naftiko
COPY requirements.lock /tmp/requirements.lock
# Every package pinned and hash-checked; wheels only, so nothing is compiled in any stage.
RUN /opt/naftiko/bin/pip install --require-hashes --only-binary=:all: --no-deps \
      -r /tmp/requirements.lock
WORKDIR /src
COPY pyproject.toml README.md ./
COPY specs ./specs
COPY src ./src
# naftiko itself (its dependencies are the lock's), then the installers the image does not need.
RUN /opt/naftiko/bin/pip install --no-deps . \
 && /opt/naftiko/bin/pip uninstall --yes setuptools pip

# Final stage: the same base, the venv, a non-root user; nothing written at run time
# (bytecode was compiled at install), so it runs with a read-only root filesystem.
FROM ${PYTHON}
ENV PATH=/opt/naftiko/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN groupadd --gid 10001 naftiko \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin naftiko
COPY --from=build /opt/naftiko /opt/naftiko
USER 10001:10001
WORKDIR /specs
# REST and MCP ports of the seed spec; a spec may declare others (publish them with -p).
EXPOSE 8080 9090
# Readiness from the spec's control port (`type: control`) when it has one, else its ports.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s \
  CMD ["naftiko", "health", "/specs/capability.yaml"]
# SIGTERM drains in-flight requests (up to 10 s): give `docker stop` -t 15 or more.
STOPSIGNAL SIGTERM
ENTRYPOINT ["naftiko"]
CMD ["run", "--host", "0.0.0.0", "/specs/capability.yaml"]

# naftiko: serve a capability spec. Build: docker build -t naftiko .
# Run:   docker run -p 8080:8080 -p 9090:9090 -e GROQ_API_KEY \
#          -v "$PWD/examples/groq-batch.yaml:/specs/capability.yaml:ro" naftiko
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The same install as CI (`pip install .`), without the dev extra.
COPY pyproject.toml README.md ./
COPY specs ./specs
COPY src ./src
RUN pip install --no-cache-dir . && useradd --create-home --uid 10001 naftiko

USER naftiko
WORKDIR /specs
# REST and MCP ports of the seed spec; a spec may declare others (publish them with -p).
EXPOSE 8080 9090
# Readiness from the spec's control port (`type: control`) when it has one, else its ports.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s \
  CMD ["naftiko", "health", "/specs/capability.yaml"]

ENTRYPOINT ["naftiko"]
CMD ["run", "--host", "0.0.0.0", "/specs/capability.yaml"]

"""Default limits, importable without what enforces them: the CLI shows them in `--help` without
importing starlette, uvicorn or aiohttp (issue 13, goal 4)."""

# Every HTTP adapter's request body limit (adapters/limits.py).
DEFAULT_MAX_BODY = 10 * 1024 * 1024
# Connections per listening port; past it the server answers 503 at accept (serving.py).
DEFAULT_MAX_CONNECTIONS = 1000
# Upstream bodies held in memory by all requests at once; past it a request is answered 503
# (engine/streams.py `Budget`).
DEFAULT_MAX_UPSTREAM_MEMORY = 512 * 1024 * 1024

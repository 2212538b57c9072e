"""The MCP peer: FastMCP built with `FastMCP.from_openapi` for the seed's retrieve operation.

Runs in its own venv (fastmcp is a bench-only dependency, never installed with naftiko):

    /work/bench-venv/bin/python -P bench/peer_fastmcp.py PORT UPSTREAM_URL TOKEN [OPENAPI_FILE]

(`-P`: bench/mcp.py sits beside this file and would otherwise hide the `mcp` package.)

FastMCP's defaults are kept (stateful sessions, SSE answers): what its users get.
"""

import sys

import httpx2
from fastmcp import FastMCP

PORT, UPSTREAM, TOKEN = int(sys.argv[1]), sys.argv[2], sys.argv[3]

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "GroqCloud API - Batch", "version": "1.0.0"},
    "servers": [{"url": UPSTREAM}],
    "paths": {
        "/openai/v1/batches/{batch_id}": {
            "get": {
                "operationId": "retrieves-batch",
                "description": "Retrieves a batch.",
                "parameters": [
                    {
                        "name": "batch_id",
                        "in": "path",
                        "required": True,
                        "description": "The ID of the batch to retrieve.",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The batch.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        }
    },
}

if len(sys.argv) > 4:  # a whole OpenAPI document instead (bench/mcp.py --imported)
    import yaml

    with open(sys.argv[4]) as file:
        OPENAPI = yaml.safe_load(file)
    OPENAPI["servers"] = [{"url": UPSTREAM}]

client = httpx2.AsyncClient(
    base_url=UPSTREAM,
    headers={"Authorization": f"Bearer {TOKEN}"},
    limits=httpx2.Limits(max_connections=None),
    timeout=30,
)
# FastMCP names the tool after the operationId, with `-` turned into `_`: `retrieves_batch`.
server = FastMCP.from_openapi(OPENAPI, client=client, name="groq-batch-fastmcp")
server.run(transport="http", host="127.0.0.1", port=PORT, show_banner=False, log_level="warning")

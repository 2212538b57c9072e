"""Prints the tools `FastMCP.from_openapi` makes of an OpenAPI file, as JSON (name, inputSchema).

    /work/bench-venv/bin/python -P bench/peer_fastmcp_tools.py OPENAPI_FILE

Runs in the bench venv beside fastmcp (never a naftiko dependency); used by openapi_fidelity.py.
"""

import asyncio
import json
import sys

import httpx2
import yaml
from fastmcp import FastMCP


async def main() -> None:
    with open(sys.argv[1]) as file:
        document = yaml.safe_load(file)
    client = httpx2.AsyncClient(base_url="http://127.0.0.1:9")
    server = FastMCP.from_openapi(document, client=client, name="fidelity")
    tools = await server.list_tools()
    print(json.dumps([{"name": t.name, "inputSchema": t.parameters} for t in tools]))


asyncio.run(main())

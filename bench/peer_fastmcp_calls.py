"""Calls one `FastMCP.from_openapi` tool with each argument set given, in memory, and prints how
many of the calls reached the upstream (a recording transport that answers 200 `{}`).

    /work/bench-venv/bin/python -P bench/peer_fastmcp_calls.py OPENAPI_FILE TOOL ARGS_JSON...

Runs in the bench venv beside fastmcp; used by openapi_fidelity.py.
"""

import asyncio
import contextlib
import json
import sys

import httpx2
import yaml
from fastmcp import Client, FastMCP

reached: list[str] = []


def upstream(request: httpx2.Request) -> httpx2.Response:
    reached.append(request.content.decode())
    return httpx2.Response(200, json={})


async def main() -> None:
    with open(sys.argv[1]) as file:
        document = yaml.safe_load(file)
    transport = httpx2.MockTransport(upstream)
    client = httpx2.AsyncClient(base_url="http://upstream.test", transport=transport)
    server = FastMCP.from_openapi(document, client=client, name="calls")
    async with Client(server) as session:
        for raw in sys.argv[3:]:
            # An output-schema complaint comes after the call: the request went out anyway.
            with contextlib.suppress(Exception):
                await session.call_tool(sys.argv[2], json.loads(raw), raise_on_error=False)
    print(json.dumps(len(reached)))


asyncio.run(main())

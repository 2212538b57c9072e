"""MCP tools/call benchmark: naftiko (the seed's MCP adapter) vs FastMCP.from_openapi.

    python bench/mcp.py [--rounds 5] [--duration 5] [--connections 16]

Both servers front the same canned upstream (bench/upstream.py) for the same operation,
`retrieves-batch` → GET /openai/v1/batches/{batch_id}. FastMCP runs from its own venv
(`/work/bench-venv`, or $FASTMCP_PYTHON): it is never a naftiko dependency.

Same client for both: the `mcp` SDK client (auto mode) opens a session and makes one call,
which is checked and recorded (headers and body, whatever era it negotiated); `wrk` then
replays exactly that request under load, so the servers, not a Python client, are measured.
Runs alternate naftiko / FastMCP, a fresh process each round; the ratio is the median of the
per-round ratios. A third row shows naftiko answering bare JSON-RPC (no handshake, no
protocol header: the handshake-era path that curl users take). Needs `wrk` (Debian package).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import yaml
from _ports import GATEWAY_CPU, LOAD_CPU, PIN, free_port, load_average, wait_port

HERE = Path(__file__).resolve().parent
SEED = HERE.parent / "examples" / "groq-batch.yaml"
PYTHON = sys.executable
NAFTIKO = str(Path(sys.executable).with_name("naftiko"))
FASTMCP_PYTHON = os.environ.get("FASTMCP_PYTHON", "/work/bench-venv/bin/python")
TOKEN = "bench-token"
TOOLS = {"naftiko": "retrieves-batch", "fastmcp": "retrieves_batch"}  # FastMCP's own naming
GROQ_OPENAPI = HERE.parent / "tests" / "fixtures" / "openapi" / "groqcloud-batches.yaml"
IMPORTED_TOOLS = {"naftiko": "retrieve-batch", "fastmcp": "retrieveBatch"}
ARGUMENTS = {"batch_id": "batch_01"}
BARE = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
BARE_BODY = json.dumps({**BARE, "params": {"name": TOOLS["naftiko"], "arguments": ARGUMENTS}})
# Pinned like bench/rest.py: the server under test on core 0, the upstream and wrk on core 1.
_SKIPPED_HEADERS = {"host", "content-length", "connection", "accept-encoding", "user-agent"}


def imported() -> dict[str, Any]:
    """The capability `naftiko import openapi --capability -n groq` writes for the fixture."""
    out = Path(tempfile.mkdtemp()) / "groq.naftiko.yaml"
    cmd = [NAFTIKO, "import", "openapi", str(GROQ_OPENAPI), "--capability", "-n", "groq"]
    subprocess.run([*cmd, "-o", str(out)], check=True, capture_output=True)
    data: dict[str, Any] = yaml.safe_load(out.read_text())
    return data


def start(cmd: list[str], port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GROQ_API_KEY": TOKEN, "GROQ_TOKEN": TOKEN}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env)
        try:
            wait_port(port)
        except RuntimeError:
            proc.kill()
            log.seek(0)
            raise RuntimeError(f"{cmd[:2]} did not start:\n{log.read().decode()[-2000:]}") from None
    return proc


def wrk(url: str, headers: dict[str, str], body: str, seconds: int, connections: int) -> float:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    cmd = [
        *(LOAD_CPU if PIN else []),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "-s",
        script.name,
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out) or "Socket errors" in out:
        raise RuntimeError(f"errors under load on {url}: {out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


async def _recorded_call(
    url: str, tool: str, measure: Callable[[dict[str, str], str], float]
) -> float:
    """One SDK-client call, checked; then `measure` replays it while the session is open."""
    # Imported here, once main() has taken this file's folder off the path: this script is
    # named like the SDK package, and `import mcp` would otherwise find the script itself.
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    seen: list[httpx2.Request] = []

    async def record(request: httpx2.Request) -> None:
        if b'"tools/call"' in request.content:
            seen.append(request)

    http = httpx2.AsyncClient(event_hooks={"request": [record]})
    transport = streamable_http_client(url, http_client=http)
    async with http, Client(transport, cache=None) as client:
        result = await client.call_tool(tool, ARGUMENTS)
        assert not result.is_error, result
        assert (result.structured_content or {}).get("id") == "batch_01", result
        (request,) = seen
        headers = {k: v for k, v in request.headers.items() if k not in _SKIPPED_HEADERS}
        return measure(headers, request.content.decode())


def sdk_replay(url: str, tool: str, seconds: int, connections: int) -> float:
    def measure(headers: dict[str, str], body: str) -> float:
        wrk(url, headers, body, 1, connections)  # warm-up
        return wrk(url, headers, body, seconds, connections)

    result: float = anyio.run(_recorded_call, url, tool, measure)
    return result


def bare_replay(url: str, seconds: int, connections: int) -> float:
    check = httpx2.post(url, content=BARE_BODY, headers={"Content-Type": "application/json"})
    assert check.json()["result"]["structuredContent"]["id"] == "batch_01", check.text
    headers = {"Content-Type": "application/json"}
    wrk(url, headers, BARE_BODY, 1, connections)
    return wrk(url, headers, BARE_BODY, seconds, connections)


def main() -> None:
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--imported",
        action="store_true",
        help="serve what `naftiko import openapi --capability` makes of the GroqCloud fixture, "
        "and give FastMCP.from_openapi the same document",
    )
    args = parser.parse_args()

    up_port = free_port()
    loads = [load_average()]
    upstream = start(
        [*(LOAD_CPU if PIN else []), PYTHON, str(HERE / "upstream.py"), str(up_port)], up_port
    )
    up_url = f"http://127.0.0.1:{up_port}"
    data: dict[str, Any] = imported() if args.imported else yaml.safe_load(SEED.read_text())
    tools = IMPORTED_TOOLS if args.imported else TOOLS
    data["capability"]["consumes"][0]["baseUri"] = up_url
    ports = {"naftiko": free_port(), "fastmcp": free_port()}
    data["capability"]["exposes"] = [data["capability"]["exposes"][1]]  # the MCP adapter only
    data["capability"]["exposes"][0]["port"] = ports["naftiko"]
    spec = Path(tempfile.mkdtemp()) / "seed.yaml"
    spec.write_text(yaml.safe_dump(data))
    commands = {
        "naftiko": [NAFTIKO, "run", "--log-level", "warning", str(spec)],
        "fastmcp": [
            FASTMCP_PYTHON,
            "-P",  # not this folder first on the path: its mcp.py would hide the SDK
            str(HERE / "peer_fastmcp.py"),
            str(ports["fastmcp"]),
            up_url,
            TOKEN,
            *([str(GROQ_OPENAPI)] if args.imported else []),
        ],
    }
    results: dict[str, list[float]] = {"naftiko": [], "fastmcp": []}
    if not args.imported:
        results["naftiko-bare"] = []
    try:
        for _ in range(args.rounds):
            for name, cmd in commands.items():
                proc = start([*(GATEWAY_CPU if PIN else []), *cmd], ports[name])
                url = f"http://127.0.0.1:{ports[name]}/mcp"
                try:
                    results[name].append(
                        sdk_replay(url, tools[name], args.duration, args.connections)
                    )
                    if name == "naftiko" and not args.imported:
                        bare = bare_replay(url, args.duration, args.connections)
                        results["naftiko-bare"].append(bare)
                finally:
                    proc.terminate()
                    proc.wait(20)
    finally:
        upstream.terminate()
        upstream.wait(10)
    loads.append(load_average())
    print(
        f"| server | tools/call req/s (median of {args.rounds}) | vs FastMCP (median of ratios) |"
    )
    print("|---|---:|---:|")
    for name, values in results.items():
        ratio = statistics.median(v / f for v, f in zip(values, results["fastmcp"], strict=True))
        print(f"| {name} | {statistics.median(values):,.0f} | {ratio:.2f}x |")
    ratios = [n / f for n, f in zip(results["naftiko"], results["fastmcp"], strict=True)]
    print(
        f"\nnaftiko / FastMCP per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"median {statistics.median(ratios):.2f}x"
    )
    print(f"pinned: {PIN}; load average (1, 5, 15 min) before / after: {loads[0]} / {loads[1]}")


if __name__ == "__main__":
    main()

"""MCP adapter: every `type: mcp` adapter as an MCP server (SEMANTICS §6).

The adapter's methods (tools, resources, prompts) are built once from the plan and served by
our own JSON-RPC core (`mcp_server`): over HTTP at `/` and `/mcp` (`mcp_http`: the 2026-07-28
sessionless requests and the handshake eras, no session), and over stdio (`mcp_stdio`), both
through the same dispatch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

import naftiko.safejson as safejson
from naftiko.adapters.auth_gate import Gate
from naftiko.adapters.common import counted
from naftiko.adapters.mcp_content import Prompts, Resources
from naftiko.adapters.mcp_envelope import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    RpcError,
)
from naftiko.adapters.mcp_http import JsonRpcHttp
from naftiko.adapters.mcp_results import failure, failure_text, success, tool
from naftiko.adapters.mcp_server import Handler, Identity, McpServer, Params
from naftiko.adapters.mcp_stdio import serve_stdio
from naftiko.defaults import DEFAULT_MAX_BODY
from naftiko.engine.engine import Engine
from naftiko.engine.exposed import McpPlan
from naftiko.engine.metrics import Metrics
from naftiko.engine.plan import Action
from naftiko.errors import InputError, NaftikoError
from naftiko.version import __version__

_PATHS = frozenset({"/", "/mcp", "/mcp/"})
_SHUTTING_DOWN = -32000  # JSON-RPC's implementation-defined server error range


class McpAdapter:
    """One `type: mcp` adapter, served behind `edge.Edge` over HTTP, or on stdio."""

    kind = "mcp"

    def __init__(
        self, plan: McpPlan, engine: Engine, metrics: Metrics, max_body: int = DEFAULT_MAX_BODY
    ) -> None:
        self.plan = plan
        self.engine = engine
        self.metrics = metrics
        self.namespace = plan.namespace
        spec_dir = engine.plan.capability.path.parent
        # The listing is built once: tools/list answers the same object every time.
        self._tools = {
            "tools": [
                tool(name, action, action.input_schema) for name, action in plan.tools.items()
            ]
        }
        self._resources = Resources(plan.resources, spec_dir, engine)
        self._prompts = Prompts(plan.prompts, spec_dir)
        self.server = self._server()
        self.max_body = max_body
        self.refuse = jsonrpc_refusal
        self._http = JsonRpcHttp(self.server)
        self.gate = Gate(plan.guard, engine.upstreams)

    def _server(self) -> McpServer:
        has_resources, has_prompts = bool(self._resources), bool(self._prompts)
        identity = Identity(
            name=self.plan.namespace,
            version=__version__,
            title=self.plan.title,
            instructions=self.plan.description,
            resources=has_resources,
            prompts=has_prompts,
            completions=has_prompts or self._resources.has_templates(),
        )
        handlers: dict[str, Handler] = {
            "tools/list": self._list_tools,
            "tools/call": self._call_tool,
        }
        if has_resources:
            handlers["resources/list"] = self._list_resources
            handlers["resources/templates/list"] = self._list_templates
            handlers["resources/read"] = self._read_resource
        if has_prompts:
            handlers["prompts/list"] = self._list_prompts
            handlers["prompts/get"] = self._get_prompt
        if identity.completions:
            handlers["completion/complete"] = self._complete
        return McpServer(identity, handlers)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        yield  # nothing to open: every request is answered on its own

    async def run_stdio(self, stop: asyncio.Event) -> None:
        """Speak MCP on stdin/stdout until stdin closes; then `stop` is set."""
        await serve_stdio(self.server, stop, self.max_body)

    # ------------------------------------------------------------------ HTTP

    def methods_at(self, path: str) -> list[str]:
        """`/` and `/mcp` take POSTs only: no server-initiated stream (GET), no session to
        end (DELETE); a GET held open would only pin a connection and delay shutdown."""
        return ["POST"] if path in _PATHS else []

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._http(scope, receive, send)

    # ------------------------------------------------------------------ handlers

    async def _list_tools(self, params: Params) -> dict[str, Any]:
        return self._tools

    async def _call_tool(self, params: Params) -> dict[str, Any]:
        name: str = params["name"]
        action = self.plan.tools.get(name)
        if action is None:
            raise RpcError(INVALID_PARAMS, f"Unknown tool: {name}")
        started = time.perf_counter()
        outcome = "ERROR"
        try:
            arguments: dict[str, Any] = params.get("arguments") or {}
            telemetry = self.engine.telemetry
            if telemetry is None:
                result = await self._invoke(action, arguments)
            else:
                with telemetry.span("mcp.tool", _tool_attributes(name)) as span:
                    result = await self._invoke(action, arguments)
                    if result["isError"]:
                        telemetry.failed_tool(span)
            outcome = "ERROR" if result["isError"] else "OK"
            return result
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe("mcp", name, outcome, elapsed)
            counted()  # over HTTP, this call is the answer's sample, not the edge's

    async def _invoke(self, action: Action, arguments: dict[str, Any]) -> dict[str, Any]:
        """Execution failures are tool results the model can read and act on, not protocol
        errors (the engine has already masked secrets in them)."""
        try:
            for name, value in arguments.items():
                # A message with NaN, Infinity or deep nesting was read by the lenient parser.
                safejson.check(value, name)
            result = await self.engine.invoke(action, arguments)
        except InputError as exc:
            return failure(f"invalid argument {exc.field!r}: {exc.message}")
        except NaftikoError as exc:
            return failure(str(exc))
        if result.failed:
            return failure(failure_text(result))
        return success(result)

    async def _list_resources(self, params: Params) -> dict[str, Any]:
        return await self._resources.list()

    async def _list_templates(self, params: Params) -> dict[str, Any]:
        return self._resources.templates()

    async def _read_resource(self, params: Params) -> dict[str, Any]:
        return await self._resources.read(params["uri"])

    async def _list_prompts(self, params: Params) -> dict[str, Any]:
        return self._prompts.list()

    async def _get_prompt(self, params: Params) -> dict[str, Any]:
        return await self._prompts.get(params["name"], params.get("arguments") or {})

    async def _complete(self, params: Params) -> dict[str, Any]:
        ref, argument = params["ref"], params["argument"]
        if ref["type"] == "ref/prompt":
            values = self._prompts.complete(ref["name"], argument["name"])
        else:
            values = self._resources.complete(ref["uri"], argument["name"], argument["value"])
        # At most 100 values in one answer (MCP); `total` says how many there are.
        shown = list(values[:_MAX_COMPLETIONS])
        return {
            "completion": {
                "values": shown,
                "total": len(values),
                "hasMore": len(values) > len(shown),
            }
        }


_MAX_COMPLETIONS = 100


def _tool_attributes(name: str) -> dict[str, str]:
    # The MCP semantic conventions' names for a tool call.
    return {
        "mcp.method.name": "tools/call",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
    }


def jsonrpc_refusal(status: int, detail: str, body: bytes) -> Response:
    """How the edge refuses an MCP request (too large, stalled, shutting down): a JSON-RPC
    error answering the request's id when it can be read."""
    request_id: Any = None
    with contextlib.suppress(ValueError, InputError):
        message = safejson.loads(body) if body else None
        if isinstance(message, dict) and isinstance(message.get("id"), str | int):
            request_id = message["id"]
    code = _SHUTTING_DOWN if status == 503 else INVALID_REQUEST
    if status == 500:  # the edge's answer to a fault nobody planned for
        code = INTERNAL_ERROR
    error = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": detail}}
    return Response(json.dumps(error), status, media_type="application/json")


__all__ = ["McpAdapter"]

"""MCP adapter: every `type: mcp` adapter as an MCP server (SEMANTICS §6).

One low-level SDK `Server` per adapter, its handlers built from the plan. Over HTTP it sits
behind a `StreamableHTTPSessionManager` at `/` and `/mcp`, serving both protocol eras: the
2026-07-28 sessionless requests and the `initialize` handshake (2025-11-25 and older). Over
stdio the same server speaks on stdin/stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

import naftiko.safejson as safejson
from naftiko.adapters.auth_gate import Gate
from naftiko.adapters.common import counted, log
from naftiko.adapters.limits import REQUEST_BODY
from naftiko.adapters.mcp_content import Prompts, Resources
from naftiko.adapters.mcp_http import JsonRpcEdge
from naftiko.adapters.mcp_results import failure, failure_text, success, tool
from naftiko.adapters.mcp_stdio import serve_stdio
from naftiko.defaults import DEFAULT_MAX_BODY
from naftiko.engine.engine import Engine
from naftiko.engine.exposed import McpPlan
from naftiko.engine.metrics import Metrics
from naftiko.engine.plan import Action
from naftiko.errors import InputError, NaftikoError
from naftiko.version import __version__

_PATHS = frozenset({"/", "/mcp", "/mcp/"})
_JSON_ACCEPT = (b"accept", b"application/json")
_SHUTTING_DOWN = -32000  # JSON-RPC's implementation-defined server error range

Context = ServerRequestContext[Any, Any]


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
        # Schemas are derived once: tools/list, and the SDK's per-call header validation
        # (`get_tool_input_schema`), read them without re-listing the tools.
        self._schemas = {name: action.input_schema for name, action in plan.tools.items()}
        self._tools = types.ListToolsResult(
            tools=[tool(name, action, self._schemas[name]) for name, action in plan.tools.items()]
        )
        self._resources = Resources(plan.resources, spec_dir, engine)
        self._prompts = Prompts(plan.prompts, spec_dir)
        self.server = self._server()
        # Stateless and JSON-only: no session to create before a bare `tools/call`, and a
        # plain application/json answer (this server never streams notifications).
        self._sessions = StreamableHTTPSessionManager(
            app=self.server, json_response=True, stateless=True, max_request_body_size=max_body
        )
        self.max_body = max_body
        self.refuse = jsonrpc_refusal
        self._edge = JsonRpcEdge(self._sessions.handle_request)
        self.gate = Gate(plan.guard, engine.upstreams)

    def _server(self) -> Server[Any]:
        has_resources, has_prompts = bool(self._resources), bool(self._prompts)
        server: Server[Any] = Server(
            self.plan.namespace,
            version=__version__,
            title=self.plan.title,
            instructions=self.plan.description,
            get_tool_input_schema=self._schemas.get,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources if has_resources else None,
            on_list_resource_templates=self._list_templates if has_resources else None,
            on_read_resource=self._read_resource if has_resources else None,
            on_list_prompts=self._list_prompts if has_prompts else None,
            on_get_prompt=self._get_prompt if has_prompts else None,
        )
        # Replaces the SDK's default OpenTelemetry span per message (a cost on the hot path
        # with no exporter configured) with the one edge that contains unexpected faults.
        server.middleware = [_contain_faults]
        return server

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with self._sessions.run():
            yield

    async def run_stdio(self, stop: asyncio.Event) -> None:
        """Speak MCP on stdin/stdout until stdin closes; then `stop` is set."""
        await serve_stdio(self.server, stop, self.max_body)

    # ------------------------------------------------------------------ HTTP

    def methods_at(self, path: str) -> list[str]:
        """`/` and `/mcp` take POSTs only: no server-initiated stream (GET), no session to
        end (DELETE); a GET held open would only pin a connection and delay shutdown."""
        return ["POST"] if path in _PATHS else []

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._edge(_accepting_json(scope), receive, send)

    # ------------------------------------------------------------------ handlers

    async def _list_tools(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return self._tools

    async def _call_tool(
        self, ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        action = self.plan.tools.get(params.name)
        if action is None:
            raise MCPError(INVALID_PARAMS, f"Unknown tool: {params.name}")
        started = time.perf_counter()
        outcome = "ERROR"
        try:
            arguments = _exact_arguments(REQUEST_BODY.get(), params) or params.arguments or {}
            telemetry = self.engine.telemetry
            if telemetry is None:
                result = await self._invoke(action, arguments)
            else:
                with telemetry.span("mcp.tool", _tool_attributes(params.name)) as span:
                    result = await self._invoke(action, arguments)
                    if result.is_error:
                        telemetry.failed_tool(span)
            outcome = "ERROR" if result.is_error else "OK"
            return result
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe("mcp", self.plan.namespace, params.name, outcome, elapsed)
            counted()  # over HTTP, this call is the answer's sample, not the edge's

    async def _invoke(self, action: Action, arguments: dict[str, Any]) -> types.CallToolResult:
        """Execution failures are tool results the model can read and act on, not protocol
        errors (the engine has already masked secrets in them)."""
        try:
            for name, value in arguments.items():
                safejson.check(value, name)  # the SDK's parser admits NaN and Infinity
            result = await self.engine.invoke(action, arguments)
        except InputError as exc:
            return failure(f"invalid argument {exc.field!r}: {exc.message}")
        except NaftikoError as exc:
            return failure(str(exc))
        if result.error:
            return failure(failure_text(result))
        return success(result)

    async def _list_resources(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return await self._resources.list()

    async def _list_templates(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return self._resources.templates()

    async def _read_resource(
        self, ctx: Context, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        return await self._resources.read(params.uri)

    async def _list_prompts(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return self._prompts.list()

    async def _get_prompt(
        self, ctx: Context, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        return await self._prompts.get(params.name, params.arguments or {})


def _tool_attributes(name: str) -> dict[str, str]:
    # The MCP semantic conventions' names for a tool call.
    return {
        "mcp.method.name": "tools/call",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
    }


def _exact_arguments(body: bytes, params: types.CallToolRequestParams) -> dict[str, Any] | None:
    """The call's arguments read again by safejson from the request body: the SDK's parser
    turns `12345678901234567890.123` into a double, which would reach the upstream changed."""
    if not body:
        return None  # stdio, or no body read at the edge
    try:
        message = safejson.loads(body)
    except (ValueError, InputError):
        return None  # the SDK's own parse decided this request; its values are used
    call = message.get("params") if isinstance(message, dict) else None
    if not isinstance(call, dict) or call.get("name") != params.name:
        return None
    arguments = call.get("arguments")
    return arguments if isinstance(arguments, dict) else None


def jsonrpc_refusal(status: int, detail: str, body: bytes) -> Response:
    """How the edge refuses an MCP request (too large, stalled, shutting down): a JSON-RPC
    error answering the request's id when it can be read."""
    request_id: Any = None
    with contextlib.suppress(ValueError, InputError):
        message = safejson.loads(body) if body else None
        if isinstance(message, dict) and isinstance(message.get("id"), str | int):
            request_id = message["id"]
    code = _SHUTTING_DOWN if status == 503 else INVALID_REQUEST
    error = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": detail}}
    return Response(json.dumps(error), status, media_type="application/json")


async def _contain_faults(ctx: Context, call_next: CallNext) -> HandlerResult:
    """The protocol edge: an unexpected fault is logged here and answered -32603 without
    details (the SDK's handshake-era fallback would put the exception text on the wire)."""
    try:
        return await call_next(ctx)
    except (MCPError, ValidationError):
        raise
    except Exception:
        log.exception("unexpected error in MCP method %s", ctx.method)
        raise MCPError(INTERNAL_ERROR, "internal error") from None


def _accepting_json(scope: Scope) -> Scope:
    """A request without `Accept` (a bare curl POST) is answered as one accepting JSON."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    if any(name == b"accept" for name, _ in headers):
        return scope
    return {**scope, "headers": [*headers, _JSON_ACCEPT]}


__all__ = ["McpAdapter"]

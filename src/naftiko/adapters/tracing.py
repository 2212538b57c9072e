"""The SERVER span of every request an adapter serves (`rest.request`, `mcp.request`,
`skill.request`), as ASGI middleware around the adapter's edge (so refusals decided there are
traced too): the caller's context (W3C `traceparent`/`tracestate`/`baggage`, or B3) is
continued, the span is current while the edge, the adapter and the engine run, and its trace
id goes to the log lines of the request.

Only installed when the spec turns tracing on (`traced` returns the app untouched
otherwise), so a runtime without tracing pays nothing here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from naftiko.adapters.auth_gate import IDENTITY
from naftiko.adapters.common import OPERATION
from naftiko.engine.tracing import own_trace

if TYPE_CHECKING:
    from naftiko.engine.telemetry import Telemetry


def traced(app: ASGIApp, telemetry: Telemetry | None, kind: str, namespace: str) -> ASGIApp:
    if telemetry is None or kind == "control":
        # Probes and scrapes hit the control port every few seconds: not worth a trace.
        return app
    return TraceEdge(app, telemetry, kind, namespace)


class TraceEdge:
    def __init__(self, app: ASGIApp, telemetry: Telemetry, kind: str, namespace: str) -> None:
        from naftiko.engine.telemetry import SpanKind, http_error, ids

        self.app = app
        self.telemetry = telemetry
        self.name = f"{kind}.request"
        self.rest = kind == "rest"
        self.base = {"naftiko.adapter.type": kind, "naftiko.adapter.namespace": namespace}
        self._server = SpanKind.SERVER
        self._ids = ids
        self._http_error = http_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        context = self.telemetry.extract(carrier)
        with self.telemetry.span(
            self.name, self._attributes(scope, carrier), self._server, context
        ) as span:
            status = 0

            async def watched(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        self._http_error(span, status)
                await send(message)

            # The operation id and route the adapter names, read back after it ran.
            state = scope.get("state")
            if not isinstance(state, dict):
                state = scope["state"] = {}
            with own_trace(self._ids(span)[0]):
                await self.app(scope, receive, watched)
            identity = state.get(IDENTITY)
            if isinstance(identity, dict):
                span.set_attributes({k: v for k, v in identity.items() if v})
            operation = state.get(OPERATION)
            if operation is not None:
                span.set_attribute("naftiko.operation.id", operation)
                if self.rest:
                    span.set_attribute("http.route", operation.rsplit(" ", 1)[0])

    def _attributes(self, scope: Scope, headers: dict[str, str]) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            **self.base,
            "http.request.method": scope["method"],
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        server = scope.get("server")
        if server:
            attributes["server.port"] = server[1]
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        agent = headers.get("user-agent")
        if agent:
            attributes["user_agent.original"] = agent[:200]
        return attributes

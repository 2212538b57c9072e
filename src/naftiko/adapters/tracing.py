"""The SERVER span of every request an adapter serves (`rest.request`, `mcp.request`,
`skill.request`), as ASGI middleware just inside the HTTP edge: the caller's context
(W3C `traceparent`/`tracestate`/`baggage`, or B3) is continued, the span is current while
the adapter and the engine run, and its trace id goes to the log lines of the request.

Only installed when the spec turns tracing on (`traced` returns the app untouched
otherwise), so a runtime without tracing pays nothing here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from naftiko.engine.tracing import Trace, current, tracing

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

            outer = current()
            trace_id = self._ids(span)[0]
            # The SDK injects our own context upstream now: the caller's traceparent is not
            # forwarded beside it; the request id still is.
            mine = Trace(outer.request_id if outer else "-", None, trace_id)
            with tracing(mine):
                await self.app(scope, receive, watched)
            route = scope.get("naftiko.route")
            if route is not None:
                span.set_attribute("http.route", route)

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

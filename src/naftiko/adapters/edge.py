"""The one adapter edge: everything every HTTP adapter does around a request, written once.

Every served adapter (REST, MCP, skill, control) is an `Endpoint` — it says which methods a
path has, how its protocol refuses, who may call it (its `Gate`) and how it answers a request
that got through — and `Edge` is the ASGI app that serves it. In order, the edge:
1. stamps `Date` and `X-Request-Id` on every answer and sets the request's trace context;
   a request without exactly one `Host` is a 400 (RFC 9112 §3.2);
2. applies the browser rules of `origins` (DNS rebinding, foreign origins, CORS);
3. refuses oversized headers (431);
4. serves the RFC 9728 metadata of an OAuth-protected adapter without credentials;
5. answers 404 for a path the adapter does not have, `OPTIONS` with `Allow`, and 405 with
   `Allow` for a method it does not take (`HEAD` wherever `GET` is);
6. asks the adapter's gate (401/403/503 with their challenges);
7. reads the body once, under `--max-body` and an idle timeout (413/408), and replays it;
8. runs the adapter, within the drain: a request still running when the drain ends is
   answered 503 (or the protocol's equivalent) by this edge;
9. turns an unexpected exception into a 500 without details (MCP: its own refusal), logged;
10. writes the access line (one format, INFO) and the request metric, for every answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from email.utils import formatdate
from typing import Any, Protocol

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from naftiko.adapters.auth_gate import Gate, caller
from naftiko.adapters.common import (
    ACCESS,
    OPERATION,
    REQUEST_STATE,
    is_counted,
    log,
    problem,
)
from naftiko.adapters.edge_head import Head, raw_path, read_head
from naftiko.adapters.limits import (
    CALLER_GONE,
    GONE,
    REQUEST_BODY,
    TASK,
    BodyLimits,
    Drain,
    Refuse,
    read_body,
    replay,
)
from naftiko.adapters.origins import Cors, OriginPolicy
from naftiko.engine import streams, tracing
from naftiko.engine.metrics import Metrics
from naftiko.engine.tracing import Trace
from naftiko.vocabulary import HTTP_METHODS, SAFE_METHODS


class Endpoint(Protocol):
    """What an adapter tells its edge."""

    kind: str  # rest | mcp | skill | control: the metric's adapter type
    namespace: str
    gate: Gate
    refuse: Refuse  # how its protocol answers a refusal decided here (limits, drain, 500)

    def methods_at(self, path: str) -> Collection[str]:
        """The methods `path` (raw, percent-encoded) answers; empty: there is no such path;
        `*` in it: any method (a forward)."""
        ...

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request the edge let through: only routing and the protocol remain."""
        ...


class Edge:
    def __init__(
        self,
        endpoint: Endpoint,
        *,
        origins: OriginPolicy,
        cors: Cors,
        loopback: bool,
        limits: BodyLimits,
        drain: Drain,
        metrics: Metrics,
    ) -> None:
        self.endpoint = endpoint
        self.origins = origins
        self.cors = cors
        self.loopback = loopback  # check Host (DNS rebinding): the listener is on loopback
        # MCP refuses every foreign-origin request; the others only what could change state.
        self.strict = endpoint.kind == "mcp"
        self.limits = limits
        self.drain = drain
        self.metrics = metrics
        self._flight = metrics.in_flight(endpoint.kind)
        self._second = 0
        self._date = b""
        # `Host` values already allowed (the policy is fixed): a client sends the same one
        # on every request. Bounded, so that invented values cannot grow it.
        self._hosts: set[bytes] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                # No adapter serves WebSockets: the handshake is declined (uvicorn answers
                # 403), not left unanswered (which uvicorn reports as a 500).
                await send({"type": "websocket.close", "code": 1008})
            return  # the runtime drives lifespans itself
        started = time.perf_counter()
        head = read_head(scope)
        trace = head.trace
        state = scope.get("state")
        if not isinstance(state, dict):
            state = scope["state"] = {}
        REQUEST_STATE.set(state)
        stamps = [(b"date", self._now()), (b"x-request-id", trace.request_id.encode())]
        exchange = _Exchange(send, stamps)
        # The serving protocol names the request's task; another server (a test's ASGI
        # client) does not.
        task = scope.get(TASK) or asyncio.current_task()
        assert task is not None
        scope[TASK] = task
        token = tracing.enter(trace)
        held = streams.hold()  # the upstream bodies this request reads, until its answer left
        try:
            await self._serve(scope, receive, exchange, task, head)
        except asyncio.CancelledError:
            if scope.get(GONE):
                self.drain.cut.discard(task)
                while task.uncancel():
                    pass
                exchange.status = exchange.status or CALLER_GONE
            elif task not in self.drain.cut:
                raise
            else:
                self.drain.cut.discard(task)
                task.uncancel()
                await self._cut_short(scope, exchange, exchange.body)
        except Exception:
            log.exception("unexpected error in %s adapter %s", self.endpoint.kind, self.ns)
            if not exchange.started:
                await self._answer(
                    scope, exchange, self.endpoint.refuse(500, "internal error", b"")
                )
        finally:
            streams.release(held)
            self._account(scope, state, exchange.status, started, trace)
            tracing.leave(token)

    @property
    def ns(self) -> str:
        return self.endpoint.namespace

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        exchange: _Exchange,
        task: asyncio.Task[Any],
        head: Head,
    ) -> None:
        """Everything up to the adapter, then the adapter."""
        hosts, host, origin = head.hosts, head.host, head.origin
        if hosts > 1 or (hosts == 0 and scope.get("http_version") != "1.0"):
            await self._answer(
                scope, exchange, problem(400, "a request needs exactly one Host header")
            )
            return
        # Host already allowed and no Origin (the common case): nothing for `_browser`.
        browser = origin is not None or (
            self.loopback and host is not None and host not in self._hosts
        )
        if browser and not await self._browser(scope, exchange, host, origin):
            return
        if head.size > self.limits.max_header_bytes:
            detail = f"request headers are larger than {self.limits.max_header_bytes} bytes"
            # As the serving layer does when headers outgrow the limit mid-read: the
            # connection of a client sending such headers is not kept for another request.
            await self._refuse(scope, exchange, 431, detail, close=True)
            return
        declared = head.declared
        if declared is not None and declared > self.limits.max_body:
            # Said up front, so refused whatever the path: nothing of it need be read.
            detail = f"request body is larger than {self.limits.max_body} bytes"
            await self._refuse(scope, exchange, 413, detail, close=True)
            return
        gate = self.endpoint.gate
        # An open adapter (no guard) has no metadata to serve and admits everyone.
        conn = HTTPConnection(scope) if gate.guard is not None else None
        if conn is not None:
            metadata = gate.metadata(conn)
            if metadata is not None:
                await self._answer(scope, exchange, metadata)
                return
        method = scope["method"]
        taken = self.endpoint.methods_at(raw_path(scope))
        # The common case (the method is among the path's), decided without building `Allow`.
        common = method in taken and method != "OPTIONS" and "*" not in taken
        if not common and not await self._route(scope, exchange, taken):
            return
        if conn is not None:
            refusal = await gate.admit(conn)
            if refusal is not None:
                await self._answer(scope, exchange, refusal)
                return
        if head.body:
            self.drain.reading.add(task)
            try:
                body, refused = await read_body(scope, receive, self.limits)
            finally:
                self.drain.reading.discard(task)
            if refused is not None:
                status, detail = refused
                if status:
                    await self._refuse(scope, exchange, status, detail, close=True)
                return  # refused, or the client went away
            receive = replay(body, receive)
            REQUEST_BODY.set(body)
            exchange.body = body
        self.drain.running.add(task)
        flight = self._flight
        flight.enter()
        try:
            await self.endpoint.handle(scope, receive, exchange.send)
        finally:
            self.drain.running.discard(task)
            flight.leave()

    async def _browser(
        self,
        scope: Scope,
        exchange: _Exchange,
        host_header: bytes | None,
        origin_header: bytes | None,
    ) -> bool:
        """The Origin and Host rules of `origins` (given the request's last `Host` and
        `Origin`); False when answered here."""
        if self.loopback and host_header is not None and host_header not in self._hosts:
            if not self.origins.allows_host(host_header.decode("latin-1")):
                await self._answer(scope, exchange, problem(403, "host not allowed"))
                return False
            if len(self._hosts) < _HOSTS_KEPT:
                self._hosts.add(host_header)
        if origin_header is None:
            return True
        origin = origin_header.decode("latin-1")
        method = scope["method"]
        preflight = method == "OPTIONS" and any(
            name == b"access-control-request-method" for name, _ in scope["headers"]
        )
        if not self.origins.allows_origin(origin):
            trusted = self.origins.trusts_origin(origin)
            if preflight or (not trusted and (self.strict or method not in SAFE_METHODS)):
                await self._answer(scope, exchange, problem(403, "origin not allowed"))
                return False
            return True  # served without CORS headers: the browser keeps the answer
        exchange.extra += self.cors.granted(origin)
        if preflight:
            taken = self.endpoint.methods_at(raw_path(scope))
            methods = [m for m in self._methods(taken) if m != "OPTIONS"]
            if not methods:
                await self._answer(scope, exchange, problem(404, "no resource at this path"))
            else:
                await self._answer(scope, exchange, self.cors.preflight(methods))
            return False
        return True

    async def _route(self, scope: Scope, exchange: _Exchange, taken: Collection[str]) -> bool:
        """404, `OPTIONS` and 405 for every adapter alike (the path's routes take `taken`);
        False when answered here."""
        method = scope["method"]
        methods = self._methods(taken)
        if not methods:
            await self._answer(scope, exchange, problem(404, f"no resource at {scope['path']}"))
            return False
        if method != "OPTIONS" and method in methods:
            return True
        if method == "OPTIONS" and ("OPTIONS" in taken or "*" in taken):
            return True  # the adapter answers OPTIONS itself (a forward passes it on)
        if method == "OPTIONS":
            allow = ", ".join(methods)
            await self._answer(scope, exchange, Response(status_code=204, headers={"Allow": allow}))
            return False
        await self._answer(
            scope, exchange, problem(405, f"method {method} not allowed", allow=list(methods))
        )
        return False

    def _methods(self, taken: Collection[str]) -> list[str]:
        """What a path whose routes take `taken` answers, as `Allow` lists it: HEAD wherever
        GET is (RFC 9110 §9.3.2), OPTIONS on every path that exists."""
        methods = set(taken)
        if not methods:
            return []
        if "*" in methods:
            return sorted(HTTP_METHODS)
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods | {"OPTIONS"})

    async def _refuse(
        self,
        scope: Scope,
        exchange: _Exchange,
        status: int,
        detail: str,
        body: bytes = b"",
        *,
        close: bool = False,
    ) -> None:
        response = self.endpoint.refuse(status, detail, body)
        if close:
            # A body may still be on its way: this connection cannot be reused.
            response.headers["Connection"] = "close"
        await self._answer(scope, exchange, response)

    async def _cut_short(self, scope: Scope, exchange: _Exchange, body: bytes) -> None:
        if exchange.started:
            # Part of the answer is out: only closing the connection can say it is cut short.
            log.warning("%s %s: response cut short by shutdown", self.endpoint.kind, self.ns)
            return
        await self._refuse(scope, exchange, 503, "the server is shutting down", body, close=True)

    async def _answer(self, scope: Scope, exchange: _Exchange, response: Response) -> None:
        await response(scope, _nothing, exchange.send)

    def _account(
        self, scope: Scope, state: dict[str, Any], status: int, started: float, trace: Trace
    ) -> None:
        elapsed = time.perf_counter() - started
        if not is_counted(state):
            operation = state.get(OPERATION, "-")
            self.metrics.observe(self.endpoint.kind, operation, str(status), elapsed)
        if not ACCESS.enabled():
            return  # `--log-level warning`: no line, so none of its fields either
        ACCESS.write(
            "%s %s %s %d %.1fms %s %s",
            self.ns,
            scope["method"],
            scope["path"],
            status,
            elapsed * 1000,
            caller(scope),
            trace.request_id,
        )

    def _now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second, self._date = second, formatdate(second, usegmt=True).encode()
        return self._date


class _Exchange:
    """The answer as it leaves: stamped with the edge's headers and its status watched. (The
    serving protocol writes a head together with the first piece of its body.)"""

    __slots__ = ("_send", "body", "extra", "started", "status")

    def __init__(self, send: Send, extra: list[tuple[bytes, bytes]]) -> None:
        self._send = send
        self.extra = extra
        self.started = False
        self.status = 0
        self.body = b""  # the request body, once read (a JSON-RPC refusal answers its id)

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            headers = message.get("headers", [])
            mine = self.extra
            # An upstream's own X-Request-Id (passed back) is the one its vendor knows. Only
            # the two stamps (no CORS headers): a plain loop finds any clash, no sets built.
            clash = len(mine) != 2
            for key, _ in headers:
                if clash or key.lower() in _STAMPED:
                    names = {key.lower() for key, _ in headers}
                    mine = [(k, v) for k, v in mine if k not in names]
                    break
            message = {**message, "headers": [*headers, *mine]}
        await self._send(message)


_HOSTS_KEPT = 64
_STAMPED = frozenset({b"date", b"x-request-id"})  # what the edge puts on every answer


async def _nothing() -> Message:
    return {"type": "http.disconnect"}

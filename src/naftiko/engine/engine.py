"""`Engine.invoke(action, arguments)`: the only path from an adapter to an upstream."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from naftiko.engine import answers, auth, outputs, steps, tracing
from naftiko.engine.credentials import Credentials
from naftiko.engine.formats import parse_body
from naftiko.engine.inputs import Configured, find, validate
from naftiko.engine.network import Network
from naftiko.engine.options import Timeouts
from naftiko.engine.plan import (
    Action,
    CallStepPlan,
    LookupStepPlan,
    Operation,
    Plan,
    server_of,
)
from naftiko.engine.request import (
    UpstreamRequest,
    build_request,
    header_value,
    param_value,
    without_credential,
)
from naftiko.engine.result import Result
from naftiko.engine.scope import Scope
from naftiko.engine.secrets import Secrets
from naftiko.engine.streams import DEFAULT_MAX_UPSTREAM_BODY, Budget, masked_chunks
from naftiko.engine.transport import Transport, UpstreamResponse
from naftiko.engine.transport import is_json as _is_json
from naftiko.engine.upstream import Upstreams
from naftiko.errors import InputError, NaftikoError, UpstreamError, redacted
from naftiko.expressions import Const, Ref, WithValue, parse_template, to_text
from naftiko.model import Authentication
from naftiko.vocabulary import IDEMPOTENT_METHODS

upstream_log = logging.getLogger("naftiko.upstream")

_UNOBSERVED = contextlib.nullcontext()

if TYPE_CHECKING:
    from naftiko.engine.metrics import Metrics
    from naftiko.engine.telemetry import Telemetry


class Engine:
    def __init__(
        self,
        plan: Plan,
        timeouts: Timeouts | None = None,
        max_upstream_body: int = DEFAULT_MAX_UPSTREAM_BODY,
        network: Network | None = None,
        *,
        transport: Transport | None = None,
        budget: Budget | None = None,
    ) -> None:
        """`transport` reaches the upstreams (and authorization servers); by default the
        pooled aiohttp clients, built from `timeouts`, `max_upstream_body`, `network` and the
        runtime's `budget` (`--max-upstream-memory`)."""
        self.plan = plan
        self.upstreams: Transport = transport or Upstreams(
            dict(plan.clients), timeouts or Timeouts(), max_upstream_body, network, budget
        )
        self.secrets = Secrets(
            plan.bindings.secrets
            | auth.credential_secrets(
                [*(c.authentication for c in plan.clients.values()), *_adapter_auths(plan)],
                plan.bindings,
            )
        )
        self._credentials = Credentials(plan.clients, plan.bindings, self.upstreams, self.secrets)
        # Set by the runtime (`observe`); None costs one test per call.
        self.telemetry: Telemetry | None = None
        self.metrics: Metrics | None = None

    def observe(self, telemetry: Telemetry | None, metrics: Metrics | None) -> None:
        """Spans (when tracing is on) and metrics of upstream calls and steps."""
        self.telemetry, self.metrics = telemetry, metrics

    async def start(self) -> None:
        await self.upstreams.start()

    async def close(self) -> None:
        await self.upstreams.close()

    def redact(self, text: str) -> str:
        """Error and log text never carries a secret."""
        return self.secrets.text(text)

    async def invoke(
        self, action: Action, arguments: Mapping[str, Any], *, stream: bool = False
    ) -> Result:
        """Run one exposed unit. Whatever leaves here (result or error) is already masked:
        this is the one place secrets are redacted, for every adapter alike. With `stream`,
        a pass-through JSON body comes back as `Result.stream` (chunks as the upstream sends
        them, O(chunk) memory, masked chunk by chunk) instead of buffered bytes."""
        try:
            if action.mode == "ref":
                result = await self._invoke(action, arguments, stream)
            else:  # the common unit, one coroutine less (what `_invoke` would do)
                params = self._apply_with(action.with_, validate(action.inputs, arguments))
                result = await self._run(action, params, action, stream)
        except NaftikoError as exc:
            raise redacted(exc, self.redact) from None
        return self._masked(result)

    async def _invoke(
        self, action: Action, arguments: Mapping[str, Any], stream: bool = False
    ) -> Result:
        if action.mode == "ref" and action.delegate is not None:
            fn = action.delegate
            # The function takes only its own declared inputs from what the caller sent,
            # after the unit's own inputs and `with` (which win) are applied.
            given = dict(arguments)
            if action.inputs or action.with_:
                given.update(self._apply_with(action.with_, validate(action.inputs, arguments)))
            params = self._apply_with(fn.with_, validate(fn.inputs, given))
            if self.telemetry is not None:
                with self.telemetry.span("aggregate.function", {"naftiko.function": fn.name}):
                    return await self._run(fn, params, fn if fn.outputs else action, stream)
            return await self._run(fn, params, fn if fn.outputs else action, stream)
        params = self._apply_with(action.with_, validate(action.inputs, arguments))
        return await self._run(action, params, action, stream)

    def _masked(self, result: Result) -> Result:
        """An upstream that echoes a credential back must not hand it to our callers."""
        secrets = self.secrets
        if not secrets:
            return result
        if result.stream is not None:
            chunks = masked_chunks(result.stream, secrets.bytes, secrets.longest)
            return replace(result, stream=chunks)
        if result.raw is not None:
            raw = secrets.bytes(result.raw)
            return result if raw is result.raw else replace(result, raw=raw)
        if result.body is None:
            return result
        return replace(result, body=secrets.value(result.body))

    async def _run(
        self, action: Action, params: dict[str, Any], shaper: Action, stream: bool = False
    ) -> Result:
        """Run `action`; `shaper` is the unit whose outputs shape the result."""
        if action.mode == "forward":
            raise TypeError(f"{action.name} is a forward: it runs through Engine.forward")
        if action.mode == "steps":
            return await self._steps(action, params, shaper)
        if action.mode == "call" and action.operation is not None:
            op = action.operation
            stream = stream and shaper.passthrough and op.fmt == "json"
            # `_send`, without its coroutine: every await layer is paid on each resumption.
            scope = self._scope(params)
            request = build_request(op, scope)
            response = await self._receive(op.namespace, request, scope, stream, op)
            return self._finish(op, response, shaper, params)
        return Result(200, outputs.mock(shaper.outputs, self._scope(params)))

    async def forward(
        self,
        namespace: str,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Result:
        """`forward` resources: the same method, path, query and body to the target namespace;
        only trusted headers pass, and the namespace's own credentials are applied."""
        if any(segment in (".", "..") for segment in path.split("/")):
            raise InputError("path", "a path value cannot contain '.' or '..' segments")
        client = self.plan.clients[namespace]
        scope = self._scope({})
        base = parse_template(client.base_uri).render(scope.get, encode=to_text)
        url = base.rstrip("/") + ("/" + quote(path.lstrip("/"), safe="/") if path else "")
        query = without_credential(query, client.authentication)
        if query:
            url += "?" + query
        fixed = {}
        for param in client.headers:
            value = param_value(param, scope)
            if value is not None:
                fixed[param.name] = header_value(param.name, to_text(value))
        owned = client.owned
        if owned:
            headers = {k: v for k, v in headers.items() if k.lower() not in owned}
        request = UpstreamRequest(method, url, headers={**headers, **fixed}, body=body or None)
        request.idempotent = method in IDEMPOTENT_METHODS
        try:
            response = await self._receive(namespace, request, scope)
        except NaftikoError as exc:
            raise redacted(exc, self.redact) from None
        if response.status >= 400:
            return self._masked(self._upstream_error(namespace, response))
        result = Result(
            response.status,
            raw=response.body,
            content_type=response.content_type,
            headers=answers.passed_back(response, self.redact),
        )
        return self._masked(result)

    async def _steps(self, action: Action, params: dict[str, Any], shaper: Action) -> Result:
        """Orchestration (SEMANTICS §7): the steps in order, then `mappings`. Unlike the
        reference engine, a step whose upstream answers with an error stops the unit: the
        caller gets that status and the failing step's name, never a later step's data
        dressed as success."""
        runtime = dict(params)  # what later steps read: the inputs, then step outputs
        context: dict[str, Any] = {}  # what `mappings` read: every step's output
        last: tuple[Operation, UpstreamResponse, dict[str, Any]] | None = None
        for step in action.steps:
            with self._observed(steps.kind(step), step.name, steps.namespace(step, action)):
                if isinstance(step, CallStepPlan):
                    call_params = self._apply_with(step.with_, runtime)
                    response = await self._send(step.operation, call_params)
                    if response.status >= 400:
                        return answers.step_failed(step.name, response)
                    last = (step.operation, response, call_params)
                    raw = steps.parsed(step.operation, response)
                    output = steps.step_output(step.operation.outputs, raw)
                    if output is not None:
                        context[step.name] = runtime[step.name] = output
                elif isinstance(step, LookupStepPlan):
                    found = steps.lookup(step, context, self._scope(runtime))
                    if found is not None:
                        # Lookup outputs feed `mappings` only, as in the reference engine.
                        context[step.name] = found
                else:
                    # §7.4: `context` = runtime parameters + every step output + its `with`.
                    bound = self._apply_with(step.with_, {**runtime, **context})
                    assigned, value = await step.script.run(bound)
                    if assigned:
                        context[step.name] = runtime[step.name] = value
        if action.mappings:
            mapped = steps.mappings(action.mappings, context)
            if mapped:
                return Result(200, mapped)
        if last is None:
            return Result(200, {})
        op, response, call_params = last
        return self._finish(op, response, shaper, call_params)

    def _observed(
        self, kind: str, name: str, namespace: str
    ) -> contextlib.AbstractContextManager[Any]:
        """A step's span (when tracing is on) and its duration in the metrics."""
        if self.telemetry is None and self.metrics is None:
            return _UNOBSERVED
        return self._step(kind, name, namespace)

    @contextlib.contextmanager
    def _step(self, kind: str, name: str, namespace: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            if self.telemetry is not None:
                with self.telemetry.step(kind, name):
                    yield
            else:
                yield
        finally:
            if self.metrics is not None:
                self.metrics.step(kind, namespace, time.perf_counter() - started)

    def _scope(self, params: Mapping[str, Any]) -> Scope:
        return Scope(params, self.plan.bindings)

    def _apply_with(
        self, with_: tuple[tuple[str, WithValue], ...], params: dict[str, Any]
    ) -> dict[str, Any]:
        if not with_:
            return params
        merged = dict(params)
        scope = None
        for key, value in with_:
            if isinstance(value, Ref):
                present, found = find(params, value.name)
                if present:
                    merged[key] = found
            elif isinstance(value, Const):
                const = value.value
                merged[key] = Configured(const) if isinstance(const, str) else const
            else:
                scope = scope or self._scope(params)
                merged[key] = value.render(scope.get, encode=to_text)
        return merged

    async def _send(
        self, op: Operation, params: dict[str, Any], stream: bool = False
    ) -> UpstreamResponse:
        scope = self._scope(params)
        return await self._receive(op.namespace, build_request(op, scope), scope, stream, op)

    async def _receive(
        self,
        namespace: str,
        request: UpstreamRequest,
        scope: Scope,
        stream: bool = False,
        op: Operation | None = None,
    ) -> UpstreamResponse:
        """The one place upstream answers enter (secrets they echo are masked on the way out,
        in `invoke`/`forward`, with everything else)."""
        started = time.perf_counter()
        status = None
        try:
            if self.telemetry is not None:
                response = await self._traced(self.telemetry, namespace, request, scope, stream, op)
            else:
                tracing.correlate(request.headers)
                response = await self._credentials.send(namespace, request, scope, stream=stream)
            status = response.status
            if "Location" in response.headers:
                base = self.plan.clients[namespace].base_uri
                base = parse_template(base).render(scope.get, encode=to_text)
                answers.relocate(response, request.url, base)
            return response
        except UpstreamError as exc:
            # Said once, here, for the operator: which upstream, which operation, why (the
            # trace id is added by the log handler).
            what = f" operation {op.name}" if op is not None else ""
            at = f" at {exc.where}" if exc.where else ""
            upstream_log.warning(
                "upstream %s%s failed: %s%s", namespace, what, self.redact(str(exc)), at
            )
            raise
        finally:
            if self.metrics is not None:
                elapsed = time.perf_counter() - started
                server = op.server if op is not None else None
                if server is None:
                    server = server_of(request.url)
                self.metrics.upstream(request.method, server, status, elapsed)

    async def _traced(
        self,
        telemetry: Telemetry,
        namespace: str,
        request: UpstreamRequest,
        scope: Scope,
        stream: bool,
        op: Operation | None,
    ) -> UpstreamResponse:
        name = template = None
        if op is not None:
            # The path template, as `url.template` means it (the base is `server.address`).
            base = self.plan.clients[namespace].base_uri.rstrip("/")
            name, template = op.name, op.url.source.removeprefix(base)
        with telemetry.client(namespace, name, template, request) as answered:
            tracing.correlate(request.headers, context=False)
            response = await self._credentials.send(namespace, request, scope, stream=stream)
            answered(response.status)
            return response

    def _finish(
        self,
        op: Operation,
        response: UpstreamResponse,
        shaper: Action,
        params: dict[str, Any],
    ) -> Result:
        status = response.status
        if status >= 400:
            return self._upstream_error(op.namespace, response)
        headers = answers.passed_back(response, self.redact)
        content_type = response.content_type
        if response.stream is not None:
            return Result(
                status, stream=response.stream, content_type=content_type, headers=headers
            )
        if not response.body:
            return Result(status, None, headers=headers)
        if op.fmt == "json" and _is_json(content_type) and shaper.passthrough:
            # Nothing to reshape: the upstream's JSON bytes (and media type) go out untouched.
            return Result(status, raw=response.body, content_type=content_type, headers=headers)
        root = parse_body(response.body, op.fmt, output_schema=op.output_schema)
        mapped = outputs.map_outputs(shaper.outputs, root, self._scope(params))
        return Result(status, mapped, headers=headers)

    def _upstream_error(self, namespace: str, response: UpstreamResponse) -> Result:
        authenticated = self.plan.clients[namespace].authentication is not None
        headers = answers.passed_back(response, self.redact)
        return answers.upstream_error(namespace, response, authenticated, headers)


def _adapter_auths(plan: Plan) -> list[Authentication | None]:
    return [getattr(a, "authentication", None) for a in plan.capability.body.exposes]


__all__ = ["Engine"]

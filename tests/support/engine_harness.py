"""Engine-level in-process runs: a spec loaded, planned and checked as `naftiko run` does, its
Engine started over a recording transport (tests/support/transport.py) or real loopback
upstreams, and its adapters' actions called directly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from naftiko.engine.engine import Engine
from naftiko.engine.exposed import McpPlan, RestPlan, mcp_plan, rest_plan
from naftiko.engine.plan import Action, Plan
from naftiko.engine.planner import build_plan
from naftiko.engine.result import Result
from naftiko.engine.startup import check_startup
from naftiko.engine.transport import Transport
from naftiko.model import ExposesMcp, ExposesRest
from naftiko.spec.bindings import resolve
from naftiko.spec.loader import load
from tests.support.servers import Recorder
from tests.support.transport import scripted
from tests.support.yamlio import dump_yaml


def plan_for(spec: Path, env: Mapping[str, str] | None = None) -> Plan:
    """What `naftiko run` builds before opening a port (raising what it would refuse)."""
    capability = load(spec)
    plan = build_plan(capability, resolve(capability, dict(env or {})))
    check_startup(plan)
    return plan


def write_spec(folder: Path, document: dict[str, Any], name: str = "capability.yaml") -> Path:
    path = folder / name
    path.write_text(dump_yaml(document, sort_keys=False))
    return path


@dataclass
class Gateway:
    plan: Plan
    engine: Engine
    rest: list[RestPlan] = field(default_factory=list)
    mcp: list[McpPlan] = field(default_factory=list)

    def tool(self, name: str) -> Action:
        return next(p.tools[name] for p in self.mcp if name in p.tools)

    def operation(self, method: str, path: str) -> Action:
        return next(
            r.action for p in self.rest for r in p.routes if (r.method, r.path) == (method, path)
        )

    async def call(self, action: Action, arguments: Mapping[str, Any]) -> Result:
        return await self.engine.invoke(action, arguments)


def tool_spec(
    folder: Path, base: str, op: dict[str, Any], tool: dict[str, Any], **consumes: Any
) -> Path:
    """A capability with one MCP tool `t` calling the one operation `op` of upstream `up`
    (on `base`, path `/x`): `tool` and `consumes` add to the tool and the consumed API."""
    document = {
        "naftiko": "1.0.0-alpha2",
        "capability": {
            "exposes": [
                {
                    "type": "mcp",
                    "port": 0,
                    "namespace": "t",
                    "tools": [{"name": "t", "description": "d", "call": "up.op", **tool}],
                }
            ],
            "consumes": [
                {
                    "type": "http",
                    "namespace": "up",
                    "baseUri": base,
                    "resources": [{"name": "r", "path": "/x", "operations": [op]}],
                    **consumes,
                }
            ],
        },
    }
    return write_spec(folder, document)


@asynccontextmanager
async def gateway(
    spec: Path, env: Mapping[str, str] | None = None, transport: Transport | None = None
) -> AsyncIterator[Gateway]:
    plan = plan_for(spec, env)
    engine = Engine(plan, transport=transport)
    found = Gateway(plan, engine)
    for i, exposed in enumerate(plan.capability.body.exposes):
        if isinstance(exposed, ExposesRest):
            found.rest.append(rest_plan(plan, i, exposed))
        elif isinstance(exposed, ExposesMcp):
            found.mcp.append(mcp_plan(plan, i, exposed))
    await engine.start()
    try:
        yield found
    finally:
        await engine.close()


Answer = tuple[int, bytes, str]  # status, body, content type


def scripted_app(recorder: Recorder, answers: Mapping[str, Answer]) -> web.Application:
    """Records every request; answers by path (else `{}` as JSON)."""

    answer = scripted(answers)

    async def handle(request: web.Request) -> web.Response:
        reply = answer(await recorder.record(request))
        return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app

"""The control port's management endpoints, each there only when its flag is on (§8.2):
`POST /config/reload`, `POST /config/validate` (a candidate spec in the body, answered with
its located problems), `GET/PUT /logs` (the level) and `GET /logs/stream` (server-sent
events, a bounded number of subscribers). The control adapter's authentication is in front."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

import naftiko.safejson as safejson
from naftiko.adapters.common import problem
from naftiko.errors import InputError, Problem, SpecError
from naftiko.model.exposes import ControlManagement
from naftiko.spec.loader import load

Handler = Callable[[Request], Awaitable[Response]]
LEVELS = ("debug", "info", "warning", "error")
DEFAULT_SUBSCRIBERS = 5
QUEUED = 1000  # lines a slow subscriber may fall behind by before lines are dropped for it


class Management:
    def __init__(
        self, flags: ControlManagement, reload: Callable[[], Awaitable[tuple[bool, str]]]
    ) -> None:
        self._flags = flags
        self._reload = reload
        logs = flags.logs
        options: dict[str, Any] = logs if isinstance(logs, dict) else {}
        self._level_control = bool(logs) and options.get("level-control", True) is not False
        self._stream = logs is True or bool(options.get("stream", False))
        self._subscribers = LogFanout(int(options.get("max-subscribers", DEFAULT_SUBSCRIBERS)))

    def routes(self) -> dict[str, dict[str, Handler]]:
        routes: dict[str, dict[str, Handler]] = {}
        if self._flags.reload:
            routes["/config/reload"] = {"POST": self._reload_now}
        if self._flags.validate_:
            routes["/config/validate"] = {"POST": self._validate}
        if self._level_control:
            routes["/logs"] = {"GET": self._get_level, "PUT": self._put_level}
        if self._stream:
            routes["/logs/stream"] = {"GET": self._stream_logs}
        return routes

    async def _reload_now(self, _: Request) -> Response:
        ok, detail = await self._reload()
        if not ok:
            refused = problem(422, detail)
            refused.headers["X-Naftiko-Reload"] = "refused; the running version keeps serving"
            return refused
        return JSONResponse({"status": "reloaded", "detail": detail})

    async def _validate(self, request: Request) -> Response:
        text = (await request.body()).decode("utf-8", errors="replace")
        errors, warnings = await asyncio.to_thread(_check, text)
        return JSONResponse(
            {
                "valid": not errors,
                "errors": [_located(p) for p in errors],
                "warnings": [_located(p) for p in warnings],
            }
        )

    async def _get_level(self, _: Request) -> Response:
        level = logging.getLevelName(logging.getLogger().level).lower()
        return JSONResponse({"level": level})

    async def _put_level(self, request: Request) -> Response:
        try:
            body = safejson.loads(await request.body())
            level = body["level"]
        except (ValueError, TypeError, KeyError, InputError):
            return problem(400, "the body must be a JSON object with a `level`")
        if not isinstance(level, str) or level.lower() not in LEVELS:
            return problem(400, f"level must be one of {', '.join(LEVELS)}")
        logging.getLogger().setLevel(level.upper())
        return JSONResponse({"level": level.lower()})

    async def _stream_logs(self, _: Request) -> Response:
        queue = self._subscribers.subscribe()
        if queue is None:
            busy = problem(503, f"already {self._subscribers.limit} log stream subscriber(s)")
            busy.headers["Retry-After"] = "5"
            return busy
        return StreamingResponse(
            self._subscribers.events(queue),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )


def _check(text: str) -> tuple[list[Problem], list[Problem]]:
    """A candidate spec's problems, located in it as `candidate.yaml`."""
    with tempfile.TemporaryDirectory(prefix="naftiko-validate-") as folder:
        candidate = Path(folder) / "candidate.yaml"
        candidate.write_text(text)
        try:
            capability = load(candidate)
        except SpecError as exc:
            return exc.problems, []
    return [], capability.warnings


def _located(p: Problem) -> dict[str, Any]:
    loc = p.location
    return {"line": loc.line, "column": loc.column, "path": loc.path, "message": p.message}


class LogFanout(logging.Handler):
    """Log records to each stream subscriber's bounded queue; installed on the root logger
    while anyone listens."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.queues: set[asyncio.Queue[str]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def subscribe(self) -> asyncio.Queue[str] | None:
        if len(self.queues) >= self.limit:
            return None
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUED)
        if not self.queues:
            self.loop = asyncio.get_running_loop()
            logging.getLogger().addHandler(self)
        self.queues.add(queue)
        return queue

    async def events(self, queue: asyncio.Queue[str]) -> AsyncIterator[bytes]:
        try:
            yield b": subscribed\n\n"
            while True:
                line = await queue.get()
                yield b"".join(f"data: {part}\n".encode() for part in line.splitlines()) + b"\n"
        finally:
            self.queues.discard(queue)
            if not self.queues:
                logging.getLogger().removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            return
        loop = self.loop
        if loop is None:
            return
        for queue in list(self.queues):
            loop.call_soon_threadsafe(_offer, queue, line)


def _offer(queue: asyncio.Queue[str], line: str) -> None:
    if not queue.full():  # a subscriber too slow to keep up loses lines, not the gateway
        queue.put_nowait(line)

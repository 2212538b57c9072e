"""Reload without dropping a request: each listener serves through a `Swap`, whose app is
replaced at once for new requests while requests already inside the old app finish there;
the old generation's engines close only once its in-flight requests are done (bounded by the
drain time). A new version that does not build is refused and the old one keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("naftiko")

Scope = dict[str, Any]
Key = tuple[str, int]


class Swap:
    """The ASGI app a listener serves: an indirection to the current generation's app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Any, send: Any) -> Awaitable[None]:
        # The current app's own coroutine, not one wrapped around it: no await layer for
        # every resumption of every request. Read once, so a request begun on one app stays
        # on it even if a reload swaps meanwhile.
        app: Callable[..., Awaitable[None]] = self.app
        return app(scope, receive, send)


@dataclass
class Generation:
    """One build of every spec, its engines started and its adapters' lifespans entered."""

    runtime: Any
    stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    async def open(self) -> None:
        try:
            telemetry = self.runtime.telemetry
            if telemetry is not None:
                # Last out: the spans of this build's drained requests are exported first.
                self.stack.callback(telemetry.shutdown)
            for engine in self.runtime.engines:
                await engine.start()
                self.stack.push_async_callback(engine.close)
            for adapter in [s.adapter for s in self.runtime.served] + self.runtime.stdio:
                await self.stack.enter_async_context(adapter.lifespan())
        except BaseException:
            await self.stack.aclose()
            raise

    def in_flight(self) -> int:
        drain = self.runtime.drain
        return len(drain.reading | drain.running)

    async def retire(self, seconds: float) -> None:
        """Wait (bounded) for the requests still inside this generation, then close it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.in_flight() and loop.time() < deadline:
            # Polled, not awaited: the drain tracks tasks, not a condition to wait on, and
            # a retired generation only ever counts down.
            await asyncio.sleep(0.05)
        cut = self.runtime.drain.finish()
        if cut:
            log.warning("reload: %d request(s) on the old version cut after %g s", cut, seconds)
        await self.stack.aclose()


def refused(exc: Exception) -> str:
    """Logs why a new version was refused, one located problem a line."""
    detail = str(exc)
    for line in detail.splitlines():
        log.error("reload refused, the running version keeps serving: %s", line)
    return detail


def listener_key(served: Any) -> Key:
    """Listeners are matched across versions by address and port; an ephemeral port (0) by
    its adapter instead, so it keeps the port it was given."""
    if served.declared_port:
        return (served.address, served.declared_port)
    return (f"{served.kind}:{served.namespace}", 0)


@dataclass
class Listener:
    swap: Swap
    server: Any  # uvicorn.Server
    served: Any
    key: Key


@dataclass
class Reloader:
    """Builds a candidate, then moves every listener to it; ports are opened and closed as
    the new version says."""

    rebuild: Callable[[Any], Any]  # the current runtime → a new runtime (raises when invalid)
    start_listener: Callable[[Any, Swap], Awaitable[Any]]  # served, swap → uvicorn.Server
    stop_listener: Callable[[Any], Awaitable[None]]
    drain_seconds: float
    current: Generation
    listeners: dict[Key, Listener] = field(default_factory=dict)
    retiring: set[asyncio.Task[None]] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    reloads: int = 0

    async def reload(self) -> tuple[bool, str]:
        """(True, summary) once the new version serves; (False, errors) when it was refused."""
        async with self.lock:
            return await self._reload()

    async def _reload(self) -> tuple[bool, str]:
        old = self.current
        try:
            # In a thread: a large spec takes seconds to build (10,000 operations: ~8 s), and
            # the running version keeps answering meanwhile instead of stalling.
            runtime = await asyncio.to_thread(self.rebuild, old.runtime)
        except Exception as exc:
            return False, refused(exc)
        new = Generation(runtime)
        try:
            await new.open()
        except Exception as exc:
            return False, refused(exc)
        wanted = {listener_key(s): s for s in runtime.served}
        opened: list[Key] = []
        try:
            for key, served in wanted.items():
                if key not in self.listeners:
                    swap = Swap(served.adapter.app)
                    server = await self.start_listener(served, swap)
                    self.listeners[key] = Listener(swap, server, served, key)
                    opened.append(key)
        except Exception as exc:
            for key in opened:
                await self.stop_listener(self.listeners.pop(key).server)
            await new.stack.aclose()
            return False, refused(exc)
        for key, listener in list(self.listeners.items()):
            served = wanted.get(key)
            if served is None:
                continue
            served.port = listener.served.port
            served.state = "started"
            listener.served = served
            listener.swap.app = served.adapter.app  # new requests go to the new version now
        closed = [k for k in self.listeners if k not in wanted]
        self.current = new
        old.runtime.served = [s for s in old.runtime.served if listener_key(s) in wanted]
        stopping = []
        for key in closed:
            listener = self.listeners.pop(key)
            log.info("reload: closing %s", listener.served.url)
            stopping.append(self.stop_listener(listener.server))
        # In the background: the request that asked for this reload may be on a port it closes.
        task = asyncio.create_task(self._retire(old, stopping))
        self.retiring.add(task)
        task.add_done_callback(self.retiring.discard)
        self.reloads += 1
        summary = (
            f"reloaded: {len(wanted)} adapter(s), {len(opened)} port(s) opened, "
            f"{len(closed)} closed"
        )
        log.info("%s", summary)
        return True, summary

    async def _retire(self, old: Generation, stopping: list[Awaitable[None]]) -> None:
        await asyncio.gather(*stopping, return_exceptions=True)
        await old.retire(self.drain_seconds)

    async def close(self) -> None:
        """At shutdown: wait for the generations still retiring, then close the current."""
        if self.retiring:
            await asyncio.gather(*self.retiring, return_exceptions=True)
        await self.current.stack.aclose()


def watch(folders: list[Path], stop: threading.Event, notify: Callable[[], None]) -> None:
    """`--watch`: calls `notify` (which raises SIGHUP) after files in the specs' folders
    change; a burst of writes (an editor saving, a ConfigMap swap) is one reload."""
    import watchfiles

    for changes in watchfiles.watch(
        *folders, watch_filter=_worth_a_reload, stop_event=stop, raise_interrupt=False
    ):
        log.info("reload: %d file change(s) seen", len(changes))
        notify()


def _worth_a_reload(_: Any, path: str) -> bool:
    name = Path(path).name
    return not (name.startswith(".") or name.endswith(("~", ".swp", ".tmp")))

"""The seed's REST adapter, edge and all, as a plain ASGI app for other servers (bench/servers.py).

    NAFTIKO_SPEC=seed.yaml uvicorn asgi_seed:app   |   granian --interface asgi asgi_seed:app

The lifespan builds the runtime exactly as `naftiko run` does (`runtime.build`: HttpEdge,
Bounds, OriginGuard around the RestAdapter) and opens the upstream pools; what differs is only
the server, and what `serving.py` adds to uvicorn (header timeout and size, the connection
limit), which another server would have to provide its own way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from naftiko.runtime import build
from naftiko.settings import Settings

_state: dict[str, Any] = {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                runtime = build([Path(os.environ["NAFTIKO_SPEC"])], Settings(), os.environ)
                for engine in runtime.engines:
                    await engine.start()
                _state["runtime"] = runtime
                _state["app"] = next(s for s in runtime.served if s.kind == "rest").adapter.app
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for engine in _state["runtime"].engines:
                    await engine.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    await _state["app"](scope, receive, send)

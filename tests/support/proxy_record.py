"""A proxy.py plugin (loaded inside the proxy's own process) that writes a line per request it
forwards — `CONNECT host:port` for a tunnel — to the file named by `NAFTIKO_PROXY_RECORD`,
before it connects: a test reads what went through the proxy as soon as the call is answered.
A header holding the value of `NAFTIKO_PROXY_WATCH` (an upstream's credential, which the proxy
must never see) is written as `leaked: NAME` after the line."""

from __future__ import annotations

import os

from proxy.http.parser import HttpParser
from proxy.http.proxy import HttpProxyBasePlugin


class RecordRequests(HttpProxyBasePlugin):
    def before_upstream_connection(self, request: HttpParser) -> HttpParser | None:
        method = (request.method or b"").decode()
        target = f"{(request.host or b'').decode()}:{request.port}"
        if method != "CONNECT":
            target += (request.path or b"").decode()
        watch = os.environ.get("NAFTIKO_PROXY_WATCH", "").encode()
        leaked = [
            name.decode()
            for name, value in (request.headers or {}).values()
            if watch and watch in value
        ]
        with open(os.environ["NAFTIKO_PROXY_RECORD"], "a", encoding="utf-8") as record:
            record.write(f"{method} {target}\n")
            record.writelines(f"leaked: {name}\n" for name in leaked)
        return request

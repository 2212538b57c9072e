"""An in-memory `Transport` for the engine (as httpx's `MockTransport`): every request the
engine would put on the wire is recorded, exactly as a loopback server's `Recorder` records
it (credentials, trace headers, encoded path and query, body), and answered by a function.

Everything above the seam runs for real: request building, credentials (static, OAuth2
token fetches, the digest retry, SigV4), status and format handling, outputs, steps and
redaction. Sockets, pooling, timeouts and the upstream body limit are the real transport's,
tested against real loopback servers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlencode

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from naftiko.engine.request import UpstreamRequest
from naftiko.engine.transport import UpstreamResponse, is_json
from naftiko.errors import UpstreamUnavailable
from tests.support.servers import Recorded, Recorder

AUTHORITY = "\0authority"  # the namespace authorization-server calls are recorded under


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    # Sent in these pieces when the engine asks for a stream (a pass-through JSON body).
    chunks: tuple[bytes, ...] | None = None

    @classmethod
    def json(cls, data: Any, status: int = 200, **headers: str) -> Reply:
        return cls(status, json.dumps(data).encode(), headers=headers)


Answer = Callable[[Recorded], Reply]


def _ok(seen: Recorded) -> Reply:
    return Reply()


@dataclass
class RecordingTransport:
    answer: Answer = _ok
    recorder: Recorder = field(default_factory=Recorder)
    # Namespaces whose upstream cannot be reached (the engine gets UpstreamUnavailable).
    down: frozenset[str] = frozenset()
    open: bool = False

    @property
    def requests(self) -> list[Recorded]:
        return self.recorder.requests

    async def start(self) -> None:
        self.open = True

    async def close(self) -> None:
        self.open = False

    async def send(
        self, namespace: str, request: UpstreamRequest, *, stream: bool = False
    ) -> UpstreamResponse:
        assert self.open, "the engine sent before start() or after close()"
        if namespace in self.down:
            raise UpstreamUnavailable(f"upstream {namespace!r} is unreachable (Connection refused)")
        headers = dict(request.headers)
        seen = _record(namespace, request.method, request.full_url(), headers, request.body)
        self.requests.append(seen)
        reply = self.answer(seen)
        streamed = reply.chunks is not None and reply.status < 400 and is_json(reply.content_type)
        if stream and streamed and reply.chunks is not None:
            return UpstreamResponse(reply.status, _headers(reply), b"", _stream(reply.chunks))
        return UpstreamResponse(reply.status, _headers(reply), reply.body)

    async def call_authority(
        self, url: str, form: dict[str, str] | None = None, basic: tuple[str, str] | None = None
    ) -> UpstreamResponse:
        headers = {"Accept": "application/json"}
        body = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(form).encode()
        if basic is not None:
            pair = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        method = "GET" if form is None else "POST"
        seen = _record(AUTHORITY, method, url, headers, body)
        self.requests.append(seen)
        reply = self.answer(seen)
        return UpstreamResponse(reply.status, _headers(reply), reply.body)


def _record(
    namespace: str, method: str, url: str, headers: dict[str, str], body: bytes | None
) -> Recorded:
    parsed = URL(url, encoded=True)
    return Recorded(
        method,
        parsed.path,
        parsed.raw_path,
        parsed.raw_query_string,
        headers,
        body or b"",
        namespace=namespace,
    )


def _headers(reply: Reply) -> CIMultiDictProxy[str]:
    headers = CIMultiDict(reply.headers)
    headers.setdefault("Content-Type", reply.content_type)
    return CIMultiDictProxy(headers)


async def _stream(chunks: tuple[bytes, ...]) -> AsyncGenerator[bytes, None]:
    for chunk in chunks:
        yield chunk


def scripted(answers: Mapping[str, tuple[int, bytes, str]]) -> Answer:
    """Answers by path (status, body, content type), else `{}` as JSON."""

    def answer(seen: Recorded) -> Reply:
        status, body, content_type = answers.get(seen.path, (200, b"{}", "application/json"))
        return Reply(status, body, content_type)

    return answer


class Upstream(NamedTuple):
    """A consumed API in memory: the base URI specs point at, what it received, the transport."""

    url: str
    recorder: Recorder
    transport: RecordingTransport


def recording_upstream(answer: Answer = _ok) -> Upstream:
    transport = RecordingTransport(answer)
    return Upstream("http://upstream.test", transport.recorder, transport)

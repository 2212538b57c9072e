"""JSON-RPC 2.0 for MCP: the error codes, `RpcError`, and the envelope checks every message
passes before it is dispatched (HTTP and stdio alike).

An `id` that cannot be used (null, 1.5, true, {}) or a malformed envelope gets -32600
Invalid Request with one line naming what is wrong (never a silently dropped call or a
validation dump), and batches are admitted only where the negotiated protocol has them
(2025-03-26 alone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import naftiko.safejson as safejson

# JSON-RPC 2.0's codes, and MCP's (2026-07-28, basic/index: header and version refusals).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
HEADER_MISMATCH = -32020
UNSUPPORTED_PROTOCOL_VERSION = -32022

# The only revision whose transports carry JSON-RPC batches: 2025-06-18 removed them again.
BATCH_VERSION = "2025-03-26"

# A batch is one caller's request: its members are served concurrently, but never more than
# this many at once. Unbounded, one POST of 10,000 `tools/call` opened 10,000 upstream
# connections at once (and left them in the pool): a batch's length now costs time, not
# sockets. Sixteen is past what a client gains from batching and far below any fd limit.
BATCH_CONCURRENCY = 16

RequestId = str | int
Member = TypeVar("Member")
Answer = TypeVar("Answer")

_MISSING = object()


class RpcError(Exception):
    """A JSON-RPC error a method answers with (`data` only when given)."""

    def __init__(self, code: int, message: str, data: Any = _MISSING) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not _MISSING:
            error["data"] = self.data
        return error


def error_message(request_id: RequestId | None, error: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def encode(message: Any) -> bytes:
    """A message as compact JSON bytes (what both transports write); a caller's exact decimal
    that reaches a result is written back as the number it was read as."""
    text = safejson.dumps(message, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate a caller escaped into a method name or an id, echoed back: no
        # UTF-8 holds it, so it goes back escaped as it came (an answer, not a crash).
        return safejson.dumps(message, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Refusal:
    """Why a message is refused, and the id to answer with (null when it has no usable id)."""

    message: str
    id: RequestId | None = None
    code: int = INVALID_REQUEST

    def error(self) -> dict[str, Any]:
        return error_message(self.id, {"code": self.code, "message": self.message})

    def json(self) -> bytes:
        return encode(self.error())


PARSE_FAILURE = Refusal("Parse error: not JSON", code=PARSE_ERROR)


def is_request_id(value: object) -> bool:
    """MCP ids are strings or integers; JSON-RPC's null and fractions are not allowed."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def check(message: object) -> Refusal | None:
    """None for a well-formed request, notification or response; else the refusal."""
    if not isinstance(message, dict):
        return Refusal("Invalid Request: a message must be a JSON object")
    raw_id = message.get("id", _MISSING)
    answer_id = raw_id if is_request_id(raw_id) else None
    if message.get("jsonrpc") != "2.0":
        return Refusal('Invalid Request: "jsonrpc" must be "2.0"', answer_id)
    if "method" in message:
        problem = _request_problem(message, raw_id)
    else:
        problem = _response_problem(message, raw_id)
    return None if problem is None else Refusal(f"Invalid Request: {problem}", answer_id)


def _request_problem(message: dict[str, Any], raw_id: object) -> str | None:
    if not isinstance(message["method"], str):
        return '"method" must be a string'
    if raw_id is not _MISSING and not is_request_id(raw_id):
        return '"id" must be a string or an integer'
    if "params" in message and not isinstance(message["params"], dict):
        return '"params" must be an object'
    return None


def _response_problem(message: dict[str, Any], raw_id: object) -> str | None:
    if raw_id is _MISSING:
        return 'a message needs a "method" (request, notification) or an "id" (response)'
    if ("result" in message) == ("error" in message):
        return 'a response has exactly one of "result" and "error"'
    if "result" in message:
        if not is_request_id(raw_id):
            return '"id" must be a string or an integer'
        if not isinstance(message["result"], dict):
            return '"result" must be an object'
        return None
    error = message["error"]
    if raw_id is not None and not is_request_id(raw_id):
        return '"id" must be a string, an integer or null'
    code = error.get("code") if isinstance(error, dict) else None
    if not (
        is_request_id(code) and isinstance(code, int) and isinstance(error.get("message"), str)
    ):
        return '"error" must be an object with an integer "code" and a string "message"'
    return None


def batch_refusal(batch: list[Any], version: str | None) -> Refusal | None:
    """None when `batch` may be served under `version`; an empty batch is never valid."""
    if not batch:
        return Refusal("Invalid Request: an empty batch")
    if version != BATCH_VERSION:
        return Refusal(
            f"Invalid Request: batches are not part of protocol version {version}"
            if version
            else "Invalid Request: batches need protocol version 2025-03-26"
        )
    return None


def in_batch_refusal(message: object) -> Refusal | None:
    """`check`, and the lifecycle rule that `initialize` is never part of a batch."""
    refusal = check(message)
    if refusal is None and isinstance(message, dict) and message.get("method") == "initialize":
        return Refusal("Invalid Request: initialize cannot be part of a batch", message.get("id"))
    return refusal


def is_request(message: dict[str, Any]) -> bool:
    """A checked message that is owed an answer."""
    return "method" in message and "id" in message


async def serve_batch(
    members: Sequence[Member], serve: Callable[[Member], Awaitable[Answer]]
) -> list[Answer]:
    """`serve` applied to every member, at most BATCH_CONCURRENCY at once; answers in order."""
    answers: dict[int, Answer] = {}
    queue = iter(range(len(members)))

    async def worker() -> None:
        for i in queue:  # one iterator shared by the workers: each index is taken once
            answers[i] = await serve(members[i])

    await asyncio.gather(*(worker() for _ in range(min(BATCH_CONCURRENCY, len(members)))))
    return [answers[i] for i in range(len(members))]

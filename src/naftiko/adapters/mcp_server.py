"""The MCP server core: one JSON-RPC request (plain dicts) → its result or `RpcError`, the same
for HTTP and stdio, in both protocol eras.

The handshake eras (2024-11-05 … 2025-11-25) share one result schema; the 2026-07-28 era has
no `initialize`, `ping` or `logging`, serves `server/discover`, and stamps every result with
`resultType` and the server's identity (plus a cache hint on lists and reads). Parameters are
checked against each method's schema before its handler runs (-32602 "Invalid request
parameters", as the MCP SDK answers); methods this server does not serve are -32601 naming
the method. Tool arguments are not validated against the input schema here: the engine does
that (an `isError` result naming the field), as it does for REST.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from naftiko.adapters.common import log
from naftiko.adapters.mcp_envelope import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    UNSUPPORTED_PROTOCOL_VERSION,
    RpcError,
    error_message,
)

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSIONS = ("2026-07-28",)
LATEST_HANDSHAKE = HANDSHAKE_VERSIONS[-1]
# What a streamable-HTTP server assumes of a request without MCP-Protocol-Version.
DEFAULT_VERSION = "2025-03-26"

META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_SERVER = "io.modelcontextprotocol/serverInfo"

# Lists and reads carry a cache hint in the 2026-07-28 era: never reuse across callers.
_CACHEABLE = frozenset(
    {
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "server/discover",
    }
)
# JSON-RPC error code → HTTP status in the 2026-07-28 era; any other code is 200.
ERROR_STATUS: Mapping[int, int] = {
    -32700: 400,
    -32600: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    -32021: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}

Params = dict[str, Any]
# A method's parameter check: what is wrong with them, or None.
Check = Callable[[Params], str | None]
Handler = Callable[[Params], Awaitable[dict[str, Any]]]


def method_not_found(method: str) -> RpcError:
    return RpcError(METHOD_NOT_FOUND, "Method not found", method)


def unsupported_version(requested: str) -> RpcError:
    data = {"supported": list(MODERN_VERSIONS), "requested": requested}
    return RpcError(UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version", data)


def has_modern_envelope(params: Any) -> bool:
    """A request stamped with the 2026-07-28 `_meta` envelope (its version key is enough)."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    return isinstance(meta, dict) and META_VERSION in meta


def envelope_refusal(params: Any) -> RpcError | None:
    """The 2026-07-28 envelope rungs after the headers: `_meta` carries the version and the
    client's capabilities, and the version is one this server speaks."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        return RpcError(
            INVALID_PARAMS,
            "params._meta must be an object carrying the required "
            f"{META_VERSION!r} and {META_CAPABILITIES!r} envelope keys",
        )
    missing = [key for key in (META_VERSION, META_CAPABILITIES) if key not in meta]
    if missing:
        message = f"params._meta is missing the required envelope key(s): {', '.join(missing)}"
        return RpcError(INVALID_PARAMS, message)
    return None


def version_refusal(params: Params) -> RpcError | None:
    version = params["_meta"][META_VERSION]
    if not isinstance(version, str):
        return RpcError(INVALID_PARAMS, "the protocol-version envelope value must be a string")
    return None if version in MODERN_VERSIONS else unsupported_version(version)


@dataclass(frozen=True)
class Identity:
    """Who the server is: `serverInfo`, its capabilities and instructions."""

    name: str
    version: str
    title: str | None
    instructions: str | None
    resources: bool
    prompts: bool
    completions: bool = False  # prompt arguments or resource-template variables to complete

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"name": self.name}
        if self.title is not None:
            info["title"] = self.title
        info["version"] = self.version
        return info

    def capabilities(self, logging: bool = False) -> dict[str, Any]:
        """`logging` only in the handshake eras: 2026-07-28 has no `logging/setLevel`."""
        capabilities: dict[str, Any] = {}
        if self.completions:
            capabilities["completions"] = {}
        if logging:
            # Accepted, and nothing is filtered by it: the gateway sends no log notifications.
            capabilities["logging"] = {}
        if self.prompts:
            capabilities["prompts"] = {"listChanged": False}
        if self.resources:
            capabilities["resources"] = {"subscribe": False, "listChanged": False}
        capabilities["tools"] = {"listChanged": False}
        return capabilities


class McpServer:
    """The methods of one MCP adapter, dispatched by name."""

    def __init__(self, identity: Identity, handlers: Mapping[str, Handler]) -> None:
        self.identity = identity
        # Built once; answers are serialised as they leave and never changed after.
        self._info = identity.info()
        self._stamp = {META_SERVER: self._info}
        self._handlers = dict(handlers)
        self._checks: dict[str, Check] = {
            name: _CHECKS.get(name, _list_params) for name in self._handlers
        }

    async def answer(self, message: dict[str, Any], version: str) -> dict[str, Any]:
        """The answer to a checked request at `version`: its result, its JSON-RPC error, or
        -32603 without details for an unexpected fault (logged here)."""
        method, params = message["method"], message.get("params")
        try:
            if version in MODERN_VERSIONS:
                result = await self.modern(method, params)
            else:
                result = await self.handshake(method, params, version)
        except RpcError as exc:
            return error_message(message["id"], exc.body())
        except Exception:
            log.exception("unexpected error in MCP method %s", method)
            return error_message(
                message["id"], {"code": INTERNAL_ERROR, "message": "internal error"}
            )
        return {"jsonrpc": "2.0", "id": message["id"], "result": result}

    async def handshake(self, method: str, params: Params | None, version: str) -> dict[str, Any]:
        """A request of a handshake era, at `version` (the header's, or the negotiated one)."""
        if method == "initialize":
            return self._initialize(params)
        if method == "ping":
            _checked(method, params, _ping_params)
            return {}
        if method == "logging/setLevel":
            _checked(method, params, _level_params)
            return {}
        return await self._dispatch(method, params)

    async def modern(self, method: str, params: Params | None) -> dict[str, Any]:
        """A 2026-07-28 request whose envelope has been checked."""
        result: dict[str, Any]
        if method == "server/discover":
            result = {
                "supportedVersions": list(MODERN_VERSIONS),
                "capabilities": self.identity.capabilities(),
            }
            if self.identity.instructions is not None:
                result["instructions"] = self.identity.instructions
        elif method in ("initialize", "ping") or method.startswith("logging/"):
            raise method_not_found(method)
        elif method == "subscriptions/listen":
            # Not served (nothing here ever changes), but its parameters are checked first.
            _checked(method, params, _listen_params)
            raise method_not_found(method)
        else:
            result = await self._dispatch(method, params)
        if method in _CACHEABLE:
            result = {**result, "ttlMs": 0, "cacheScope": "private"}
        meta = result.get("_meta")
        stamped = {**meta, META_SERVER: self._info} if isinstance(meta, dict) else self._stamp
        return {**result, "resultType": "complete", "_meta": stamped}

    def serves(self, method: str) -> bool:
        return method in self._handlers or method in ("initialize", "ping", "logging/setLevel")

    async def _dispatch(self, method: str, params: Params | None) -> dict[str, Any]:
        handler = self._handlers.get(method)
        if handler is None:
            raise method_not_found(method)
        return await handler(_checked(method, params, self._checks[method]))

    def _initialize(self, params: Params | None) -> dict[str, Any]:
        """The handshake: the client's version when this server speaks it, else the latest."""
        checked = _checked("initialize", params, _initialize_params)
        requested = checked["protocolVersion"]
        result: dict[str, Any] = {
            "protocolVersion": requested if requested in HANDSHAKE_VERSIONS else LATEST_HANDSHAKE,
            "capabilities": self.identity.capabilities(logging=True),
            "serverInfo": self.identity.info(),
        }
        if self.identity.instructions is not None:
            result["instructions"] = self.identity.instructions
        return result


def _checked(method: str, params: Params | None, check: Check) -> Params:
    """`params` (an absent one as `{}`) when they fit the method's schema, else -32602
    naming the first field that does not."""
    given = {} if params is None else params
    problem = "'_meta' must be an object" if not _optional(given, "_meta", dict) else check(given)
    if problem is not None:
        raise bad_params(problem)
    return given


def bad_params(problem: str) -> RpcError:
    """The SDK's words for parameters that fail the method's schema, and which one."""
    return RpcError(INVALID_PARAMS, f"Invalid request parameters: {problem}", problem)


def _optional(params: Params, key: str, kind: type | tuple[type, ...]) -> bool:
    value = params.get(key)
    return value is None or isinstance(value, kind)


def _string(params: Params, key: str, where: str = "") -> str | None:
    return None if isinstance(params.get(key), str) else f"'{where}{key}' must be a string"


def _list_params(params: Params) -> str | None:
    return None if _optional(params, "cursor", str) else "'cursor' must be a string"


def _ping_params(params: Params) -> str | None:
    return None


def _call_params(params: Params) -> str | None:
    if not _optional(params, "arguments", dict):
        return "'arguments' must be an object"
    return _string(params, "name")


def _read_params(params: Params) -> str | None:
    return _string(params, "uri")


def _prompt_params(params: Params) -> str | None:
    arguments = params.get("arguments")
    if arguments is not None and not (
        isinstance(arguments, dict) and all(isinstance(v, str) for v in arguments.values())
    ):
        return "'arguments' must be an object of strings"
    return _string(params, "name")


_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


def _level_params(params: Params) -> str | None:
    if params.get("level") in _LEVELS:
        return None
    return f"'level' must be one of {', '.join(_LEVELS)}"


def _complete_params(params: Params) -> str | None:
    ref, argument = params.get("ref"), params.get("argument")
    if not isinstance(ref, dict) or ref.get("type") not in ("ref/prompt", "ref/resource"):
        return "'ref.type' must be 'ref/prompt' or 'ref/resource'"
    key = "name" if ref["type"] == "ref/prompt" else "uri"
    if not isinstance(argument, dict):
        return "'argument' must be an object"
    context = params.get("context")
    if context is not None and not (
        isinstance(context, dict) and _optional(context, "arguments", dict)
    ):
        return "'context.arguments' must be an object"
    return (
        _string(ref, key, "ref.")
        or _string(argument, "name", "argument.")
        or _string(argument, "value", "argument.")
    )


def _listen_params(params: Params) -> str | None:
    return (
        None
        if isinstance(params.get("notifications"), dict)
        else ("'notifications' must be an object")
    )


def _initialize_params(params: Params) -> str | None:
    client = params.get("clientInfo")
    if problem := _string(params, "protocolVersion"):
        return problem
    if not isinstance(params.get("capabilities"), dict):
        return "'capabilities' must be an object"
    if not isinstance(client, dict):
        return "'clientInfo' must be an object"
    return _string(client, "name", "clientInfo.") or _string(client, "version", "clientInfo.")


_CHECKS: dict[str, Check] = {
    "tools/call": _call_params,
    "resources/read": _read_params,
    "prompts/get": _prompt_params,
    "completion/complete": _complete_params,
}

"""What an upstream's error answer becomes for our caller: its own JSON passed through, plain
text made problem+json, a failed step named, a refused gateway credential kept from looking
like the caller's fault; and the upstream headers a caller may see."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

import naftiko.safejson as safejson
from naftiko.engine.result import Result
from naftiko.engine.transport import UpstreamResponse, is_json
from naftiko.errors import UpstreamError
from naftiko.vocabulary import is_field_value

# What a caller of the gateway needs from an upstream's answer; everything else stays behind.
_PASSED_BACK = frozenset(
    {
        "retry-after",
        "location",
        "etag",
        "last-modified",
        "cache-control",
        "content-language",
        "x-request-id",
        "request-id",
    }
)
_PASSED_BACK_PREFIXES = ("ratelimit", "x-ratelimit")
# Each header name as an upstream spells it → passed back or not: an upstream sends the same
# few names on every answer. Bounded, so that an upstream inventing names cannot grow it.
_DECIDED: dict[str, bool] = {}
_DECIDED_MAX = 1024

log = logging.getLogger("naftiko")


def passed_back(
    response: UpstreamResponse, redact: Callable[[str], str]
) -> tuple[tuple[str, str], ...]:
    kept = []
    for name, value in response.headers.items():
        passed = _DECIDED.get(name)
        if passed is None:
            low = name.lower()
            passed = low in _PASSED_BACK or low.startswith(_PASSED_BACK_PREFIXES)
            if len(_DECIDED) < _DECIDED_MAX:
                _DECIDED[name] = passed
        if passed:
            field = _field_value(redact(value))
            if field is not None:
                kept.append((name, field))
    return tuple(kept)


def _field_value(value: str) -> str | None:
    """The value as the upstream sent its bytes, in the form a response header is written
    (latin-1), or None for one no answer may carry. aiohttp reads header bytes as UTF-8
    (surrogate-escaped when they are not); written back as such, a byte past ASCII stopped
    the answer with a 500."""
    if not value.isascii():
        value = value.encode("utf-8", "surrogateescape").decode("latin-1")
    return value if is_field_value(value) else None


def relocate(response: UpstreamResponse, called: str, base: str) -> None:
    """Rewrite the `Location` of `response` (to `called`, under the base URI `base`) for the
    caller. The upstream's own address is configuration, which a caller never learns (as
    errors name the namespace, not the address), so a Location on the upstream's origin
    becomes a reference relative to the URL called: resolved against the URL the caller
    used, it names the same tail on the gateway (exactly so for a forward). One outside the
    base URI, with dot-segments, or unreadable is dropped. Another origin's is kept as sent:
    a redirect there is the caller's to follow."""
    kept = CIMultiDict(response.headers)
    location = kept.popall("Location", [""])[-1]
    try:
        target, origin = urlsplit(urljoin(called, location)), urlsplit(called)
        same = _origin(target) == _origin(origin)
    except ValueError:
        target, same = None, True
    if not same:
        return
    relative = _relative(origin.path, target, urlsplit(base).path) if target else None
    if relative is not None:
        kept["Location"] = relative
    response.headers = CIMultiDictProxy(kept)


def _origin(url: SplitResult) -> tuple[str, str | None, int | None]:
    scheme = url.scheme.lower()
    return scheme, url.hostname, url.port or {"http": 80, "https": 443}.get(scheme)


def _relative(called: str, target: SplitResult, base: str) -> str | None:
    segments = target.path.split("/")
    base = base.rstrip("/")
    under = target.path == base or target.path.startswith(base + "/")
    if not under or "." in segments or ".." in segments:
        return None
    folders = called.split("/")[:-1]
    common = 0
    while common < min(len(folders), len(segments) - 1):
        if folders[common] != segments[common]:
            break
        common += 1
    reference = "../" * (len(folders) - common) + "/".join(segments[common:])
    if not reference or reference.startswith("/") or ":" in reference.split("/")[0]:
        reference = "./" + reference  # never empty, an absolute path or a scheme
    query, fragment = target.query, target.fragment
    return reference + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")


def upstream_error(
    namespace: str,
    response: UpstreamResponse,
    authenticated: bool,
    headers: tuple[tuple[str, str], ...],
) -> Result:
    """An upstream answered >= 400; `authenticated`: the gateway sent its own credentials."""
    if response.status == 401 and authenticated:
        # The credentials were the gateway's own (binds), never the caller's: passing the
        # 401 on would tell the caller that *their* key is wrong.
        log.warning("upstream %r refused the configured credentials (401)", namespace)
        raise UpstreamError(
            f"upstream {namespace!r} refused the gateway's configured credentials (401)", 401
        )
    if is_json(response.content_type):
        # Client SDKs read the upstream's own error JSON, so it passes through unchanged,
        # in its own media type (application/problem+json stays problem+json).
        return Result(
            response.status,
            raw=response.body,
            content_type=response.content_type,
            error=True,
            headers=headers,
        )
    text = response.body.decode("utf-8", errors="replace").strip()
    problem = {
        "type": "about:blank",
        "title": _reason(response.status),
        "status": response.status,
        "detail": text[:2000] or _reason(response.status),
    }
    return Result(
        response.status,
        problem,
        content_type="application/problem+json",
        error=True,
        headers=headers,
    )


def step_failed(name: str, response: UpstreamResponse) -> Result:
    """problem+json naming the step, with the upstream's own error inside it."""
    text = response.body.decode("utf-8", errors="replace")
    upstream: Any = text[:2000]
    with contextlib.suppress(ValueError):
        upstream = safejson.upstream(response.body) if text else None
    message = _upstream_message(upstream)
    detail = f"step {name!r} failed"
    problem = {
        "type": "about:blank",
        "title": "upstream error",
        "status": response.status,
        "detail": detail + (f": {message}" if message else ""),
        "step": name,
        "upstream": upstream,
    }
    body = json.dumps(problem, ensure_ascii=False).encode()
    return Result(response.status, raw=body, content_type="application/problem+json", error=True)


def _upstream_message(data: Any) -> str | None:
    if isinstance(data, str):
        return data.strip()[:300] or None
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    for candidate in (error, data.get("message"), data.get("detail"), data.get("title")):
        if isinstance(candidate, str) and candidate:
            return candidate[:300]
    return None


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Upstream Error"

"""Parameters → one upstream HTTP request: URL, query, headers, cookies and body.

Path values are percent-encoded per segment, so no value can add `/`, `..` or a query to the
upstream URL; header values with CR/LF are refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode

import naftiko.safejson as safejson
from naftiko.engine.inputs import Configured
from naftiko.engine.json_body import render_json
from naftiko.engine.plan import HOST, ORIGIN, PATH, BodyPlan, ConsumedParam, Operation
from naftiko.engine.scope import Scope
from naftiko.errors import InputError
from naftiko.expressions import Var, parse_template, to_text
from naftiko.model import ApiKeyAuth, Authentication
from naftiko.vocabulary import is_field_value

_PATH_SAFE = "-._~!$&'()*+,;=:@"
_OMIT = object()  # a structured-body member whose value the caller left out
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+")  # RFC 3986 §2.3: never percent-encoded
_SAFE = {True: "", False: "-._~"}  # quote's `safe` for a path segment, for other positions
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


@dataclass
class UpstreamRequest:
    method: str
    url: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    idempotent: bool = True
    attempts: int = 0  # times sent (a retry or a digest challenge answered adds one)

    def full_url(self) -> str:
        """The URL as sent: a fragment (`/#X-Amz-Target=…`, used by some specs to tell
        operations apart) is never sent, and cannot swallow the query."""
        url = self.url.split("#", 1)[0]
        if not self.query:
            return url
        joiner = "&" if "?" in url else "?"
        return url + joiner + urlencode(self.query, quote_via=quote)


def build_request(op: Operation, scope: Scope) -> UpstreamRequest:
    request = UpstreamRequest(op.method, _url(op, scope), idempotent=op.idempotent)
    cookies: list[str] = []
    for param in op.checked_params:
        value = param_value(param, scope)
        if value is None:
            if param.required and param.location in ("query", "header", "path", "body"):
                raise InputError(param.name, f"required {param.location} parameter is missing")
            continue
        if param.location == "query":
            # An array is form/explode (OpenAPI's default): `a=1&a=2`.
            items = value if isinstance(value, list) else [value]
            request.query.extend((param.name, to_text(item)) for item in items)
        elif param.location == "header":
            request.headers[param.name] = header_value(param.name, _listed(value))
        elif param.location == "cookie":
            cookies.append(f"{param.name}={quote(_listed(value), safe=',')}")
    if cookies:
        request.headers["Cookie"] = "; ".join(cookies)
    if op.body is not None:
        body, content_type = _body(op.body, scope)
        if body is not None:
            request.body = body
            request.headers.setdefault("Content-Type", content_type)
    return request


def _listed(value: Any) -> str:
    """Header and cookie arrays are comma lists (OpenAPI's `simple`/`form` styles)."""
    if isinstance(value, list):
        return ",".join(to_text(item) for item in value)
    return to_text(value)


def header_value(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise InputError(name, "header values cannot contain line breaks")
    # RFC 9110 §5.5: no other control character either (HTAB aside); the HTTP client
    # refuses NUL and DEL itself, and that refusal was a 500 / -32603 instead of a 400.
    if not is_field_value(value):
        raise InputError(name, "header values cannot contain control characters")
    return value


def param_value(param: ConsumedParam, scope: Scope) -> Any:
    if param.value is not None:
        if param.value.is_constant:
            return param.value.source
        single = param.value.single_var
        if single is not None:
            # `value: "{{x}}"` keeps x's type (a list stays a list for the JSON body).
            return scope.get(single)
        missing = [v for v in param.value.variables if scope.get(v) is None]
        return None if missing else param.value.render(scope.get, encode=to_text)
    if param.location == "environment":
        return scope.bindings.environ.get(param.name)
    found, value = scope.find(param.name)
    return value if found else None


def _url(op: Operation, scope: Scope) -> str:
    out: list[str] = []
    for part, where in op.url_segments:
        if isinstance(part, str):
            out.append(part)
            continue
        if where in ORIGIN:
            out.append(_origin_value(part, where, scope))
            continue
        found, value = scope.find(part.name)
        if not found or value is None or value == "":
            raise InputError(part.name, "required path parameter is missing")
        text = to_text(value)
        if where == PATH and text in (".", ".."):
            # Encoded or not, a dot-segment would climb the upstream's path (RFC 3986 §5.2.4).
            raise InputError(part.name, "a path value cannot be '.' or '..'")
        # Unreserved characters only (an id, a name): nothing to encode; else per segment.
        out.append(text if _UNRESERVED.fullmatch(text) else quote(text, safe=_SAFE[where == PATH]))
    return "".join(out)


def _origin_value(part: Var, where: str, scope: Scope) -> str:
    """Configuration (a bind, the environment) decides the upstream's origin as it wrote it;
    a caller may only fill a host position, with one DNS label or a value the spec itself
    wrote (a declared enum member, a `with` constant)."""
    configured = scope.configured(part.name)
    if configured is not None:
        return configured
    found, value = scope.find_param(part.name)
    if not found or value is None or value == "":
        raise InputError(part.name, "base URI variable is not set")
    if where != HOST:
        raise InputError(part.name, f"the upstream's {where} cannot come from a request")
    if isinstance(value, Configured) or (isinstance(value, str) and _LABEL.fullmatch(value)):
        return str(value)
    raise InputError(part.name, "must be a DNS label (letters, digits and '-', at most 63)")


def _body(plan: BodyPlan, scope: Scope) -> tuple[bytes | None, str]:
    kind = plan.kind
    if kind == "params":
        return _params_body(plan, scope)
    if kind == "template" or (plan.template is not None and kind == "json"):
        assert plan.template is not None
        single = plan.template.single_var
        if single is not None and scope.get(single) is None:
            return None, "application/json"  # `body: "{{payload}}"` left out: no body at all
        return render_json(plan.template, scope.get).encode(), "application/json"
    if kind == "json":
        data = _render_data(plan.data, scope)
        if data is _OMIT:
            return None, "application/json"
        return safejson.dumps(data).encode(), "application/json"
    if kind == "formUrlEncoded":
        data = _render_data(plan.data, scope)
        if data is _OMIT:
            return None, "application/x-www-form-urlencoded"
        if isinstance(data, dict):
            pairs = [(k, to_text(v)) for k, v in data.items() if v is not None]
            return urlencode(pairs).encode(), "application/x-www-form-urlencoded"
        return to_text(data).encode(), "application/x-www-form-urlencoded"
    if kind == "multipartForm":
        return _multipart(plan, scope)
    text = plan.template.render(scope.get, encode=to_text) if plan.template else to_text(plan.data)
    media = {"xml": "application/xml", "sparql": "application/sparql-query"}
    return text.encode(), media.get(kind, "text/plain; charset=utf-8")


def _params_body(plan: BodyPlan, scope: Scope) -> tuple[bytes | None, str]:
    """§11.3 rule 7: one `in: body` parameter is the body; several make an object."""
    values = {p.name: param_value(p, scope) for p in plan.params}
    provided = {k: v for k, v in values.items() if v is not None}
    if not provided:
        return None, "application/json"
    if len(plan.params) == 1:
        (value,) = provided.values()
        if isinstance(value, str):
            # A string holding (strict) JSON is the JSON itself (§11.3 rule 7).
            value = safejson.text_or_json(value)
        return safejson.dumps(value).encode(), "application/json"
    return safejson.dumps(provided).encode(), "application/json"


def _render_data(data: Any, scope: Scope) -> Any:
    """Render Mustache in the leaf strings of structured data; `"{{x}}"` keeps x's type, and
    a member whose only value the caller left out is omitted (null inside a list)."""
    if isinstance(data, str):
        template = parse_template(data)
        single = template.single_var
        if single is not None:
            value = scope.get(single)
            return _OMIT if value is None else value
        return template.render(scope.get, encode=to_text)
    if isinstance(data, dict):
        rendered = {k: _render_data(v, scope) for k, v in data.items()}
        return {k: v for k, v in rendered.items() if v is not _OMIT}
    if isinstance(data, list):
        return [None if (v := _render_data(item, scope)) is _OMIT else v for item in data]
    return data


def _multipart(plan: BodyPlan, scope: Scope) -> tuple[bytes, str]:
    # Random per request, so no value can contain it and end its part early.
    boundary = f"naftiko-{os.urandom(12).hex()}"
    chunks: list[bytes] = []
    for part in plan.data or []:
        if not isinstance(part, dict):
            continue
        name = to_text(part.get("name", "field"))
        value = _render_data(part.get("value", ""), scope)
        if value is _OMIT:
            continue
        disposition = f'form-data; name="{name}"'
        if part.get("filename"):
            disposition += f'; filename="{to_text(part["filename"])}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if part.get("contentType"):
            head += f"Content-Type: {to_text(part['contentType'])}\r\n"
        chunks.append(head.encode() + b"\r\n" + to_text(value).encode() + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def without_credential(query: str, auth: Authentication | None) -> str:
    """A forwarded query string without the parameter the namespace's API key travels in:
    sent twice, an upstream reading the first copy would take the caller's value for the
    gateway's credential (the configuration's, SECURITY.md 1)."""
    key = auth.key if isinstance(auth, ApiKeyAuth) and auth.placement == "query" else None
    return without_parameter(query, key)


def without_parameter(query: str, key: str | None) -> str:
    """`query` without any `key=…` pair (however its name is percent-encoded)."""
    if not key or not query:
        return query
    pairs = query.split("&")
    kept = [p for p in pairs if unquote_plus(p.partition("=")[0]) != key]
    return query if len(kept) == len(pairs) else "&".join(kept)

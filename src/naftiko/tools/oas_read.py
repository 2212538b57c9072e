"""An OpenAPI 3.0/3.1 or Swagger 2.0 document → `Api`; every construct left out is a warning."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from naftiko.errors import Location, SpecError
from naftiko.tools.oas_model import Api, Auth, Op, Param, kebab
from naftiko.tools.oas_refs import Source, Where
from naftiko.tools.oas_schema import flatten, primary_type

METHODS = ("get", "put", "post", "delete", "patch")
_UNSERVED = ("head", "options", "trace")
_SCHEMA_KEYS = ("type", "format", "enum", "default", "pattern", "items", "minimum", "maximum")
_JSON = ("application/json",)
_FORMATS = {
    "application/json": "json",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
    "text/html": "html",
    "text/markdown": "markdown",
}


def read_api(source: Source, namespace: str | None = None) -> Api:
    data = source.root.doc.data
    swagger = str(data.get("swagger", ""))
    version = str(data.get("openapi", ""))
    if not swagger.startswith("2") and not version.startswith("3"):
        at = source.root.location()
        raise SpecError.single(
            Location(at.file, at.line, at.column),
            "not an OpenAPI document: expected `openapi: 3.x` or `swagger: '2.0'`",
        )
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    title = str(info.get("title") or "")
    if not title:
        source.warn(source.root.at("info"), "no info.title: the namespace is 'unknown-api'")
    reader = _Reader(source, swagger.startswith("2"))
    api = Api(
        title=title or "unknown-api",
        description=info.get("description") if isinstance(info.get("description"), str) else None,
        namespace=namespace or kebab(title) or "unknown-api",
        base_uri=reader.base_uri(data),
        auth=reader.auth(data),
    )
    reader.operations(data, api)
    if "webhooks" in data:
        source.warn(source.root.at("webhooks"), "webhooks are not imported (nothing calls out)")
    return api


class _Reader:
    def __init__(self, source: Source, swagger: bool) -> None:
        self.source = source
        self.swagger = swagger
        self.root = source.root

    # ------------------------------------------------------------------ document level

    def base_uri(self, data: dict[str, Any]) -> str:
        if self.swagger:
            host = data.get("host")
            if not isinstance(host, str) or not host:
                self.source.warn(self.root, "no host: baseUri is https://api.example.com")
                return "https://api.example.com"
            schemes = [s for s in _list(data.get("schemes")) if s in ("http", "https")]
            scheme = "http" if schemes == ["http"] else "https"
            base_path = data.get("basePath")
            base_path = base_path.rstrip("/") if isinstance(base_path, str) else ""
            return f"{scheme}://{host}{base_path}"
        servers = data.get("servers")
        first = servers[0] if isinstance(servers, list) and servers else None
        url = first.get("url") if isinstance(first, dict) else None
        if not isinstance(url, str) or url in ("", "/"):
            self.source.warn(self.root, "no servers: baseUri is https://api.example.com")
            return "https://api.example.com"
        assert isinstance(first, dict)
        variables = first.get("variables") or {}
        for name, var in variables.items() if isinstance(variables, dict) else ():
            default = var.get("default") if isinstance(var, dict) else None
            url = url.replace("{" + name + "}", str(default or ""))
        scheme = urlsplit(url).scheme
        if scheme and scheme not in ("http", "https"):
            at = self.root.at("servers", 0, "url")
            self.source.warn(at, f"server url {url!r} is not http(s): baseUri is a placeholder")
            return "https://api.example.com"
        if not scheme:
            at = self.root.at("servers", 0, "url")
            self.source.warn(
                at, f"server url {url!r} is relative: baseUri is https://api.example.com"
            )
            return "https://api.example.com" + ("/" + url.strip("/") if url.strip("/") else "")
        return url.rstrip("/")

    def auth(self, data: dict[str, Any]) -> Auth | None:
        key = "securityDefinitions" if self.swagger else "components"
        schemes_at = self.root.at(key) if self.swagger else self.root.at(key, "securitySchemes")
        holder = data.get(key)
        holder = holder if isinstance(holder, dict) else {}
        schemes = holder if self.swagger else holder.get("securitySchemes")
        if not isinstance(schemes, dict) or not schemes:
            return None
        # The scheme the document requires globally, else the first one declared.
        wanted = next(iter(schemes))
        security = data.get("security")
        if isinstance(security, list) and security and isinstance(security[0], dict):
            named = next(iter(security[0]), None)
            if named in schemes:
                wanted = named
        scheme, where = self.source.deref(schemes[wanted], schemes_at.at(wanted))
        return self._scheme(scheme, where) if isinstance(scheme, dict) else None

    def _scheme(self, scheme: dict[str, Any], where: Where) -> Auth | None:
        kind = str(scheme.get("type", "")).lower()
        http = str(scheme.get("scheme", "")).lower()
        if kind == "apikey":
            placement = str(scheme.get("in", "header"))
            if placement not in ("header", "query"):
                self.source.warn(where, f"API key in {placement} is not supported; no auth")
                return None
            return Auth("apikey", key=str(scheme.get("name") or "X-API-Key"), placement=placement)
        if kind == "basic" or (kind == "http" and http == "basic"):
            return Auth("basic")
        if kind == "http" and http == "bearer":
            return Auth("bearer")
        if kind == "http" and http == "digest":
            return Auth("digest")
        if kind == "oauth2":
            flows = scheme.get("flows")
            flow = flows.get("clientCredentials") if isinstance(flows, dict) else None
            if self.swagger and scheme.get("flow") == "application":
                flow = scheme
            if isinstance(flow, dict) and isinstance(flow.get("tokenUrl"), str):
                scopes = tuple(flow.get("scopes") or {})
                return Auth("oauth2", token_url=flow["tokenUrl"], scopes=scopes)
            self.source.warn(
                where, "oauth2 without a client-credentials flow: configure auth by hand"
            )
            return None
        self.source.warn(where, f"security scheme {kind or '?'} {http} is not supported; no auth")
        return None

    # ------------------------------------------------------------------ operations

    def operations(self, data: dict[str, Any], api: Api) -> None:
        paths = data.get("paths")
        if not isinstance(paths, dict):
            self.source.warn(self.root, "no paths: nothing to import")
            return
        taken: set[str] = set()
        for path, item in paths.items():
            item, item_at = self.source.deref(item, self.root.at("paths", path))
            if not isinstance(item, dict):
                continue
            shared = _list(item.get("parameters"))
            for method in item:
                op_at = item_at.at(method)
                if method in _UNSERVED:
                    self.source.warn(op_at, f"{method.upper()} operations are not imported")
                elif method in METHODS and isinstance(item[method], dict):
                    op = self._operation(path, method, item[method], op_at, shared, item_at)
                    op.name = _unique(op.name, taken)
                    api.ops.append(op)

    def _operation(
        self,
        path: str,
        method: str,
        node: dict[str, Any],
        at: Where,
        shared: list[Any],
        item_at: Where,
    ) -> Op:
        op_id = node.get("operationId")
        name = kebab(op_id) if isinstance(op_id, str) else ""
        if not name:
            name = kebab(f"{method}-{path.replace('{', '').replace('}', '')}")
        summary = node.get("summary")
        description = node.get("description")
        op = Op(
            name=name,
            method=method.upper(),
            path=path,
            summary=summary.strip() if isinstance(summary, str) and summary.strip() else None,
            description=description.strip() if isinstance(description, str) else None,
            deprecated=node.get("deprecated") is True,
        )
        own = _list(node.get("parameters"))
        entries = [(p, item_at.at("parameters", i)) for i, p in enumerate(shared)]
        entries += [(p, at.at("parameters", i)) for i, p in enumerate(own)]
        self._parameters(op, entries)
        body = node.get("requestBody")
        if body is not None and not self.swagger:
            self._request_body(op, body, at.at("requestBody"))
        for key in ("callbacks", "links"):
            if key in node:
                self.source.warn(at.at(key), f"`{key}` are not imported")
        op.response = self._response(node.get("responses"), at.at("responses"), op)
        return op

    def _parameters(self, op: Op, entries: list[tuple[Any, Where]]) -> None:
        """Path-level then operation-level parameters (the later wins), and Swagger 2.0's
        `body` and `formData` ones."""
        by_key: dict[tuple[str, str], Param] = {}
        form: list[tuple[Any, Where]] = []
        swagger_body: tuple[dict[str, Any], Where] | None = None
        for raw, where in entries:
            param, there = self.source.deref(raw, where)
            if not isinstance(param, dict) or not isinstance(param.get("name"), str):
                self.source.warn(where, "parameter without a name is skipped")
                continue
            location = str(param.get("in", ""))
            if location == "body":  # Swagger 2.0
                swagger_body = (param, there)
            elif location == "formData":
                form.append((param, there))
            elif location in ("path", "query", "header", "cookie"):
                by_key[(location, param["name"])] = self._param(param, there, location)
            else:
                self.source.warn(there, f"parameter location {location!r} is not supported")
        op.params = list(by_key.values())
        if swagger_body is not None:
            param, there = swagger_body
            self._body_schema(op, param.get("schema"), there.at("schema"), param)
        if form:
            self._swagger_form(op, form)

    def _param(self, param: dict[str, Any], where: Where, location: str) -> Param:
        if self.swagger or "schema" not in param:
            raw = {k: param[k] for k in _SCHEMA_KEYS if k in param}
            schema = flatten(self.source, raw, where)
        else:
            schema = flatten(self.source, param["schema"], where.at("schema"))
        if "content" in param and "schema" not in param:
            self.source.warn(where, "parameter `content` (serialised JSON) is read as a string")
        description = param.get("description")
        return Param(
            name=param["name"],
            location=location,
            schema=schema,
            description=description if isinstance(description, str) else None,
            required=param.get("required") is True or location == "path",
        )

    def _request_body(self, op: Op, body: Any, at: Where) -> None:
        body, at = self.source.deref(body, at)
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, dict) or not content:
            return
        json_type = next((t for t in content if t.split(";")[0].strip() in _JSON), None)
        json_type = json_type or next((t for t in content if t.endswith("+json")), None)
        form_type = "application/x-www-form-urlencoded"
        chosen = json_type or (form_type if form_type in content else None)
        if chosen is None:
            kinds = ", ".join(content)
            self.source.warn(at.at("content"), f"request body {kinds} is not imported (JSON only)")
            return
        media = content[chosen] if isinstance(content[chosen], dict) else {}
        required = isinstance(body, dict) and body.get("required") is True
        self._body_schema(op, media.get("schema"), at.at("content", chosen, "schema"), None)
        if chosen == form_type:
            op.body = "form"
        if op.body == "whole" and op.params and op.params[-1].name == "body":
            op.params[-1].required = required

    def _body_schema(
        self, op: Op, raw: Any, where: Where, swagger_param: dict[str, Any] | None
    ) -> None:
        schema = flatten(self.source, raw, where, writing=True) if raw is not None else {}
        props = schema.get("properties") if primary_type(schema, "object") == "object" else None
        taken = {p.name for p in op.params}
        if isinstance(props, dict) and props and not (set(props) & (taken | {"body"})):
            needed = set(schema.get("required") or [])
            for name, sub in props.items():
                op.params.append(Param(name, "body", sub, sub.get("description"), name in needed))
            op.body = "fields"
            return
        if isinstance(props, dict) and set(props) & taken:
            clash = sorted(set(props) & taken)
            self.source.warn(where, f"body fields {clash} clash with parameters: one `body` input")
        required = swagger_param is not None and swagger_param.get("required") is True
        described = schema.get("description")
        op.params.append(Param("body", "body", schema, described, required))
        op.body = "whole"

    def _swagger_form(self, op: Op, form: list[tuple[Any, Where]]) -> None:
        for param, where in form:
            if param.get("type") == "file":
                self.source.warn(where, "file upload parameters are not imported")
                continue
            op.params.append(self._param(param, where, "body"))
        op.body = "form"

    def _response(self, responses: Any, at: Where, op: Op) -> dict[str, Any] | None:
        if not isinstance(responses, dict):
            return None
        for code in sorted(responses):
            if not str(code).startswith("2"):
                continue
            response, where = self.source.deref(responses[code], at.at(code))
            if not isinstance(response, dict):
                return None
            if self.swagger:
                raw = response.get("schema")
                return flatten(self.source, raw, where.at("schema")) if raw is not None else None
            content = response.get("content")
            if not isinstance(content, dict):
                return None
            formats = [_FORMATS.get(m.split(";")[0].strip()) for m in content]
            if content and "json" not in formats and not any(m.endswith("+json") for m in content):
                op.output_format = next((f for f in formats if f), "json")
            for media, entry in content.items():
                if media.split(";")[0].strip() in _JSON or media.endswith("+json"):
                    raw = entry.get("schema") if isinstance(entry, dict) else None
                    if raw is not None:
                        return flatten(self.source, raw, where.at("content", media, "schema"))
            return None
        return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    taken.add(candidate)
    return candidate

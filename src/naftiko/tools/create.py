"""`naftiko create capability`: a new capability that validates and runs as written.

It consumes one upstream and exposes it through a REST adapter whose single resource forwards
every path to that upstream (SEMANTICS §3.7): a working gateway to refine by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from naftiko.errors import Location, SpecError
from naftiko.spec.loader import SPEC_VERSION
from naftiko.tools.oas_model import kebab


@dataclass(frozen=True)
class NewCapability:
    name: str
    base_uri: str
    port: int = 8080
    description: str | None = None


def check(new: NewCapability) -> list[str]:
    """What is wrong with the answers, one message each (empty: fine)."""
    problems = []
    if not kebab(new.name):
        problems.append("name: needs at least one letter or digit")
    parts = urlsplit(new.base_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(f"target URI: {new.base_uri!r} is not an http(s) URL")
    if not 0 <= new.port <= 65535:  # 0: any free port, as `run` reads it
        problems.append(f"port: {new.port} is not between 0 and 65535")
    return problems


def capability_document(new: NewCapability) -> dict[str, Any]:
    problems = check(new)
    if problems:
        raise SpecError.single(Location("create capability"), "; ".join(problems))
    namespace = kebab(new.name)
    upstream = f"{namespace}-upstream"
    description = new.description or f"{new.name}: a gateway to {new.base_uri}."
    return {
        "naftiko": SPEC_VERSION,
        "info": {"label": new.name, "description": description},
        "capability": {
            "exposes": [
                {
                    "type": "rest",
                    "namespace": namespace,
                    "port": new.port,
                    "resources": [
                        {
                            "path": "/{{path}}",
                            "name": "upstream",
                            "description": f"Every path, forwarded to {new.base_uri}.",
                            "forward": {"targetNamespace": upstream},
                        }
                    ],
                }
            ],
            "consumes": [
                {
                    "type": "http",
                    "namespace": upstream,
                    "description": f"The upstream API at {new.base_uri}.",
                    "baseUri": new.base_uri.rstrip("/"),
                    "resources": [],
                }
            ],
        },
    }


def default_file(new: NewCapability) -> str:
    return f"{kebab(new.name) or 'capability'}.naftiko.yaml"

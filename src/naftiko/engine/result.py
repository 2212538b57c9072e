"""What `Engine.invoke` returns: a status and a JSON value, or upstream bytes passed as is."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Result:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    error: bool = False  # the upstream answered >= 400
    # Upstream headers a caller needs (Retry-After, ETag, rate limits...): allow-listed and
    # redacted by the engine; the REST adapter passes them on.
    headers: tuple[tuple[str, str], ...] = ()

    def data(self) -> Any:
        """The body as a JSON value (raw bytes parsed when they are JSON, else text)."""
        if self.raw is None:
            return self.body
        if not self.raw:
            return None
        try:
            return json.loads(self.raw)
        except ValueError:
            return self.raw.decode("utf-8", errors="replace")

    def text(self) -> str:
        """The body as text: raw bytes decoded, JSON values serialised compactly."""
        if self.raw is not None:
            return self.raw.decode("utf-8", errors="replace")
        if isinstance(self.body, str) and "json" not in self.content_type:
            return self.body
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False)

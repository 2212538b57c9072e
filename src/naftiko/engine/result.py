"""What `Engine.invoke` returns: a status and a JSON value, or upstream bytes passed as is."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import naftiko.safejson as safejson


# Not frozen: a frozen dataclass is made with one `object.__setattr__` call per field, and
# one is made per request. Treated as immutable all the same (`dataclasses.replace`).
@dataclass(slots=True)
class Result:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    error: bool = False  # the upstream answered >= 400
    # Upstream headers a caller needs (Retry-After, ETag, rate limits...): allow-listed and
    # redacted by the engine; the REST adapter passes them on.
    headers: tuple[tuple[str, str], ...] = ()
    # A pass-through body still arriving (`Engine.invoke(stream=True)`); the adapter sends it
    # on chunk by chunk and closes it.
    stream: AsyncGenerator[bytes, None] | None = None

    @property
    def failed(self) -> bool:
        """No output to hand a model: an upstream error, or a redirect the engine did not
        follow (to another origin), whose only content is where it leads."""
        return self.error or 300 <= self.status < 400

    def data(self) -> Any:
        """The body as a JSON value (raw bytes parsed when they are JSON, else text)."""
        if self.raw is None:
            return self.body
        if not self.raw:
            return None
        try:
            return safejson.upstream(self.raw)
        except ValueError:
            return self.raw.decode("utf-8", errors="replace")

    def text(self) -> str:
        """The body as text: raw bytes decoded, JSON values serialised compactly."""
        if self.raw is not None:
            return self.raw.decode("utf-8", errors="replace")
        if isinstance(self.body, str) and "json" not in self.content_type:
            return self.body
        return safejson.dumps(self.body, separators=(",", ":"), ensure_ascii=False)

"""Secrets masked on the way out of the engine: in text, in bytes, in JSON values and in a
streamed body (across chunk borders), longest secret first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from naftiko.engine.result import Result
from naftiko.engine.streams import masked_chunks


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted(set(secrets), key=len, reverse=True)
        self._secret_bytes = [secret.encode() for secret in self._secrets]
        self._secret_set = frozenset(self._secrets)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def text(self, text: str) -> str:
        """Error and log text never carries a bound secret."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def body(self, body: bytes) -> bytes:
        """An upstream that echoes a credential back must not hand it to our callers."""
        for secret in self._secret_bytes:
            if secret in body:
                body = body.replace(secret, b"***")
        return body

    def result(self, result: Result) -> Result:
        if not self._secrets:
            return result
        if result.stream is not None:
            longest = len(self._secret_bytes[0])
            return replace(result, stream=masked_chunks(result.stream, self.body, longest))
        if result.raw is not None:
            raw = self.body(result.raw)
            return result if raw is result.raw else replace(result, raw=raw)
        if result.body is None:
            return result
        return replace(result, body=self._value(result.body))

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k): self._value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(v) for v in value]
        if isinstance(value, int | float) and not isinstance(value, bool):
            # A numeric credential mapped into a number is still the credential.
            return "***" if str(value) in self._secret_set else value
        return value

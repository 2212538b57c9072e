"""One protocol-free exception hierarchy; adapters map it to HTTP, MCP and exit codes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A place in a spec file: 1-based line and column, and the dotted path of the node."""

    file: str
    line: int = 0
    column: int = 0
    path: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {self.path}" if self.path else where


@dataclass(frozen=True)
class Problem:
    """One located finding (an error or a warning) about a spec."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class NaftikoError(Exception):
    """Base of every error the runtime raises on purpose."""


class SpecError(NaftikoError):
    """A spec cannot be loaded; carries every located problem found (the first is the headline)."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("SpecError needs at least one problem")
        self.problems = problems
        super().__init__(str(problems[0]))

    @property
    def location(self) -> Location:
        return self.problems[0].location

    @classmethod
    def single(cls, location: Location, message: str) -> SpecError:
        return cls([Problem(location, message)])


class BindingError(NaftikoError):
    """A variable the spec needs is not available (environment, .env or secrets file)."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class InputError(NaftikoError):
    """The caller's request is invalid; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class NotFoundError(NaftikoError):
    """The caller asked for an action, resource or prompt that does not exist."""


class Overloaded(NaftikoError):
    """The gateway is at one of its capacity limits for now (REST 503, MCP isError): the
    same request may succeed when retried."""


class UnsupportedError(NaftikoError):
    """The spec uses a feature this runtime does not implement (REST 501, MCP isError)."""


class UpstreamError(NaftikoError):
    """An upstream call failed; `status` is the upstream's HTTP status when it answered."""

    def __init__(self, message: str, status: int | None = None, *, where: str = "") -> None:
        self.status = status
        # The address that failed, for the operator's log line only: never in the message
        # (errors name the namespace, never its address).
        self.where = where
        super().__init__(message)


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time (REST 504)."""


class UpstreamUnavailable(UpstreamError):
    """The upstream could not be reached or broke the connection (REST 502)."""


class MappingError(UpstreamError):
    """The upstream answered something that cannot be parsed or mapped (REST 502)."""


def redacted(exc: NaftikoError, redact: Callable[[str], str]) -> NaftikoError:
    """`exc` with every text it carries passed through `redact` (a bound secret never
    travels in an error message, whoever renders it)."""
    exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
    if isinstance(exc, InputError):
        exc.message = redact(exc.message)
    return exc

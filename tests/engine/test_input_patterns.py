"""A spec's `pattern:` is matched against caller values within a time bound: a pattern that
backtracks catastrophically (a third-party spec, an imported OpenAPI) cannot hold the event
loop, and the value it could not check never reaches the upstream."""

from __future__ import annotations

from pathlib import Path

import pytest

from naftiko.errors import InputError
from tests.support.engine_harness import gateway, tool_spec
from tests.support.servers import Recorder
from tests.support.transport import Upstream, recording_upstream, scripted


@pytest.fixture(scope="module")
def upstream() -> Upstream:
    return recording_upstream(scripted({}))


@pytest.fixture
def seen(upstream: Upstream) -> Recorder:
    upstream[1].requests.clear()
    return upstream[1]


def _spec(folder: Path, base: str, pattern: str) -> Path:
    value = {"name": "v", "type": "string", "required": True, "pattern": pattern}
    query = {"name": "v", "in": "query", "value": "{{v}}"}
    op = {"name": "op", "method": "GET", "inputParameters": [query]}
    return tool_spec(folder, base, op, {"inputParameters": [value]})


async def test_a_catastrophically_backtracking_pattern_is_refused_in_bounded_time(
    upstream: Upstream, seen: Recorder, tmp_path: Path
) -> None:
    # Python's `re` needs about 2**40 steps for this value: the process would hang.
    spec = _spec(tmp_path, upstream[0], "^(a|a)+$")
    async with gateway(spec, transport=upstream[2]) as gw:
        with pytest.raises(InputError) as caught:
            await gw.call(gw.tool("t"), {"v": "a" * 40 + "!"})
    assert (caught.value.field, str(caught.value)) == (
        "v",
        "v: could not be checked against pattern '^(a|a)+$' in time",
    )
    assert seen.requests == []


async def test_a_value_matching_a_pattern_reaches_the_upstream(
    upstream: Upstream, seen: Recorder, tmp_path: Path
) -> None:
    async with gateway(_spec(tmp_path, upstream[0], "^(a|a)+$"), transport=upstream[2]) as gw:
        await gw.call(gw.tool("t"), {"v": "aaa"})
        with pytest.raises(InputError) as caught:
            await gw.call(gw.tool("t"), {"v": "ab"})
    assert str(caught.value) == "v: does not match pattern '^(a|a)+$'"
    assert [r.query for r in seen.requests] == ["v=aaa"]


async def test_a_pattern_with_unicode_properties_is_enforced(
    upstream: Upstream, seen: Recorder, tmp_path: Path
) -> None:
    # JSON Schema patterns are ECMA-262: `\p{L}` is common in imported OpenAPI documents.
    async with gateway(_spec(tmp_path, upstream[0], r"^\p{L}+$"), transport=upstream[2]) as gw:
        await gw.call(gw.tool("t"), {"v": "café"})
        with pytest.raises(InputError):
            await gw.call(gw.tool("t"), {"v": "caf3"})
    assert [r.query for r in seen.requests] == ["v=caf%C3%A9"]

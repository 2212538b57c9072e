"""The skill adapter: a read-only catalog of skills and their files, served over its listeners."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from naftiko.errors import NaftikoError
from naftiko.runtime import build
from naftiko.settings import Settings
from tests.support.inprocess import serving
from tests.support.problems import problem_body
from tests.support.specs import ORDERS_REST, write_capability
from tests.support.threaded import Gateway, naftiko_thread

ORDER_MANAGEMENT = {
    "name": "order-management",
    "description": "Tools for managing orders",
    "license": "Apache-2.0",
    "compatibility": "claude-code",
    "argument-hint": "Use for order operations",
    "allowed-tools": "list-orders",
    "user-invocable": True,
    "disable-model-invocation": False,
    "metadata": {"team": "orders", "version": 2},
    "location": "file:///./skills/order-management",
    "tools": [
        {
            "name": "list-orders",
            "description": "List all orders in the system",
            "from": {"sourceNamespace": "orders-rest", "action": "list-orders"},
        },
        {
            "name": "order-guide",
            "description": "Guide for working with orders",
            "instruction": "order-guide.md",
        },
    ],
}
ONBOARDING = {"name": "onboarding-guide", "description": "A purely descriptive skill"}
GHOST = {"name": "ghost", "description": "Its folder is missing", "location": "./skills/ghost"}


def _skill_adapter(**changes: Any) -> dict[str, Any]:
    adapter = {
        "type": "skill",
        "port": 0,
        "namespace": "orders-skills",
        "description": "Order management skills catalog",
        "skills": [ORDER_MANAGEMENT, ONBOARDING, GHOST],
    }
    return {**adapter, **changes}


def _write_skill_folder(folder: Path) -> None:
    """`order-management` with a nested file, and a symlink that leads out of the folder."""
    skill = folder / "skills" / "order-management"
    (skill / "examples").mkdir(parents=True)
    (skill / "order-guide.md").write_text("# Working with orders\n")
    (skill / "examples" / "usage.txt").write_text("list-orders\n")
    (skill / "SKILL.md").write_text("---\nname: order-management\n---\n")
    (folder / "secret.txt").write_text("not for callers\n")
    (skill / "escape.txt").symlink_to(folder / "secret.txt")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("skills")
    _write_skill_folder(folder)
    control = {"type": "control", "port": 0}
    spec = write_capability(folder, ORDERS_REST, _skill_adapter(), control)
    with naftiko_thread(spec) as running:
        yield running


@pytest.fixture
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url("orders-skills")) as client:
        yield client


def test_the_catalog_lists_every_skill_with_its_tool_names(client: httpx.Client) -> None:
    response = client.get("/skills")
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "count": 3,
        "skills": [
            {
                "name": "order-management",
                "description": "Tools for managing orders",
                "license": "Apache-2.0",
                "tools": ["list-orders", "order-guide"],
            },
            {"name": "onboarding-guide", "description": "A purely descriptive skill", "tools": []},
            {"name": "ghost", "description": "Its folder is missing", "tools": []},
        ],
    }


def test_a_skill_detail_says_how_each_tool_is_invoked(client: httpx.Client) -> None:
    assert client.get("/skills/order-management").json() == {
        "name": "order-management",
        "description": "Tools for managing orders",
        "license": "Apache-2.0",
        "compatibility": "claude-code",
        "argument-hint": "Use for order operations",
        "allowed-tools": "list-orders",
        "user-invocable": True,
        "disable-model-invocation": False,
        "metadata": {"team": "orders", "version": "2"},
        "tools": [
            {
                "name": "list-orders",
                "description": "List all orders in the system",
                "type": "derived",
                "invocationRef": {
                    "targetNamespace": "orders-rest",
                    "action": "list-orders",
                    "mode": "rest",
                },
            },
            {
                "name": "order-guide",
                "description": "Guide for working with orders",
                "type": "instruction",
                "instruction": "order-guide.md",
            },
        ],
    }


def test_a_skill_without_optional_fields_has_only_name_description_and_tools(
    client: httpx.Client,
) -> None:
    assert client.get("/skills/onboarding-guide").json() == {
        "name": "onboarding-guide",
        "description": "A purely descriptive skill",
        "tools": [],
    }


def test_the_contents_list_every_file_inside_the_folder_sorted(client: httpx.Client) -> None:
    assert client.get("/skills/order-management/contents").json() == {
        "name": "order-management",
        "files": [
            {"path": "SKILL.md", "size": 31, "type": "text/markdown"},
            {"path": "examples/usage.txt", "size": 12, "type": "text/plain"},
            {"path": "order-guide.md", "size": 22, "type": "text/markdown"},
        ],
    }


def test_a_file_is_served_with_a_media_type_from_its_extension(client: httpx.Client) -> None:
    response = client.get("/skills/order-management/contents/order-guide.md")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    assert response.text == "# Working with orders\n"


def test_a_nested_file_is_served_by_its_relative_path(client: httpx.Client) -> None:
    response = client.get("/skills/order-management/contents/examples/usage.txt")
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "list-orders\n"


def test_the_download_is_a_zip_of_the_skill_folder(client: httpx.Client) -> None:
    response = client.get("/skills/order-management/download")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == ["SKILL.md", "examples/usage.txt", "order-guide.md"]
    assert archive.read("order-guide.md") == b"# Working with orders\n"


@pytest.mark.parametrize(
    "file",
    ["%2E%2E/secret.txt", "..%2Fsecret.txt", "examples/%2E%2E/order-guide.md", "a%20b.md"],
)
def test_an_unsafe_path_segment_is_refused_with_400(client: httpx.Client, file: str) -> None:
    response = client.get(f"/skills/order-management/contents/{file}")
    assert "unsafe path segment" in problem_body(response, 400)["detail"]


@pytest.mark.parametrize("file", ["a" * 300 + ".md", "/".join(["b" * 250] * 20)])
def test_a_name_longer_than_the_filesystem_holds_is_404_not_500(
    client: httpx.Client, file: str
) -> None:
    response = client.get(f"/skills/order-management/contents/{file}")
    assert problem_body(response, 404)["detail"].startswith("file '")


def test_a_symlink_leading_out_of_the_folder_is_refused_with_400(client: httpx.Client) -> None:
    response = client.get("/skills/order-management/contents/escape.txt")
    assert problem_body(response, 400)["detail"] == "path leads outside the skill folder"


@pytest.mark.parametrize(
    "path", ["/nope", "/nope/download", "/nope/contents", "/nope/contents/order-guide.md"]
)
def test_an_unknown_skill_is_404(client: httpx.Client, path: str) -> None:
    response = client.get(f"/skills{path}")
    assert problem_body(response, 404)["detail"] == "skill 'nope' not found"


@pytest.mark.parametrize("path", ["/download", "/contents", "/contents/SKILL.md"])
def test_a_skill_without_location_has_no_files(client: httpx.Client, path: str) -> None:
    response = client.get(f"/skills/onboarding-guide{path}")
    assert problem_body(response, 404)["detail"] == "skill 'onboarding-guide' has no location"


@pytest.mark.parametrize("path", ["/download", "/contents", "/contents/SKILL.md"])
def test_a_missing_location_folder_is_404(client: httpx.Client, path: str) -> None:
    response = client.get(f"/skills/ghost{path}")
    assert problem_body(response, 404)["detail"] == "location folder of skill 'ghost' not found"


def test_a_missing_file_is_404(client: httpx.Client) -> None:
    response = client.get("/skills/order-management/contents/examples/missing.md")
    problem_body(response, 404)


def test_a_path_outside_the_catalog_is_404(client: httpx.Client) -> None:
    problem_body(client.get("/orders"), 404)


def test_the_catalog_is_read_only(client: httpx.Client) -> None:
    response = client.post("/skills/order-management", json={})
    assert problem_body(response, 405)["allow"] == ["GET", "HEAD", "OPTIONS"]
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


def _count(metrics: str, **labels: str) -> int:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    match = re.search(rf"^naftiko_request_total\{{{re.escape(wanted)}\}} ([\d.]+)$", metrics, re.M)
    return int(float(match.group(1))) if match else 0


def test_each_request_is_counted_under_its_path_template(
    gateway: Gateway, client: httpx.Client
) -> None:
    metrics_url = gateway.url("control") + "/metrics"
    labels = {
        "naftiko_adapter_type": "skill",
        "naftiko_operation_id": "/skills/{name}/contents/{file}",
        "status": "404",
    }
    before = _count(httpx.get(metrics_url).text, **labels)
    client.get("/skills/order-management/contents/absent.md")
    assert _count(httpx.get(metrics_url).text, **labels) == before + 1


async def test_a_guarded_catalog_needs_the_token(tmp_path: Path) -> None:
    skill = _skill_adapter(
        authentication={"type": "bearer", "token": "s3cret"}, skills=[ONBOARDING]
    )
    spec = write_capability(tmp_path, ORDERS_REST, skill)
    async with serving(spec) as gateway, gateway.client("orders-skills") as client:
        problem_body(await client.get("/skills"), 401)
        problem_body(await client.get("/skills", headers={"Authorization": "Bearer wrong"}), 401)
        granted = await client.get("/skills", headers={"Authorization": "Bearer s3cret"})
        assert granted.json()["count"] == 1


async def test_an_absolute_file_uri_location_is_served(tmp_path: Path) -> None:
    _write_skill_folder(tmp_path)
    folder = tmp_path / "skills" / "order-management"
    located = {**ORDER_MANAGEMENT, "location": folder.as_uri()}
    spec = write_capability(tmp_path, ORDERS_REST, _skill_adapter(skills=[located]))
    async with serving(spec) as gateway, gateway.client("orders-skills") as client:
        response = await client.get("/skills/order-management/contents/order-guide.md")
        assert response.text == "# Working with orders\n"


async def test_a_tool_derived_from_an_mcp_adapter_has_mode_mcp(tmp_path: Path) -> None:
    mcp = {
        "type": "mcp",
        "port": 0,
        "namespace": "orders-mcp",
        "tools": [
            {
                "name": "list-orders",
                "description": "List orders",
                "outputParameters": [{"name": "count", "type": "number", "value": 2}],
            }
        ],
    }
    tool = {
        "name": "list-orders",
        "description": "List orders",
        "from": {"sourceNamespace": "orders-mcp", "action": "list-orders"},
    }
    skill = _skill_adapter(skills=[{"name": "ops", "description": "Ops", "tools": [tool]}])
    spec = write_capability(tmp_path, mcp, skill)
    async with serving(spec) as gateway, gateway.client("orders-skills") as client:
        detail = (await client.get("/skills/ops")).json()
    assert detail["tools"][0]["invocationRef"]["mode"] == "mcp"


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        ({"name": "t"}, "needs exactly one of `from` or `instruction`"),
        (
            {
                "name": "t",
                "instruction": "a.md",
                "from": {"sourceNamespace": "orders-rest", "action": "list-orders"},
            },
            "needs exactly one of `from` or `instruction`",
        ),
        (
            {"name": "t", "from": {"sourceNamespace": "billing", "action": "x"}},
            "points at namespace 'billing', which is no rest or mcp adapter",
        ),
        ({"name": "t", "instruction": "a.md"}, "uses `instruction` but the skill has no"),
    ],
)
def test_a_tool_that_cannot_be_described_stops_startup_at_its_line(
    tmp_path: Path, tool: dict[str, Any], message: str
) -> None:
    skill = _skill_adapter(skills=[{"name": "s", "description": "d", "tools": [tool]}])
    spec = write_capability(tmp_path, ORDERS_REST, skill)
    with pytest.raises(NaftikoError) as refused:
        build([spec], Settings(), {})
    # What `naftiko run` prints is this error's text, as its one line, exit code 1, no
    # traceback (the process is tests/test_run_cli.py's).
    line = str(refused.value)
    assert "\n" not in line
    assert f"{spec}:" in line
    assert "skills[0].tools[0]" in line
    assert message in line

"""The seed served over REST (the listeners `naftiko run` opens, in a thread of the test
process), driven by the real `openai` client; the upstream timeout in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2 as httpx
import pytest

from naftiko.engine.options import Timeouts
from naftiko.settings import Settings
from tests.support.cycles import naftiko_cycles
from tests.support.groq import TOKEN
from tests.support.inprocess import serving
from tests.support.servers import Recorder
from tests.support.specs import seed_for
from tests.support.threaded import Gateway, naftiko_thread

if TYPE_CHECKING:
    import openai

ADAPTERS = 2  # the seed exposes REST and MCP


@pytest.fixture(scope="module")
def gateway(
    groq_upstream: tuple[str, Recorder], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    url, _ = groq_upstream
    spec = seed_for(url, tmp_path_factory.mktemp("seed"))
    with naftiko_thread(spec, env={"GROQ_API_KEY": TOKEN}) as running:
        yield running


@pytest.fixture
def client(gateway: Gateway) -> openai.OpenAI:
    import openai  # here, not at collection: the SDK takes ~0.4 s to import

    base = gateway.url("groq-batch-rest") + "/v1/openai/v1"
    return openai.OpenAI(api_key="caller-key-not-for-upstream", base_url=base, max_retries=0)


@pytest.fixture
def http(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url("groq-batch-rest"), timeout=10) as client:
        yield client


def test_batches_create_sends_the_json_body_with_the_bound_bearer_token(
    client: openai.OpenAI, recorder: Recorder
) -> None:
    created = client.batches.create(
        input_file_id="file_01", endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert created.id == "batch_new"
    (sent,) = recorder.requests
    assert (sent.method, sent.path) == ("POST", "/openai/v1/batches")
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Content-Type"] == "application/json"
    assert httpx.Response(200, content=sent.body).json() == {
        "input_file_id": "file_01",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }


def test_batches_list_returns_the_upstream_page(client: openai.OpenAI) -> None:
    page = client.batches.list()
    assert [b.id for b in page.data] == ["batch_01", "batch_02"]


def test_batches_retrieve_reaches_the_batch_by_id(
    client: openai.OpenAI, recorder: Recorder
) -> None:
    batch = client.batches.retrieve("batch_42")
    assert (batch.id, batch.status) == ("batch_42", "validating")
    assert [r.path for r in recorder.requests] == ["/openai/v1/batches/batch_42"]


def test_batches_cancel_posts_to_the_cancel_resource(
    client: openai.OpenAI, recorder: Recorder
) -> None:
    batch = client.batches.cancel("batch_42")
    assert batch.status == "cancelling"
    assert [(r.method, r.path) for r in recorder.requests] == [
        ("POST", "/openai/v1/batches/batch_42/cancel")
    ]


def test_the_callers_own_authorization_is_never_forwarded(
    client: openai.OpenAI, recorder: Recorder
) -> None:
    client.batches.retrieve("batch_1")
    assert "caller-key-not-for-upstream" not in str(recorder.requests[0].headers)


def test_an_upstream_404_raises_the_clients_not_found_error(client: openai.OpenAI) -> None:
    import openai

    with pytest.raises(openai.NotFoundError) as raised:
        client.batches.retrieve("missing")
    assert raised.value.status_code == 404
    assert "batch missing not found" in str(raised.value)


def test_a_traversal_batch_id_stays_one_encoded_segment_upstream(
    client: openai.OpenAI, recorder: Recorder
) -> None:
    client.batches.retrieve("../../files")
    (sent,) = recorder.requests
    assert sent.raw_path == "/openai/v1/batches/..%2F..%2Ffiles"


def test_a_missing_body_is_a_400_problem_naming_the_field(
    http: httpx.Client, recorder: Recorder
) -> None:
    response = http.post("/v1/openai/v1/batches")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "body"
    assert recorder.requests == []


def test_an_upstream_500_passes_its_status_and_error_through(http: httpx.Client) -> None:
    response = http.get("/v1/openai/v1/batches/boom")
    assert response.status_code == 500
    assert response.json()["error"]["message"] == "internal failure"


@pytest.mark.parametrize("batch_id", ["reset", "html"])
def test_a_broken_upstream_is_a_502_problem_and_serving_goes_on(
    http: httpx.Client, batch_id: str
) -> None:
    response = http.get(f"/v1/openai/v1/batches/{batch_id}")
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert http.get("/v1/openai/v1/batches/after").status_code == 200


def test_an_unknown_path_is_a_404_problem(http: httpx.Client) -> None:
    response = http.get("/v1/nothing-here")
    assert (response.status_code, response.json()["status"]) == (404, 404)


def test_a_wrong_method_is_a_405_problem(http: httpx.Client) -> None:
    assert http.delete("/v1/openai/v1/batches").status_code == 405


def test_openapi_json_describes_every_operation(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert sorted((path, method) for path, ops in document["paths"].items() for method in ops) == [
        ("/v1/openai/v1/batches", "get"),
        ("/v1/openai/v1/batches", "post"),
        ("/v1/openai/v1/batches/{batch-id}", "get"),
        ("/v1/openai/v1/batches/{batch-id}/cancel", "post"),
    ]


def test_an_oversized_body_is_refused_with_413(http: httpx.Client, recorder: Recorder) -> None:
    response = http.post("/v1/openai/v1/batches", content=b"x" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.json()["title"] == "Payload Too Large"
    assert recorder.requests == []


def test_the_token_never_appears_in_responses_or_logs(
    gateway: Gateway, client: openai.OpenAI, http: httpx.Client
) -> None:
    texts = [http.get(f"/v1/openai/v1/batches/{b}").text for b in ("boom", "missing", "html", "x")]
    texts.append(client.batches.list().model_dump_json())
    assert all(TOKEN not in text for text in texts)
    assert TOKEN not in gateway.logs()


async def test_an_upstream_timeout_is_a_504_problem(
    groq_upstream: tuple[str, Recorder], tmp_path: Path
) -> None:
    spec = seed_for(groq_upstream[0], tmp_path)
    settings = Settings(timeouts=Timeouts(total=0.2))
    env = {"GROQ_API_KEY": TOKEN}
    async with (
        serving(spec, env=env, settings=settings) as gateway,
        gateway.client("groq-batch-rest") as http,
    ):
        response = await http.get("/v1/openai/v1/batches/slow")
        assert response.status_code == 504
        assert response.json()["title"] == "Gateway Timeout"
        assert (await http.get("/v1/openai/v1/batches/ok")).status_code == 200


def test_answered_requests_and_closed_connections_leave_no_reference_cycles(
    http: httpx.Client,
) -> None:
    # Answers plain and failed, on connections the gateway closes after them.
    close = {"Connection": "close"}
    with naftiko_cycles() as left:
        for path in ("batch_1", "", "missing", "boom", "reset", "html"):
            http.get(f"/v1/openai/v1/batches/{path}".rstrip("/"), headers=close)
            http.get(f"/v1/openai/v1/batches/{path}".rstrip("/"))
        http.post("/v1/openai/v1/batches", headers=close)  # a 400 problem
        # A 404 problem, answered after the closes before it were handled: the gateway's loop
        # runs a closed connection's callbacks before it reads a new connection's request.
        http.get("/v1/nothing-here", headers=close)
        http.get("/v1/nothing-here")
    assert left == []

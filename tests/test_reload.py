"""Reload without dropping a request: under a bounded load loop, twenty reloads (values
changed, an adapter added then removed) fail no request; a broken version is refused with
its located problem logged while the old one keeps serving; SIGHUP and `--watch` reload too."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path
from typing import Any

import httpx2 as httpx

from naftiko.errors import Location, SpecError
from naftiko.reload import Generation, Reloader
from tests.support.load import Load
from tests.support.process import naftiko_run, until
from tests.support.specs import ORDERS_REST, write_capability
from tests.support.yamlio import dump_yaml, load_yaml

CONTROL = {
    "type": "control",
    "port": 0,
    "namespace": "control",
    "management": {"health": True, "info": True, "reload": True},
}
LOAD_THREADS = 4
LOAD_BOUND = 20_000  # requests per thread at most; the loop also stops when told


def _orders(count: int, namespace: str = "orders-rest") -> dict[str, Any]:
    rest: dict[str, Any] = load_yaml(dump_yaml(ORDERS_REST))
    rest["namespace"] = namespace
    rest["resources"][0]["operations"][0]["outputParameters"][0]["value"] = count
    return rest


def test_twenty_reloads_under_load_fail_no_request_and_add_then_remove_an_adapter(
    tmp_path: Path,
) -> None:
    spec = write_capability(tmp_path, CONTROL, _orders(0))
    with naftiko_run(spec, adapters=2) as running:
        control, rest = running.url("control"), running.url("orders-rest")
        seen: dict[int, int] = {}

        def count(answer: httpx.Response) -> None:
            number = answer.json()["count"]
            seen[number] = seen.get(number, 0) + 1

        load = Load(rest + "/orders", threads=LOAD_THREADS, bound=LOAD_BOUND, answered=count)
        with load, httpx.Client(timeout=30) as client:
            for n in range(1, 21):
                extra = [_orders(n, "extra-rest")] if n == 10 else []
                write_capability(tmp_path, CONTROL, _orders(n), *extra)
                answer = client.post(control + "/config/reload")
                assert answer.status_code == 200, answer.text
                if n == 10:
                    assert "1 port(s) opened" in answer.json()["detail"]
                    adapters = client.get(control + "/status").json()["adapters"]
                    port = next(a["port"] for a in adapters if a["namespace"] == "extra-rest")
                    extra_url = f"http://127.0.0.1:{port}/orders"
                    assert httpx.get(extra_url).json() == {"count": 10}
                if n == 11:
                    assert "1 closed" in answer.json()["detail"]
                    until(lambda url=extra_url: _refused(url))
                until(lambda count=n: seen.get(count))  # the new version answers
    assert load.failures == []
    assert set(seen) <= set(range(21)) and 20 in seen
    assert "Traceback" not in running.logs()


def _refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=5)
    except httpx.ConnectError:
        return True
    except httpx.TransportError:
        # Accepted while the removed listener was closing, then reset: not gone yet, ask again.
        return False
    return False


def test_a_broken_version_is_refused_with_its_location_and_sighup_and_watch_reload(
    tmp_path: Path,
) -> None:
    spec = write_capability(tmp_path, CONTROL, _orders(1))
    with naftiko_run(spec, args=("--watch",), adapters=2) as running:
        rest = running.url("orders-rest") + "/orders"
        broken = spec.read_text().replace("value: 1", "value: [1")
        spec.write_text(broken)
        running.process.send_signal(signal.SIGHUP)
        refused = running.stderr_line("reload refused")
        assert "capability.yaml:" in refused and "YAML syntax error" in refused
        assert httpx.get(rest).json() == {"count": 1}
        # A fixed file is picked up by the watcher alone.
        write_capability(tmp_path, CONTROL, _orders(2))
        until(lambda: httpx.get(rest).json() == {"count": 2})
        write_capability(tmp_path, CONTROL, _orders(3))
        running.process.send_signal(signal.SIGHUP)
        until(lambda: httpx.get(rest).json() == {"count": 3})
    assert "Traceback" not in running.logs()


async def test_the_running_version_keeps_answering_while_a_new_one_is_built() -> None:
    # Building a large spec takes seconds (10,000 operations: ~8 s); the event loop that
    # serves the running version must not wait for it.
    building, release = threading.Event(), threading.Event()

    def rebuild(old: Any) -> Any:
        building.set()
        release.wait(30)
        raise SpecError.single(Location("spec.yaml"), "refused once the test has looked")

    async def unused(*_: Any) -> Any:
        raise AssertionError("no listener changes for a refused version")

    reloader = Reloader(rebuild, unused, unused, 1.0, Generation(object()))
    reload = asyncio.create_task(reloader.reload())
    assert await asyncio.to_thread(building.wait, 30)
    served_meanwhile = not reload.done()  # this loop ran while the build was under way
    release.set()
    assert (served_meanwhile, await reload) == (
        True,
        (False, "spec.yaml: refused once the test has looked"),
    )

"""Script-step engines compared: start-up, per-call cost, and whether the limits hold.

    python bench/scripting.py [--calls 200]

Candidates are the embeddable JavaScript engines on PyPI — `quickjs-ng` (what naftiko uses),
`mini-racer` (V8), `dukpy` (Duktape), `pythonmonkey` (SpiderMonkey) — each measured only if
installed (install the others in a scratch venv: they are never naftiko dependencies), plus
naftiko's seccomp-confined Python child. Per call: a fresh context (no state shared between
calls), a 100-row `context`, a filter/map script. Limits: an endless loop under a 1 s limit, an
allocation loop under a 16 MiB limit, and which host objects the global scope exposes.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

SCRIPT = (
    "var out = []; for (var i = 0; i < context.items.length; i++) {"
    " if (context.items[i].active) out.push({login: context.items[i].login}); } result = out;"
)
CONTEXT = {"items": [{"login": f"u{i}", "id": i, "active": i % 2 == 0} for i in range(100)]}
LOOP = "while (true) {}"
ALLOC = "var a = []; while (true) { a.push(new Array(100000).fill(1)); }"
HOST = "[typeof require, typeof process, typeof fetch, typeof XMLHttpRequest, typeof os].join()"
MIB = 1024 * 1024


def _median_us(call: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def _limit(call: Callable[[], Any]) -> str:
    started = time.perf_counter()
    try:
        call()
    except Exception as exc:
        reason = str(exc).splitlines()[0][:40] if str(exc) else type(exc).__name__
        return f"stopped in {(time.perf_counter() - started) * 1000:.0f} ms ({reason})"
    return "NOT stopped"


def quickjs_row(n: int) -> list[str]:
    quickjs = importlib.import_module("quickjs")

    def fresh(seconds: float = 1.0, memory: int = 16 * MIB) -> Any:
        js = quickjs.Context()
        js.set_time_limit(seconds)
        js.set_memory_limit(memory)
        return js

    def call() -> Any:
        js = fresh()
        js.set("__c", json.dumps(CONTEXT))
        js.eval("var context = JSON.parse(__c);")
        js.eval(SCRIPT)
        return js.eval("JSON.stringify(result)")

    return [
        "quickjs-ng (QuickJS)",
        f"{_median_us(fresh, n):.0f}",
        f"{_median_us(call, n):.0f}",
        _limit(lambda: fresh().eval(LOOP)),
        _limit(lambda: fresh().eval(ALLOC)),
        fresh().eval(HOST),
    ]


def mini_racer_row(n: int) -> list[str]:
    racer = importlib.import_module("py_mini_racer").MiniRacer

    def call() -> Any:
        v8 = racer()
        v8.eval("var context = " + json.dumps(CONTEXT) + ";")
        v8.eval(SCRIPT)
        return v8.eval("JSON.stringify(result)")

    few = max(5, n // 10)  # each isolate costs milliseconds
    return [
        "mini-racer (V8)",
        f"{_median_us(racer, few):.0f}",
        f"{_median_us(call, few):.0f}",
        _limit(lambda: racer().eval(LOOP, timeout=1000)),
        _limit(lambda: racer().eval(ALLOC, max_memory=16 * MIB)),
        racer().eval(HOST),
    ]


def dukpy_row(n: int) -> list[str]:
    dukpy = importlib.import_module("dukpy")

    def call() -> Any:
        return dukpy.evaljs(["var context = dukpy.ctx;", SCRIPT, "result"], ctx=CONTEXT)

    return [
        "dukpy (Duktape)",
        f"{_median_us(lambda: dukpy.evaljs('1'), n):.0f}",
        f"{_median_us(call, n):.0f}",
        "no time limit in the API (would hang)",
        "no memory limit in the API",
        dukpy.evaljs(HOST),
    ]


def pythonmonkey_row(n: int) -> list[str]:
    started = time.perf_counter()
    pm = importlib.import_module("pythonmonkey")
    startup = (time.perf_counter() - started) * 1e6

    def call() -> Any:
        return pm.eval("(function (context) {" + SCRIPT + " return JSON.stringify(result); })")(
            CONTEXT
        )

    return [
        "pythonmonkey (SpiderMonkey)",
        f"{startup:.0f} (one shared global)",
        f"{_median_us(call, n):.0f}",
        "no time limit in the API",
        "no memory limit in the API",
        pm.eval(HOST),
    ]


def python_row(n: int) -> list[str]:
    from naftiko.engine.pysandbox import run_python

    source = "result = [r['login'] for r in context['items'] if r['active']]"
    context = json.dumps(CONTEXT)

    def call(code: str = source, timeout: int = 1000) -> Any:
        return asyncio.run(run_python("bench", code, context, timeout, 16 * MIB))

    few = max(5, n // 20)
    return [
        "naftiko python child (seccomp)",
        "(a process per call)",
        f"{_median_us(call, few):.0f}",
        _limit(lambda: call("while True:\n    pass")),
        _limit(lambda: call("a = []\nwhile True:\n    a.append(bytearray(10**7))")),
        "open/socket/fork → EPERM (kernel filter)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    calls = parser.parse_args().calls
    print(
        "| engine | new context (µs) | per call (µs) | endless loop, 1 s limit | "
        "allocation, 16 MiB limit | host objects (require, process, fetch, XHR, os) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for row in (quickjs_row, mini_racer_row, dukpy_row, pythonmonkey_row, python_row):
        try:
            cells = row(calls)
        except ImportError as exc:
            cells = [row.__name__.removesuffix("_row"), f"not installed ({exc.name})"] + [""] * 4
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

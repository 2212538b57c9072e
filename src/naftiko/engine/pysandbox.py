"""Python script steps, run in a child process that the kernel confines.

The child (this interpreter, isolated mode) reads the script and its `context` from stdin,
sets its own memory (RLIMIT_AS) and CPU-time (RLIMIT_CPU) limits, then installs a seccomp
filter that lets it compute and nothing else: read stdin, write stdout/stderr, manage its own
memory and exit. Opening a file, a socket or a process fails with EPERM whatever the script
does (`import os` included), so the sandbox holds by construction, not by hiding builtins.
A fresh process per call: no state survives from one call to the next. Where seccomp is not
available (no libseccomp, another OS), Python scripts are refused at startup.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import signal
import sys
from functools import lru_cache
from typing import Any

from naftiko.errors import InputError

# Start-up of the child (an interpreter and a few modules) is not the script's time.
_START_GRACE_S = 5.0
_BASE_MEMORY = 96 * 1024 * 1024  # the interpreter's own address space
_CHILD = r"""
import sys, json, resource
limits = json.loads(sys.argv[1])
# Modules a script may import: loaded now, since nothing can be opened once confined.
import math, statistics, re, datetime, collections, itertools, functools, decimal, fractions
import operator, string, random, copy
import pyseccomp as sc
payload = json.loads(sys.stdin.buffer.read())
resource.setrlimit(resource.RLIMIT_AS, (limits["memory"], limits["memory"]))
resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu"], limits["cpu"] + 1))
confined = sc.SyscallFilter(defaction=sc.ERRNO(1))
for name in ("brk", "mmap", "munmap", "mremap", "madvise", "mprotect", "rt_sigreturn",
             "rt_sigprocmask", "exit", "exit_group", "futex", "clock_gettime", "getrandom"):
    confined.add_rule(sc.ALLOW, name)
confined.add_rule(sc.ALLOW, "read", sc.Arg(0, sc.EQ, 0))
confined.add_rule(sc.ALLOW, "write", sc.Arg(0, sc.EQ, 1))
confined.add_rule(sc.ALLOW, "write", sc.Arg(0, sc.EQ, 2))
confined.load()
del confined, sc, resource
# What the script prints goes to stderr: stdout carries its result alone.
answer, sys.stdout = sys.stdout, sys.stderr
scope = {"context": payload["context"], "__name__": "script"}
exec(compile(payload["source"], payload["name"], "exec"), scope)
out = {"assigned": "result" in scope, "result": scope.get("result")}
answer.write(json.dumps(out, default=str))
answer.flush()
"""


@lru_cache(maxsize=1)
def available() -> str | None:
    """None when Python scripts can be confined here, else why not."""
    if not sys.platform.startswith("linux"):
        return "seccomp needs Linux"
    try:
        import pyseccomp
    except (ImportError, OSError) as exc:
        return f"seccomp is not available ({type(exc).__name__})"
    try:
        pyseccomp.SyscallFilter(defaction=pyseccomp.ERRNO(1))
    except (OSError, RuntimeError, AttributeError) as exc:
        return f"seccomp is not available ({exc})"
    return None


async def run_python(
    name: str, source: str, context: str, timeout_ms: int, memory_bytes: int
) -> tuple[bool, Any]:
    """(assigned, value) of a Python script; a failure or a broken limit is an InputError
    naming the step, as for JavaScript."""
    limits = {"memory": _BASE_MEMORY + memory_bytes, "cpu": max(1, math.ceil(timeout_ms / 1000))}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-c",
        _CHILD,
        json.dumps(limits),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={},
    )
    payload = (
        f'{{"name": {json.dumps(name)}, "source": {json.dumps(source)}, "context": {context}}}'
    )
    try:
        out, err = await asyncio.wait_for(
            _exchange(child, payload.encode(), limits["memory"]),
            _START_GRACE_S + timeout_ms / 1000,
        )
    except (TimeoutError, _Flood) as exc:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await _finish(child)
        reason = "time limit exceeded" if isinstance(exc, TimeoutError) else str(exc)
        raise InputError(name, f"script failed: {reason}") from None
    if child.returncode != 0:
        raise InputError(name, f"script failed: {_reason(child.returncode, err)}")
    try:
        answer = json.loads(out)
        return bool(answer["assigned"]), answer["result"]
    except (ValueError, TypeError, KeyError):
        # It ended early (`sys.exit(0)`) or wrote over its own answer (`sys.__stdout__`).
        raise InputError(name, "script failed: it ended without a result") from None


async def _finish(child: asyncio.subprocess.Process) -> None:
    """Wait for a killed child. Its pipes are read to their end first: a reader stopped with
    data left pauses its pipe, which then never reports its end, and `wait` waits for it."""
    for stream in (child.stdout, child.stderr):
        if stream is not None:
            while await stream.read(65536):
                pass
    await child.wait()


class _Flood(Exception):
    """The child wrote more than its memory limit could ever have held as a result."""


# Only the last line of stderr is shown (the exception); its tail is all that is kept.
_ERR_TAIL = 64 * 1024


async def _exchange(
    child: asyncio.subprocess.Process, payload: bytes, cap: int
) -> tuple[bytes, bytes]:
    """`communicate`, bounded: it kept all of stdout and stderr, so a script printing in a
    loop until its time limit grew the gateway by gigabytes."""
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    stdin, stdout, stderr = child.stdin, child.stdout, child.stderr

    async def feed() -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.write(payload)
            await stdin.drain()
            stdin.close()

    async def result() -> bytes:
        data = bytearray()
        while chunk := await stdout.read(65536):
            data += chunk
            if len(data) > cap:
                raise _Flood("its result is larger than its memory limit")
        return bytes(data)

    async def errors() -> bytes:
        tail = b""
        while chunk := await stderr.read(65536):
            tail = (tail + chunk)[-_ERR_TAIL:]
        return tail

    reading = asyncio.gather(feed(), result(), errors())
    try:
        _, out, err = await reading
    except BaseException:
        reading.cancel()  # the child is killed next: nothing is left to read
        raise
    await child.wait()
    return out, err


def _reason(code: int | None, err: bytes) -> str:
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        return "time limit exceeded"
    lines = err.decode("utf-8", errors="replace").strip().splitlines()
    last = lines[-1] if lines else f"exit status {code}"
    if last.startswith("MemoryError"):
        return "memory limit exceeded"
    return last[:300]

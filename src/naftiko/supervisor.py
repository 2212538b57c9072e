"""`naftiko run --workers N`: one supervisor binds every port, then forks N workers that
accept on those same sockets (as gunicorn does), replaces a worker that dies, forwards SIGHUP
(reload) once the new version builds, and on SIGTERM lets every worker drain before it exits.

Workers share one directory (`PROMETHEUS_MULTIPROC_DIR`, made for the run when unset):
prometheus_client's multi-process mode writes each worker's series there and the control port
of any worker sums them all, so `/metrics` is the whole process group's; the supervisor keeps
the worker list there for `/status`."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.multiprocess import mark_process_dead

from naftiko.engine.metrics import Metrics
from naftiko.listeners import bind
from naftiko.reload import listener_key, refused
from naftiko.runtime import Runtime, build
from naftiko.settings import Settings

log = logging.getLogger("naftiko")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


class Supervisor:
    def __init__(self, specs: list[Path], settings: Settings, serve: Callable[..., None]) -> None:
        self.count = settings.workers
        self.serve = serve  # runs one worker's event loop to its end
        self.sockets: dict[tuple[str, int], socket.socket] = {}
        self.workers: dict[int, dict[str, Any]] = {}
        self.stopping = False
        self.made_directory = MULTIPROC_ENV not in os.environ
        self.directory = Path(
            os.environ.get(MULTIPROC_ENV) or tempfile.mkdtemp(prefix="naftiko-workers-")
        )
        os.environ[MULTIPROC_ENV] = str(self.directory)
        # prometheus_client picks its value storage when first imported; imported before the
        # folder was set (the CLI loads the runtime first), it must pick again, before any
        # metric exists, so that the workers' values land in the shared folder.
        values = sys.modules.get("prometheus_client.values")
        if values is not None:
            vars(values)["ValueClass"] = values.get_value_class()
        self.replaced = 0
        # prometheus_client's multi-process mode: every worker writes its series into the
        # shared folder, and `/metrics` of any worker sums them all (engine/metrics.py).
        self.metrics = Metrics()
        try:
            self.runtime = build(specs, settings, os.environ, metrics=self.metrics)
        except BaseException:
            self._clean()
            raise

    def _clean(self) -> None:
        if self.made_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def run(self, announce: Callable[[Runtime], None]) -> int:
        for served in self.runtime.served:
            sock = bind(served)
            self.sockets[listener_key(served)] = sock
        announce(self.runtime)
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            for _ in range(self.count):
                self._spawn()
            log.info("supervisor %d: %d worker(s)", os.getpid(), self.count)
            return self._loop()
        finally:
            for sock in self.sockets.values():
                sock.close()
            self._clean()

    def _loop(self) -> int:
        while self.workers:
            received = signal.sigwaitinfo(_SIGNALS)
            if received.si_signo in (signal.SIGTERM, signal.SIGINT) and not self.stopping:
                self.stopping = True
                log.info("supervisor: stopping %d worker(s)", len(self.workers))
                self._tell(signal.SIGTERM)
            elif received.si_signo == signal.SIGHUP and not self.stopping:
                self._reload()
            self._reap()
        return 0

    def _reload(self) -> None:
        try:
            old = self.runtime
            self.runtime = build(old.specs, old.settings, old.environ, metrics=old.metrics)
        except Exception as exc:
            refused(exc)
            return
        self._tell(signal.SIGHUP)  # each worker rebuilds and swaps on its own

    def _tell(self, sig: signal.Signals) -> None:
        for pid in self.workers:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue

    def _reap(self) -> None:
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.workers.clear()
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            mark_process_dead(pid)  # its live gauges leave the sum; its counters stay
            if worker is None or self.stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            log.error("worker %d ended (%s); starting another", pid, _ended(code))
            if time.time() - worker["started"] < 1.0:
                time.sleep(1.0)  # a worker dying at once would otherwise fork in a loop
            self.replaced += 1
            self._spawn()

    def _spawn(self) -> None:
        supervisor = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _end_with(supervisor)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                # SIGHUP stays blocked until the worker's loop handles it (`serve` unblocks
                # it): a reload told while the worker starts is held, neither fatal nor lost.
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS - {signal.SIGHUP})
                self._worker()
                code = 0
            except BaseException:
                log.exception("worker %d failed", os.getpid())
            finally:
                # os._exit skips logging's own flush at exit: buffered access lines first.
                for handler in logging.getLogger().handlers:
                    handler.flush()
                os._exit(code)
        self.workers[pid] = {"pid": pid, "started": time.time()}
        self._write_status()

    def _write_status(self) -> None:
        status = {
            "supervisor": os.getpid(),
            "replaced": self.replaced,
            "workers": sorted(self.workers.values(), key=lambda w: w["started"]),
        }
        temporary = self.directory / "workers.tmp"
        temporary.write_text(json.dumps(status))
        temporary.replace(self.directory / "workers.json")

    def _worker(self) -> None:
        runtime = self.runtime
        status_file = self.directory / "workers.json"
        runtime.workers = lambda: _workers(status_file)
        self.serve(runtime, None, self.sockets)


def _end_with(supervisor: int) -> None:
    """A worker whose supervisor is gone (SIGKILL, OOM) is sent SIGTERM, so it drains and
    exits instead of serving on, unsupervised (Linux; elsewhere it outlives it)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != supervisor:  # gone before the line above took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _workers(path: Path) -> list[dict[str, Any]]:
    try:
        listed: list[dict[str, Any]] = json.loads(path.read_text())["workers"]
    except (OSError, ValueError, KeyError):
        return []
    return [
        {"pid": w["pid"], "uptime_seconds": round(time.time() - w["started"], 3)} for w in listed
    ]


def _ended(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"

"""`naftiko run` as a real process: started on a spec, ready when it prints its URLs."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

NAFTIKO = str(Path(sys.executable).with_name("naftiko"))
# A bound, not a timing: under a loaded machine (parallel workers, coverage in the child)
# a start can take many seconds.
READY_TIMEOUT = 60.0


@dataclass
class Running:
    process: subprocess.Popen[str]
    urls: dict[str, str]
    stderr_lines: list[str] = field(default_factory=list)
    stdout_lines: list[str] = field(default_factory=list)
    stderr_written: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def url(self, namespace: str) -> str:
        return self.urls[namespace]

    def stderr_line(self, text: str, timeout: float = READY_TIMEOUT) -> str:
        """The first stderr line containing `text`, waiting (bounded) until it is written."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((line for line in self.stderr_lines if text in line), None)
            if found is not None:
                return found
            try:
                self.stderr_written.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise AssertionError(f"no stderr line with {text!r}:\n{self.logs()}") from None

    def logs(self) -> str:
        return "\n".join(self.stdout_lines + self.stderr_lines)


def _pump(stream: IO[str], sink: list[str], lines: queue.Queue[str | None]) -> None:
    for line in iter(stream.readline, ""):
        sink.append(line.rstrip("\n"))
        lines.put(line)
    lines.put(None)


@contextmanager
def naftiko_run(
    *specs: Path,
    args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    adapters: int,
) -> Iterator[Running]:
    """Start `naftiko run`, wait (bounded) for `adapters` URL lines, stop it with SIGTERM."""
    full_env = {**os.environ, **(env or {})}
    process = subprocess.Popen(
        [NAFTIKO, "run", *args, *map(str, specs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=full_env,
    )
    running = Running(process, {})
    lines: queue.Queue[str | None] = queue.Queue()
    threads = [
        threading.Thread(target=_pump, args=(process.stdout, running.stdout_lines, lines)),
        threading.Thread(
            target=_pump, args=(process.stderr, running.stderr_lines, running.stderr_written)
        ),
    ]
    for thread in threads:
        thread.daemon = True
        thread.start()
    try:
        while len(running.urls) < adapters:
            try:
                line = lines.get(timeout=READY_TIMEOUT)
            except queue.Empty:
                raise RuntimeError(f"naftiko run not ready:\n{running.logs()}") from None
            if line is None:
                process.wait(5)
                raise RuntimeError(f"naftiko run exited {process.returncode}:\n{running.logs()}")
            parts = line.split()
            if len(parts) == 3 and parts[2].startswith(("http://", "https://")):
                running.urls[parts[1]] = parts[2]
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for thread in threads:
            thread.join(5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def until(condition: Any, bound: float = 15.0, every: float = 0.05) -> Any:
    """Poll `condition` until it holds (a bounded wait on another process, not a sleep as
    synchronisation); return its value, or fail the test after `bound` seconds."""
    deadline = time.monotonic() + bound
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(every)
    return value

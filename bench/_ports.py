"""What every benchmark shares: the cores its processes are pinned to, free ports and waiting
for one to open, a process's CPU, and the load average printed beside each table."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

# The gateway on core 0, its upstream and the load on core 1 (when there are two cores).
PIN = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
GATEWAY_CPU, LOAD_CPU = ["taskset", "-c", "0"], ["taskset", "-c", "1"]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, limit: float = 30.0) -> float:
    """Seconds until `port` accepts a connection (polled every 10 ms: a bench, not a test)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return time.perf_counter() - start
        time.sleep(0.01)
    raise RuntimeError(f"port {port} did not open")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its descendants (granian serves from a child process)."""
    total, ticks = 0.0, os.sysconf("SC_CLK_TCK")
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total += (int(stat[11]) + int(stat[12])) / ticks
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += cpu_seconds(int(child))
    return total

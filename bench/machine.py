"""The machine a benchmark ran on, in one line, for the printed figures (shared by the benchmark scripts)."""

from __future__ import annotations

import os
import platform
import time
import urllib.error
import urllib.request
from pathlib import Path


def describe(*extra: str) -> str:
    """CPU model, core count, Python version, the given extras (library versions), and the 1-minute load average."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    parts = [f"{platform.system()} {platform.machine()}", cpu, f"{os.cpu_count()} cores"]
    parts += [f"Python {platform.python_version()}", *extra, f"load average {load:.2f}"]
    return "; ".join(parts)


def wait_up(port: int, path: str, timeout: float = 60) -> None:
    """Wait until a server on loopback ``port`` answers ``path`` (any HTTP status), at most ``timeout`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not come up")

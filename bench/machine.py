"""The machine a benchmark ran on, in one line, for the printed figures (shared by the benchmark scripts)."""

from __future__ import annotations

import os
import platform
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

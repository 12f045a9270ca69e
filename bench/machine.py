"""Shared by the benchmark scripts: the machine a benchmark ran on, in one line, and serving the app and driving it
with wrk on loopback."""

from __future__ import annotations

import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(app: str, port: int, env: dict[str, str], workers: int, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """``uvicorn app`` on loopback ``port`` in a session of its own (``--factory`` for a ``create_app``), quiet."""
    factory = ["--factory"] if app.endswith("create_app") else []
    cmd = [sys.executable, "-m", "uvicorn", *factory, app, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(cmd, env=env, cwd=cwd, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's session, SIGKILL after 20 s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wrk(port: int, script: Path, duration: int, connections: int, threads: int) -> dict[str, Any]:
    """A 3 s warm-up (connections, caches), then ``duration`` seconds of wrk with ``script``: requests per second,
    p50 and p99 [ms], non-2xx answers and socket errors."""
    base = ["wrk", "-t", str(threads), "-c", str(connections), "-s", str(script), f"http://127.0.0.1:{port}"]
    subprocess.run([*base[:1], "-d", "3s", *base[1:]], capture_output=True, check=True)
    out = subprocess.run([*base[:1], "-d", f"{duration}s", "--latency", *base[1:]], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"wrk failed: {out.stderr[:500]}")
    o = out.stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", o)
    if not m:
        raise SystemExit(f"wrk printed no rate:\n{o}")

    def pct(label: str) -> float:
        mm = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", o)
        if not mm:
            raise SystemExit(f"wrk printed no {label}th percentile:\n{o}")
        v, unit = float(mm.group(1)), mm.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", o)
    errors = re.search(r"Socket errors:.*", o)
    return {
        "rps": float(m.group(1)),
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(0) if errors else "",
    }

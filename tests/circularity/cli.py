"""Run the ``batteryloop`` command in a subprocess on an embedded database of its own (for end-to-end tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

Runner = Callable[..., subprocess.CompletedProcess[str]]


def cli_runner(tmp_path: Path) -> Runner:
    """A function running ``batteryloop *args`` with its data in ``tmp_path / "var"`` (never the configured database)."""
    env = {**os.environ, "BATTERYLOOP_DATA_DIR": str(tmp_path / "var")}
    env.pop("BATTERYLOOP_DATABASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from batteryloop.cli import main; main()", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    return run

"""The command groups of the ``batteryloop`` command beyond the registry's own (one module per group).

``batteryloop.cli`` adds every group defined here; a group's commands may live in several modules that import the
group's Typer app and register on it.
"""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    """Import every command module of this package, so that their commands are registered on their groups."""
    for info in pkgutil.iter_modules(__path__):
        if info.name != "groups":
            importlib.import_module(f"{__name__}.{info.name}")

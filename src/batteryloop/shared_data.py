"""Where the published data of ``../shared/data`` is, if anywhere.

The project reads measured and published data sets (BatPaC, Eurostat, the Dutch battery flows, ageing data, prices)
from a data folder next to the project, ``../shared/data``, and never ships copies of them: several have no open
licence, and all are there for validation (see ``../shared/data/README.md``). A user's fresh clone or an installed
wheel has no such folder; callers then fall back to the package's own cited parameter tables or say that the data is
absent.

Which folder:

1. ``BATTERYLOOP_SHARED_DATA`` when set (not empty). It must name an existing folder; otherwise a
   :class:`~batteryloop.errors.ValidationError` names the variable, rather than silently using something else.
2. Else ``<project root>/../shared/data`` when the package runs from a source checkout: the project root is two
   folders above the package (``src/batteryloop`` -> the root), and only counts when a ``pyproject.toml`` of the
   ``batteryloop`` project is there. The folder must exist.
3. Else none.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from batteryloop.errors import Problem, ValidationError

ENV_VAR = "BATTERYLOOP_SHARED_DATA"
PACKAGE_DIR = Path(__file__).resolve().parent
"""The installed package folder; a source checkout has it at ``<root>/src/batteryloop``."""
PROJECT_NAME = "batteryloop"


def project_root(package_dir: Path | None = None) -> Path | None:
    """The root of the source checkout the package runs from, or None (an installed wheel, another layout).

    ``package_dir`` defaults to :data:`PACKAGE_DIR`; the root is ``package_dir.parents[1]`` when it holds a
    ``pyproject.toml`` whose ``[project] name`` is ``batteryloop``.
    """
    package = PACKAGE_DIR if package_dir is None else package_dir
    if len(package.parents) < 2:
        return None
    root = package.parents[1]
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return None
    return root if name == PROJECT_NAME else None


def shared_data_dir() -> Path | None:
    """The shared data folder: ``BATTERYLOOP_SHARED_DATA``, else ``<project root>/../shared/data``, else None.

    Raises
    ------
    ValidationError
        ``BATTERYLOOP_SHARED_DATA`` is set but is not an existing folder (the error names the variable and the path).
    """
    given = os.environ.get(ENV_VAR, "").strip()
    if given:
        path = Path(given).expanduser()
        if not path.is_dir():
            what = "is a file, not a folder" if path.exists() else "does not exist"
            expected = "the shared data folder (e.g. ../shared/data), or leave the variable unset"
            raise ValidationError(
                f"{ENV_VAR}={given}: {what}",
                field=ENV_VAR,
                expected=expected,
                problems=[Problem(ENV_VAR, f"{given} {what}", expected)],
            )
        return path
    root = project_root()
    if root is None:
        return None
    candidate = root.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def shared_file(*parts: str | Path) -> Path | None:
    """``shared_data_dir() / parts`` when the folder and that file (or folder) exist, else None."""
    base = shared_data_dir()
    if base is None:
        return None
    path = base.joinpath(*parts)
    return path if path.exists() else None

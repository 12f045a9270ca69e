"""What every runner offers, and the choice of one by name (``--engine local|dask``)."""

from __future__ import annotations

import os
import resource
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from batteryloop.errors import ValidationError

T = TypeVar("T")
R = TypeVar("R")
ENGINES = ("local", "dask")


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """What became of one task: its ``result``, or the ``error`` (type and message) that prevented one."""

    index: int
    task: T
    result: R | None
    error: str | None = None


class Runner(Protocol):
    """Maps a picklable function over tasks; a context manager that starts and stops its workers."""

    name: str
    workers: int

    def __enter__(self) -> Runner: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def map(self, function: Callable[[T], R], tasks: Sequence[T]) -> Iterator[Outcome[T, R]]:
        """One outcome per task, as the tasks complete."""
        ...

    def peak_rss_per_worker(self) -> list[int]:
        """The largest resident memory each worker reached so far, in bytes (call it before the runner stops)."""
        ...


def check_workers(workers: int) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValidationError(f"{workers!r} workers", field="--workers", expected="a whole number of at least 1")
    return workers


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of an exception, for an outcome's ``error``."""
    message = str(exc).strip() or repr(exc)
    return f"{type(exc).__name__}: {message}"


def own_peak_rss() -> int:
    """The peak resident memory of this process, in bytes: ``VmHWM`` (of this program image: reset by exec), else
    ``ru_maxrss`` (in KiB on Linux; it survives exec, so a child started by a large parent reports the parent's)."""
    peak = peak_rss_of(os.getpid())
    if peak is not None:
        return peak
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def peak_rss_of(pid: int) -> int | None:
    """The peak resident memory (``VmHWM``) of a live process on Linux, in bytes; None where it cannot be read."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def make_runner(engine: str, workers: int = 1, *, address: str | None = None, **options: Any) -> Runner:
    """The runner of ``--engine``: ``local`` (:class:`LocalRunner`) or ``dask`` (:class:`DaskRunner`)."""
    from batteryloop.runners.dask_runner import DaskRunner
    from batteryloop.runners.local import LocalRunner

    check_workers(workers)
    if engine == "local":
        if address is not None:
            raise ValidationError(
                "a scheduler address needs the dask engine", field="--scheduler", expected="--engine dask"
            )
        return LocalRunner(workers=workers)
    if engine == "dask":
        return DaskRunner(workers=workers, address=address, **options)
    raise ValidationError(f"unknown engine {engine!r}", field="--engine", expected=" or ".join(ENGINES))


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)

"""The local runner: in this process for one worker, a pool of worker processes otherwise."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from types import TracebackType
from typing import TypeVar

from batteryloop.runners.base import Outcome, check_workers, describe_error, own_peak_rss, peak_rss_of

T = TypeVar("T")
R = TypeVar("R")


class LocalRunner:
    """``workers=1``: each task in this process, in order. ``workers=N``: a pool of N processes started with
    ``spawn`` (a clean interpreter each: no copy of the parent's memory, no threads inherited mid-state)."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        self.workers = check_workers(workers)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalRunner:
        if self.workers > 1 and self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, function: Callable[[T], R], tasks: Sequence[T]) -> Iterator[Outcome[T, R]]:
        if self._pool is None:
            if self.workers > 1:
                raise RuntimeError("start the runner first: with LocalRunner(workers=N) as runner: ...")
            for index, task in enumerate(tasks):
                try:
                    result = function(task)
                except Exception as exc:
                    yield Outcome(index, task, None, describe_error(exc))
                else:
                    yield Outcome(index, task, result)
            return
        pending: dict[Future[R], int] = {self._pool.submit(function, task): i for i, task in enumerate(tasks)}
        try:
            for future in as_completed(pending):
                index = pending.pop(future)
                error = future.exception()
                if error is not None:
                    yield Outcome(index, tasks[index], None, describe_error(error))
                else:
                    yield Outcome(index, tasks[index], future.result())
        finally:
            for future in pending:
                future.cancel()

    def peak_rss_per_worker(self) -> list[int]:
        if self._pool is None:
            return [own_peak_rss()]
        processes = getattr(self._pool, "_processes", None) or {}
        peaks = [peak_rss_of(pid) for pid in list(processes)]
        return [p for p in peaks if p is not None]

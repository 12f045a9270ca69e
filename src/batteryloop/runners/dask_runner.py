"""The Dask runner: a ``dask.distributed`` LocalCluster (N worker processes, one thread each, a memory limit each), or
an existing scheduler. Dask is imported only here, when the runner starts."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

from batteryloop.errors import BatteryloopError
from batteryloop.runners.base import Outcome, check_workers, describe_error, own_peak_rss

T = TypeVar("T")
R = TypeVar("R")
INSTALL = "pip install 'batteryloop[scale]'"


class DaskNotInstalledError(BatteryloopError):
    code = "dask_missing"


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise DaskNotInstalledError(
            f"the dask engine needs dask.distributed, which is not installed ({exc.msg})",
            field="--engine",
            expected=f"{INSTALL}, or --engine local",
        ) from None
    return distributed


def _worker_peak_rss() -> int:
    return own_peak_rss()


class DaskRunner:
    """``DaskRunner(workers=N)``: a LocalCluster of N workers, one thread each, ``memory_limit`` each (Dask pauses a
    worker at 80 % of it and restarts one at 95 %); ``processes=False`` runs the workers as threads of this process
    (quick to start, for small runs). ``DaskRunner(address=...)``: the workers of a running scheduler."""

    name = "dask"

    def __init__(
        self,
        workers: int = 2,
        address: str | None = None,
        *,
        memory_limit: str | int = "4GiB",
        processes: bool = True,
    ) -> None:
        self.workers = check_workers(workers)
        self.address = address
        self.memory_limit = memory_limit
        self.processes = processes
        self._cluster: Any = None
        self._client: Any = None

    def __enter__(self) -> DaskRunner:
        distributed = _import_distributed()
        if self._client is not None:
            return self
        if self.address is not None:
            try:
                self._client = distributed.Client(self.address, timeout="10s")
            except OSError as exc:
                raise BatteryloopError(
                    f"no Dask scheduler answers at {self.address} ({exc})",
                    field="--scheduler",
                    expected="the address of a running scheduler, e.g. tcp://127.0.0.1:8786",
                ) from None
            self.workers = len(self._client.scheduler_info().get("workers", {})) or self.workers
            return self
        self._cluster = distributed.LocalCluster(
            n_workers=self.workers,
            threads_per_worker=1,
            processes=self.processes,
            memory_limit=self.memory_limit,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        self._client = distributed.Client(self._cluster)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def map(self, function: Callable[[T], R], tasks: Sequence[T]) -> Iterator[Outcome[T, R]]:
        if self._client is None:
            raise RuntimeError("start the runner first: with DaskRunner(...) as runner: ...")
        distributed = _import_distributed()
        if not tasks:
            return
        futures = self._client.map(function, list(tasks), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for future in distributed.as_completed(futures):
                i = index[future.key]
                if future.status == "error" or future.status == "cancelled":
                    try:
                        error = future.exception()
                    except BaseException as exc:  # a cancelled future raises instead of returning its exception
                        error = exc
                    yield Outcome(i, tasks[i], None, describe_error(error))
                else:
                    yield Outcome(i, tasks[i], future.result())
                future.release()
        finally:
            for f in futures:
                if not f.done():
                    f.cancel()

    def peak_rss_per_worker(self) -> list[int]:
        if self._client is None:
            return []
        if not self.processes and self._cluster is not None:
            return [own_peak_rss()]  # threads of this process
        peaks = self._client.run(_worker_peak_rss)
        return [int(v) for v in peaks.values()]

"""Runners: map a picklable function over task descriptions, in this process, a process pool or a Dask cluster.

Every runner has the same surface (:class:`Runner`): ``runner.map(function, tasks)`` yields one :class:`Outcome` per
task, in the order the tasks complete (not the order given), each with the task's index, its result or the error that
prevented one. A task that raised (or whose worker died) is an outcome with ``error`` set; the other tasks go on.

=========================================  ===========================================================================
``LocalRunner(workers=1)``                 in this process, one task after the other (no pickling, easiest to debug)
``LocalRunner(workers=N)``                 a pool of N worker processes (``spawn``: nothing inherited but the task)
``DaskRunner(workers=N)``                  a ``dask.distributed`` LocalCluster of N worker processes, one thread each,
                                           each with a memory limit (the worker is paused, then restarted, past it)
``DaskRunner(address="tcp://host:8786")``  an existing Dask scheduler and its workers (which must have batteryloop)
=========================================  ===========================================================================

Dask is the ``scale`` extra (``pip install 'batteryloop[scale]'``) and is imported only when a :class:`DaskRunner`
starts.
"""

from __future__ import annotations

from batteryloop.runners.base import Outcome, Runner, make_runner
from batteryloop.runners.dask_runner import DaskRunner
from batteryloop.runners.local import LocalRunner

__all__ = ["DaskRunner", "LocalRunner", "Outcome", "Runner", "make_runner"]

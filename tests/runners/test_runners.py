"""Runners: every task gets one outcome, a failing task does not stop the others, engines are chosen by name."""

from __future__ import annotations

import sys

import pytest

from batteryloop.errors import BatteryloopError, ValidationError
from batteryloop.runners import DaskRunner, LocalRunner, make_runner


def square_or_fail(x: int) -> int:
    if x == 3:
        raise ValueError("three is refused")
    return x * x


def _check(outcomes: list) -> None:
    assert sorted(o.index for o in outcomes) == list(range(6))
    by_index = {o.index: o for o in outcomes}
    for i in range(6):
        if i == 3:
            assert by_index[i].result is None
            assert by_index[i].error == "ValueError: three is refused"
        else:
            assert by_index[i].result == i * i and by_index[i].error is None
        assert by_index[i].task == i


def test_local_in_process():
    with LocalRunner(workers=1) as runner:
        outcomes = list(runner.map(square_or_fail, list(range(6))))
        assert [o.index for o in outcomes] == list(range(6))  # in order, in this process
        assert len(runner.peak_rss_per_worker()) == 1
    _check(outcomes)


def test_local_process_pool():
    with LocalRunner(workers=2) as runner:
        outcomes = list(runner.map(square_or_fail, list(range(6))))
        peaks = runner.peak_rss_per_worker()
    _check(outcomes)
    assert len(peaks) == 2 and all(p > 10 * 2**20 for p in peaks)  # two live interpreters, each some MiB


def test_dask_local_cluster_of_processes():
    pytest.importorskip("distributed", reason="the dask engine needs pip install 'batteryloop[scale]'")
    with DaskRunner(workers=2, memory_limit="1GiB") as runner:
        outcomes = list(runner.map(square_or_fail, list(range(6))))
        peaks = runner.peak_rss_per_worker()
    _check(outcomes)
    assert len(peaks) == 2 and all(p > 10 * 2**20 for p in peaks)


def test_make_runner_names_the_option():
    assert isinstance(make_runner("local", 2), LocalRunner)
    runner = make_runner("dask", 3, memory_limit="2GiB")
    assert isinstance(runner, DaskRunner) and runner.workers == 3 and runner.memory_limit == "2GiB"
    with pytest.raises(ValidationError) as err:
        make_runner("spark", 1)
    assert err.value.problems[0].field == "--engine" and "local or dask" in (err.value.problems[0].expected or "")
    with pytest.raises(ValidationError) as err:
        make_runner("local", 0)
    assert err.value.problems[0].field == "--workers"
    with pytest.raises(ValidationError) as err:
        make_runner("local", 1, address="tcp://127.0.0.1:8786")
    assert err.value.problems[0].field == "--scheduler"


def test_without_dask_the_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(BatteryloopError) as err, DaskRunner(workers=1):
        pass
    assert "pip install 'batteryloop[scale]'" in (err.value.problems[0].expected or "")
    assert err.value.problems[0].field == "--engine"

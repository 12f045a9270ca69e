"""Streaming ingest over MQTT on the real Mosquitto (127.0.0.1:1883): every published reading in the store exactly once.

Each test uses its own topic prefix and client id (tests run in parallel on the one broker) and removes its session
from the broker at the end.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import polars as pl
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from batteryloop.errors import ValidationError
from batteryloop.telemetry import quality
from batteryloop.telemetry.store import TelemetryStore
from batteryloop.telemetry.stream import StreamIngest, StreamSettings, end_session, parse_message

HOST, PORT = "127.0.0.1", 1883
START = datetime(2024, 5, 1, 10, tzinfo=UTC)
WAIT_S = 20.0


def _broker_up() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1):
            return True
    except OSError:
        return False


needs_broker = pytest.mark.skipif(not _broker_up(), reason=f"no MQTT broker at {HOST}:{PORT}")


@dataclass
class Names:
    prefix: str
    client_id: str

    def settings(self, **values: Any) -> StreamSettings:
        return StreamSettings(
            host=HOST, port=PORT, topic_prefix=self.prefix, client_id=self.client_id, session_expiry_s=120, **values
        )


@pytest.fixture
def names() -> Iterator[Names]:
    uid = uuid.uuid4().hex[:12]
    n = Names(prefix=f"test-{uid}/batteryloop/bms", client_id=f"batteryloop-test-{uid}")
    yield n
    if _broker_up():
        end_session(n.settings())


class Publisher:
    def __init__(self) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex}")
        self.client.max_inflight_messages_set(200)
        self.client.connect(HOST, PORT)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes | str | dict[str, Any] | list[Any]) -> mqtt.MQTTMessageInfo:
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        return self.client.publish(topic, data, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    p = Publisher()
    yield p
    p.close()


def reading(i: int, *, epoch: bool = False) -> dict[str, Any]:
    moment = START + timedelta(seconds=i)
    return {
        "timestamp": moment.timestamp() if epoch else moment.isoformat().replace("+00:00", "Z"),
        "current_A": round(-10.0 + (i % 7) * 0.5, 3),
        "voltage_V": round(3.6 + (i % 50) * 0.002, 4),
        "temperature_C": 25.0,
    }


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class Running:
    """A subscriber in a thread of this process."""

    def __init__(self, ingest: StreamIngest) -> None:
        self.ingest = ingest
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        wait_for(lambda: ingest.subscribed.is_set() or self.error is not None, "the subscription")
        assert self.error is None, self.error

    def _run(self) -> None:
        try:
            self.ingest.run(self.stop)
        except BaseException as exc:
            self.error = exc

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


def stored_keys(root: Path) -> pl.DataFrame:
    return TelemetryStore(root).scan().select("battery_id", "timestamp").collect()


# ----------------------------------------------------------------------------------------------------------------------
# no broker needed


def test_a_message_is_one_reading_or_a_list_and_its_timestamp_any_of_three_forms() -> None:
    forms = ["2024-05-01T10:00:00Z", "2024-05-01T12:00:00+02:00", START.timestamp()]
    for form in forms:
        (row,), extra = parse_message("p/B-1", json.dumps({**reading(0), "timestamp": form}).encode(), "p")
        assert row["timestamp"] == int(START.timestamp()) * 1_000_000
        assert row["battery_id"] == "B-1" and row["read_problem"] is None and not extra
    rows, extra = parse_message("p/B-1", json.dumps([reading(0), {**reading(1), "speed_kmh": 3}]).encode(), "p")
    assert [r["voltage_V"] for r in rows] == [3.6, 3.602] and extra == {"speed_kmh": 1}


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"\xff{", "payload is not UTF-8 JSON"),
        (b'{"timestamp": ', "payload is not UTF-8 JSON"),
        (b"42", "payload is a JSON int"),
        (b"[1]", "reading 0: a JSON int, expected an object"),
        (b'{"timestamp": "2024-05-01T10:00:00", "current_A": 1, "voltage_V": 3.7}', "has no UTC offset"),
        (b'{"timestamp": "yesterday", "current_A": 1, "voltage_V": 3.7}', "is not ISO 8601"),
        (b'{"timestamp": 1e300, "current_A": 1, "voltage_V": 3.7}', "outside 1970-9999"),
        (b'{"timestamp": 0, "current_A": "abc", "voltage_V": 3.7}', "current_A: 'abc' is not a number"),
        (b'{"timestamp": 0, "current_A": true, "voltage_V": 3.7}', "current_A: True is not a number"),
        (b'{"timestamp": 0, "current_A": 1, "voltage_V": 3.7, "cycle_index": 1.5}', "cycle_index: 1.5 is not a whole"),
        (b'{"timestamp": 0, "current_A": 1, "voltage_V": 3.7, "battery_id": "B-2"}', "differs from the topic's 'B-1'"),
    ],
)
def test_a_message_that_cannot_be_read_becomes_a_row_that_says_why(payload: bytes, problem: str) -> None:
    (row,), _ = parse_message("p/B-1", payload, "p")
    assert problem in row["read_problem"]
    assert row["battery_id"] == "B-1"


def test_settings_refuse_what_cannot_work() -> None:
    with pytest.raises(ValidationError, match="mqtt://"):
        StreamSettings.from_url("http://127.0.0.1:1883")
    with pytest.raises(ValidationError) as err:
        StreamSettings.from_url("mqtt://127.0.0.1", batch_size=70_000)
    assert err.value.problems[0].field == "--batch-size"
    with pytest.raises(ValidationError, match="session expiry"):
        StreamSettings.from_url("mqtt://127.0.0.1", session_expiry_s=0)
    with pytest.raises(ValidationError, match="topic prefix"):
        StreamSettings.from_url("mqtt://127.0.0.1", topic_prefix="a/+")
    assert StreamSettings.from_url("mqtt://broker.example:8883").port == 8883


# ----------------------------------------------------------------------------------------------------------------------
# on the broker


@needs_broker
def test_published_readings_are_stored_once_also_when_delivered_again(
    tmp_path: Path, names: Names, publisher: Publisher
) -> None:
    ingest = StreamIngest(TelemetryStore(tmp_path / "store"), names.settings(batch_size=40, batch_seconds=0.2))
    running = Running(ingest)
    messages: list[tuple[str, Any]] = []
    messages += [(f"{names.prefix}/EV-1", reading(i)) for i in range(60)]  # one reading per message
    messages += [(f"{names.prefix}/EV-2", [reading(i) for i in range(k, k + 10)]) for k in range(0, 60, 10)]  # lists
    messages += [(f"{names.prefix}/EV-3", reading(i, epoch=True)) for i in range(30)]  # epoch seconds
    for topic, payload in messages:
        publisher.send(topic, payload)
    wait_for(lambda: ingest.stats.rows_new == 150, "150 stored rows")
    stored = TelemetryStore(tmp_path / "store").scan().collect()
    assert stored.height == 150 and stored.select("battery_id", "timestamp").n_unique() == 150
    assert stored.group_by("battery_id").len().sort("battery_id")["len"].to_list() == [60, 60, 30]
    ev1 = stored.filter(pl.col("battery_id") == "EV-1").sort("timestamp")
    assert ev1["voltage_V"].to_list() == [reading(i)["voltage_V"] for i in range(60)]
    assert ev1["timestamp"][59] == START + timedelta(seconds=59)

    for topic, payload in messages:  # the same readings again, as a redelivery brings them
        publisher.send(topic, payload)
    wait_for(lambda: ingest.stats.messages == 2 * len(messages), "the repeated messages")
    running.close()
    assert ingest.stats.rows_new == 150 and ingest.stats.rows_unchanged == 150 and ingest.stats.rejected == 0
    assert TelemetryStore(tmp_path / "store").scan().collect().height == 150


@needs_broker
def test_bad_messages_are_rejected_with_their_reason_counted_and_kept(
    tmp_path: Path, names: Names, publisher: Publisher
) -> None:
    limits = quality.QualityLimits.for_chemistry("NMC", 1, 50.0)
    store = TelemetryStore(tmp_path / "store")
    ingest = StreamIngest(store, names.settings(batch_size=100, batch_seconds=0.3), limits)
    running = Running(ingest)
    topic = f"{names.prefix}/CELL-7"
    bad: list[tuple[bytes | dict[str, Any], str]] = [
        (b"not json", "unreadable"),
        ({"timestamp": "2024-05-01T10:00:05", "current_A": 1.0, "voltage_V": 3.7}, "unreadable"),  # no offset
        ({**reading(6), "current_A": "abc"}, "unreadable"),
        ({**reading(7), "battery_id": "CELL-8"}, "unreadable"),
        ({"timestamp": reading(8)["timestamp"], "current_A": 1.0}, "voltage_missing"),
        ({**reading(9), "voltage_V": 9.9}, "voltage_above_window"),  # NMC cell: at most 4.2 V + tolerance
        ({**reading(10), "current_A": 400.0}, "current_above_limit"),
        ({"current_A": 1.0, "voltage_V": 3.7}, "timestamp_missing"),
    ]
    for payload, _ in bad:
        publisher.send(topic, payload)
    for i in range(3):
        publisher.send(topic, {**reading(i), "speed_kmh": 50})
    wait_for(lambda: ingest.stats.messages == len(bad) + 3, "every message")
    publisher.send(topic, reading(3))  # the subscriber is still there after the bad messages
    wait_for(lambda: ingest.stats.rows_new == 4, "the last reading")
    running.close()

    stats = ingest.stats
    assert stats.rejected == len(bad) and stats.accepted == 4
    expected: dict[str, int] = {}
    for _, reason in bad:
        expected[reason] = expected.get(reason, 0) + 1
    assert dict(stats.rejected_by_reason) == expected
    assert stats.extra_fields == {"speed_kmh": 3}
    assert store.scan().collect().height == 4
    kept = pl.concat([pl.read_parquet(p) for p in (store.root / "_rejected").glob("*.parquet")], how="diagonal")
    assert kept.height == len(bad)
    assert set(kept["topic"]) == {topic} and set(kept["source"]) == {names.settings().source}
    not_json = kept.filter(pl.col("payload") == "not json").row(0, named=True)
    assert not_json["reason"] == "unreadable" and "not UTF-8 JSON" in not_json["detail"]
    assert "differs from the topic's 'CELL-7'" in kept.filter(pl.col("detail").str.contains("CELL-8"))["detail"][0]


CRASHING = textwrap.dedent(
    """
    import os, signal, sys, threading
    from pathlib import Path
    from batteryloop.telemetry.store import TelemetryStore
    from batteryloop.telemetry.stream import StreamIngest, StreamSettings
    root, prefix, client_id, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    batches = []
    def before_ack(batch):  # the batch is on disk, its PUBACKs not sent: die here
        batches.append(len(batch))
        if len(batches) == kill_at:
            print("killing after storing", sum(batches), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    settings = StreamSettings(topic_prefix=prefix, client_id=client_id, batch_size=20, batch_seconds=0.2,
                              session_expiry_s=120)
    ingest = StreamIngest(TelemetryStore(Path(root)), settings, before_ack=before_ack,
                          on_subscribed=lambda present: print("subscribed", flush=True))
    ingest.run(threading.Event())
    """
)


def start(args: list[str], timeout: float = WAIT_S) -> subprocess.Popen[str]:
    """Start a subscriber process and wait (bounded) for the line that says its subscription is in place; lines
    before it (a batch of what a resumed session had queued) are passed over."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline() if proc.stdout else ""), daemon=True).start()
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            proc.kill()
            raise AssertionError(f"no subscription within {timeout} s; output {seen}") from None
        if "subscribed" in line:
            return proc
        if not line:  # the process ended
            proc.wait()
            raise AssertionError(f"the subscriber ended: {seen} {proc.stderr.read() if proc.stderr else ''}")
        seen.append(line)
        threading.Thread(target=lambda: lines.put(proc.stdout.readline() if proc.stdout else ""), daemon=True).start()


def cli(root: Path, names: Names) -> list[str]:
    return [
        sys.executable,
        "-m",
        "batteryloop.cli",
        "telemetry",
        "stream",
        "--broker",
        f"mqtt://{HOST}:{PORT}",
        "--store",
        str(root),
        "--topic-prefix",
        names.prefix,
        "--client-id",
        names.client_id,
        "--session-expiry",
        "120",
        "--batch-size",
        "20",
        "--batch-seconds",
        "0.2",
        "--json",
    ]


def stop_cli(proc: subprocess.Popen[str]) -> dict[str, Any]:
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    (last,) = [line for line in stdout.splitlines() if '"stopped"' in line]
    summary: dict[str, Any] = json.loads(last)
    return summary


@needs_broker
def test_killed_after_storing_before_acknowledging_the_batch_comes_again_and_is_stored_once(
    tmp_path: Path, names: Names, publisher: Publisher
) -> None:
    root = tmp_path / "store"
    crashing = start([sys.executable, "-c", CRASHING, str(root), names.prefix, names.client_id, "2"])
    topic = f"{names.prefix}/EV-9"
    infos = [publisher.send(topic, reading(i)) for i in range(100)]
    for info in infos:
        info.wait_for_publish(10)
    crashing.wait(timeout=WAIT_S)
    assert crashing.returncode == -signal.SIGKILL
    written_before = stored_keys(root).height
    assert 20 <= written_before < 100  # two batches stored (the second never acknowledged), the rest not

    restarted = start(cli(root, names))
    wait_for(lambda: stored_keys(root).height >= 100, "all 100 readings")
    summary = stop_cli(restarted)
    keys = stored_keys(root)
    assert keys.height == 100 and keys.n_unique() == 100
    assert keys["timestamp"].sort().to_list() == [START + timedelta(seconds=i) for i in range(100)]
    # the batch stored before the kill came again (at least once) and changed nothing (idempotent)
    assert summary["rows_unchanged"] >= 1 and summary["rows_new"] == 100 - written_before


@needs_broker
def test_sigkill_at_random_times_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, names: Names, publisher: Publisher
) -> None:
    seed = int(os.environ.get("CRASH_TEST_SEED", random.randrange(1_000_000)))
    rng = random.Random(seed)
    root = tmp_path / "store"
    total = 600  # fewer than Mosquitto's max_queued_messages (1000) are queued while the subscriber is down
    done = threading.Event()

    def publish() -> None:
        for i in range(total):
            publisher.send(f"{names.prefix}/EV-{i % 3}", reading(i))
            time.sleep(0.003)
        done.set()

    proc = start(cli(root, names))
    sender = threading.Thread(target=publish, daemon=True)
    sender.start()
    kills = 0
    for _ in range(2):
        time.sleep(rng.uniform(0.2, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        kills += 1
        proc = start(cli(root, names))
    assert done.wait(WAIT_S), "the publisher did not finish"
    wait_for(lambda: stored_keys(root).height >= total, f"all {total} readings (seed {seed})")
    stop_cli(proc)
    keys = stored_keys(root)
    assert kills == 2
    assert keys.height == total and keys.n_unique() == total, f"seed {seed}"
    expected = {(f"EV-{i % 3}", START + timedelta(seconds=i)) for i in range(total)}
    assert set(keys.iter_rows()) == expected, f"seed {seed}"


@needs_broker
def test_a_store_that_refuses_writes_gets_nothing_acknowledged_and_the_messages_come_again(
    tmp_path: Path, names: Names, publisher: Publisher
) -> None:
    root = tmp_path / "store"
    TelemetryStore(root).write(pl.DataFrame({"battery_id": ["X"], "timestamp": [START], "current_A": [0.0]}))
    (root / "_staging").rmdir()
    (root / "_staging").write_text("in the way")  # a file where the store needs its staging directory: writes fail
    ingest = StreamIngest(TelemetryStore(root), names.settings(batch_size=10, batch_seconds=0.2))
    running = Running(ingest)
    topic = f"{names.prefix}/EV-5"
    for i in range(10):
        publisher.send(topic, reading(i))
    wait_for(lambda: ingest.stats.write_failures >= 2, "failed writes")  # the batch is retried
    running.close()  # stops while the store still refuses: nothing was acknowledged
    assert ingest.stats.batches == 0 and stored_keys(root).height == 1

    (root / "_staging").unlink()
    again = StreamIngest(TelemetryStore(root), names.settings(batch_size=10, batch_seconds=0.2))
    running = Running(again)
    wait_for(lambda: again.stats.rows_new == 10, "the 10 readings, delivered again")
    running.close()
    assert stored_keys(root).height == 11 and again.stats.write_failures == 0

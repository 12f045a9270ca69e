"""Streaming ingest over MQTT: messages per second from a publisher to the durable store, next to the store alone.

    python bench/mqtt_ingest.py [--messages 20000] [--batteries 100] [--batch-sizes 100,1000,5000]

For each batch size:

1. **MQTT -> store.** A fresh store; ``batteryloop telemetry stream`` runs in its own process (QoS 1, persistent
   session, manual acknowledgement after the write) against the broker (default ``mqtt://127.0.0.1:1883``); a
   publisher in this process sends ``--messages`` messages of one reading each (``--batteries`` batteries at 1 Hz,
   QoS 1, up to 1,000 in flight) as fast as the broker accepts them. The clock runs from the first publish to the
   subscriber's report that the batch holding the last message is on disk (it prints that line after the write and
   the PUBACKs). The store is then checked to hold exactly one row per message.
2. **Store alone.** The same rows, as Polars frames of the same batch size, written with
   :meth:`TelemetryStore.write` into another fresh store in this process: the store's own rate for those writes.

The ratio MQTT / store alone is the share of the store's rate that the streaming path delivers (JSON decoding,
quality check, the broker round trips and the acknowledgements are the difference). Timings are printed, never
asserted. Run it alone: ``flock /tmp/bench.lock .venv/bin/python bench/mqtt_ingest.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt
import paho.mqtt.client as mqtt
import polars as pl
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from batteryloop.telemetry.store import TelemetryStore  # noqa: E402
from batteryloop.telemetry.stream import StreamSettings, end_session  # noqa: E402
from machine import describe  # noqa: E402  (bench/machine.py, beside this script)

START = datetime(2025, 1, 1, tzinfo=UTC)


def readings(messages: int, batteries: int) -> list[tuple[str, dict[str, Any]]]:
    """(battery, reading) in publishing order: every battery's next second in turn."""
    out = []
    for i in range(messages):
        second, battery = divmod(i, batteries)
        moment = START + timedelta(seconds=second)
        out.append(
            (
                f"BENCH-{battery:05d}",
                {
                    "timestamp": moment.isoformat().replace("+00:00", "Z"),
                    "current_A": round(-20.0 + (i % 17) * 0.37, 3),
                    "voltage_V": round(50.0 + (i % 101) * 0.01, 3),
                    "temperature_C": round(20.0 + (i % 13) * 0.1, 1),
                    "soc_pct": 80.0,
                },
            )
        )
    return out


def as_frames(data: list[tuple[str, dict[str, Any]]], batch: int) -> list[pl.DataFrame]:
    frames = []
    for start in range(0, len(data), batch):
        chunk = data[start : start + batch]
        frames.append(
            pl.DataFrame(
                {
                    "battery_id": [b for b, _ in chunk],
                    "timestamp": [datetime.fromisoformat(r["timestamp"]) for _, r in chunk],
                    "current_A": [r["current_A"] for _, r in chunk],
                    "voltage_V": [r["voltage_V"] for _, r in chunk],
                    "temperature_C": [r["temperature_C"] for _, r in chunk],
                    "soc_pct": [r["soc_pct"] for _, r in chunk],
                }
            ).with_columns(pl.col("timestamp").dt.replace_time_zone("UTC"))
        )
    return frames


def direct(frames: list[pl.DataFrame], root: Path) -> float:
    """Seconds to write ``frames`` one after the other into a fresh store."""
    store = TelemetryStore(root)
    started = time.perf_counter()
    for frame in frames:
        store.write(frame)
    return time.perf_counter() - started


def over_mqtt(
    data: list[tuple[str, dict[str, Any]]], batch: int, root: Path, broker: str, host: str, port: int
) -> dict[str, Any]:
    uid = uuid.uuid4().hex[:10]
    prefix, client_id = f"bench-{uid}/batteryloop/bms", f"batteryloop-bench-{uid}"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "batteryloop.cli", "telemetry", "stream", "--broker", broker),
            *("--store", str(root), "--topic-prefix", prefix, "--client-id", client_id, "--session-expiry", "300"),
            *("--batch-size", str(batch), "--batch-seconds", "0.5", "--json"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert first["event"] == "subscribed", first
    done = threading.Event()
    got = {"messages": 0, "batches": 0, "at": 0.0, "rows_new": 0, "write_s": 0.0}

    def follow() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "batch":
                got["messages"] += event["messages"]
                got["rows_new"] += event["rows_new"]
                got["batches"] += 1
                got["write_s"] += event["seconds"]
                if got["messages"] >= len(data):
                    got["at"] = time.perf_counter()
                    done.set()

    threading.Thread(target=follow, daemon=True).start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uid}")
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect(host, port)
    pub.loop_start()
    payloads = [(f"{prefix}/{battery}", json.dumps(reading)) for battery, reading in data]
    started = time.perf_counter()
    infos = [pub.publish(topic, payload, qos=1) for topic, payload in payloads]
    for info in infos:
        info.wait_for_publish(120)
    published = time.perf_counter() - started
    if not done.wait(600):
        raise RuntimeError(f"the subscriber stored {got['messages']} of {len(data)} messages")
    elapsed = got["at"] - started
    pub.disconnect()
    pub.loop_stop()
    proc.terminate()
    proc.wait(30)
    end_session(StreamSettings(host=host, port=port, topic_prefix=prefix, client_id=client_id))
    stored = TelemetryStore(root).scan().select("battery_id", "timestamp").collect()
    assert stored.height == len(data) == stored.n_unique(), f"{stored.height} rows stored for {len(data)} messages"
    return {
        "seconds": elapsed,
        "publish_seconds": published,
        "batches": got["batches"],
        "subscriber_batch_seconds": got["write_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batteries", type=int, default=100)
    parser.add_argument("--batch-sizes", default="100,1000,5000")
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object too")
    args = parser.parse_args()
    settings = StreamSettings.from_url(args.broker)
    data = readings(args.messages, args.batteries)
    print(describe(f"Polars {pl.__version__}", f"paho-mqtt {paho.mqtt.__version__}"))
    print(f"{args.messages:,} messages of one reading, {args.batteries} batteries, broker {args.broker}")
    print()
    print("| batch | MQTT -> store msg/s | store alone rows/s | ratio | batches | publisher done after |")
    print("|---:|---:|---:|---:|---:|---:|")
    results = []
    work = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    try:
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            frames = as_frames(data, batch)
            alone = direct(frames, work / f"direct-{batch}")
            streamed = over_mqtt(data, batch, work / f"mqtt-{batch}", args.broker, settings.host, settings.port)
            row = {
                "batch_size": batch,
                "mqtt_msgs_per_s": args.messages / streamed["seconds"],
                "store_rows_per_s": args.messages / alone,
                **streamed,
                "store_seconds": alone,
            }
            row["ratio"] = row["mqtt_msgs_per_s"] / row["store_rows_per_s"]
            results.append(row)
            print(
                f"| {batch:,} | {row['mqtt_msgs_per_s']:,.0f} | {row['store_rows_per_s']:,.0f} | {row['ratio']:.2f} "
                f"| {row['batches']} | {row['publish_seconds']:.1f} s |",
                flush=True,
            )
            shutil.rmtree(work / f"direct-{batch}")
            shutil.rmtree(work / f"mqtt-{batch}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps({"messages": args.messages, "batteries": args.batteries, "results": results}))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

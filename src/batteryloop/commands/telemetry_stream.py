"""``batteryloop telemetry stream``: subscribe to BMS readings over MQTT and store them in micro-batches."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console

from batteryloop.commands.groups import telemetry_app
from batteryloop.config import get_settings
from batteryloop.telemetry import quality
from batteryloop.telemetry.store import TelemetryStore
from batteryloop.telemetry.stream import BatchReport, StreamIngest, StreamSettings

out = Console(soft_wrap=True, highlight=False)
DEFAULTS = StreamSettings()


@telemetry_app.command("stream")
def stream(
    broker: Annotated[str, typer.Option(help="The MQTT broker, mqtt://host[:port].")] = "mqtt://127.0.0.1:1883",
    store: Annotated[
        Path | None, typer.Option(help="The telemetry store (default: BATTERYLOOP_DATA_DIR/telemetry).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Messages per micro-batch at most.")] = DEFAULTS.batch_size,
    batch_seconds: Annotated[
        float, typer.Option(help="Seconds after its first message by which a batch is written.")
    ] = DEFAULTS.batch_seconds,
    topic_prefix: Annotated[
        str, typer.Option(help="Subscribes to PREFIX/+; the last topic level is the battery id.")
    ] = DEFAULTS.topic_prefix,
    client_id: Annotated[
        str, typer.Option(help="Fixed MQTT client id: the broker keeps unacknowledged messages under it.")
    ] = DEFAULTS.client_id,
    session_expiry: Annotated[
        int, typer.Option(help="Seconds the broker keeps the session (and its messages) after a disconnect.")
    ] = DEFAULTS.session_expiry_s,
    chemistry: Annotated[
        str | None, typer.Option(help="NMC, NCA, LFP, LCO or LMO: checks voltages against its window.")
    ] = None,
    cells_in_series: Annotated[int, typer.Option(help="Cells in series behind voltage_V.")] = 1,
    max_current_A: Annotated[
        float | None, typer.Option("--max-current-A", help="Largest plausible |current| [A]; larger is rejected.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per line (events, batches).")] = False,
) -> None:
    """Subscribe to BMS readings over MQTT (QoS 1, persistent session) and store them in micro-batches.

    A message is acknowledged only after its batch is on disk, so a crash means redelivery, never loss; a reading
    delivered twice is stored once. Rejected rows are kept under the store's _rejected/ with their reason.
    Stops on SIGINT or SIGTERM after writing and acknowledging what it received.
    """
    settings = StreamSettings.from_url(
        broker,
        topic_prefix=topic_prefix,
        client_id=client_id,
        batch_size=batch_size,
        batch_seconds=batch_seconds,
        session_expiry_s=session_expiry,
    )
    limits = quality.QualityLimits.for_chemistry(chemistry, cells_in_series, max_current_A)
    root = store if store is not None else get_settings().data_dir / "telemetry"
    telemetry = TelemetryStore(root)

    def emit(event: str, text: str, **data: Any) -> None:
        if as_json:
            print(json.dumps({"event": event, **data}, ensure_ascii=False, default=str), flush=True)
        else:
            out.print(text)
            sys.stdout.flush()

    def subscribed(session_present: bool) -> None:
        emit(
            "subscribed",
            f"subscribed to {settings.topic_filter} at {settings.host}:{settings.port} as {settings.client_id} "
            f"({'session resumed' if session_present else 'new session'}); storing in {root}",
            topic=settings.topic_filter,
            client_id=settings.client_id,
            session_present=session_present,
            store=str(root),
        )

    def batch(report: BatchReport) -> None:
        reasons = ", ".join(f"{r} {n}" for r, n in report.rejected_by_reason.items())
        emit(
            "batch",
            f"batch: {report.messages} messages ({report.duplicate_messages} repeated), {report.rows_in} rows: "
            f"{report.rows_new} new, {report.rows_replaced} replaced, {report.rows_unchanged} already stored, "
            f"{report.rejected} rejected{f' ({reasons})' if reasons else ''} in {report.seconds * 1000:.0f} ms",
            **report.as_dict(),
        )

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    ingest = StreamIngest(telemetry, settings, limits, on_batch=batch, on_subscribed=subscribed)
    stats = ingest.run(stop)
    summary = stats.as_dict()
    emit(
        "stopped",
        f"stopped: {stats.batches} batches, {stats.messages} messages, {stats.rows_new} new rows, "
        f"{stats.rejected} rejected, {stats.write_failures} failed writes",
        **summary,
    )

"""Streaming ingest: BMS readings arriving over MQTT land in the telemetry store in micro-batches.

A subscriber (paho-mqtt 2.x, MQTT 5) holds a **persistent session** on the broker (a fixed client id, ``clean_start``
false, a session expiry interval) and subscribes with **QoS 1** to ``{topic_prefix}/+``: the last topic level is the
battery id (``batteryloop/bms/EV-0042``). A message's payload is UTF-8 JSON: one reading (an object with the canonical
columns of :mod:`batteryloop.telemetry.schema`) or a list of them; the format is described in ``docs/telemetry.md``.

**At least once.** Messages are acknowledged by hand (``manual_ack``): the PUBACK of a message is sent only after the
micro-batch that holds it is durably in the store (:meth:`TelemetryStore.write` returns once every partition is renamed
into place and flushed) and its rejected rows are kept. A subscriber that dies before that point has acknowledged
nothing of the batch; the broker keeps the unacknowledged messages in the session and delivers them again when the
subscriber reconnects with the same client id.

**Idempotent.** A reading delivered twice is stored once: within a batch, identical messages (same topic, same payload
bytes) are processed once; across batches, the store merges on (``battery_id``, ``timestamp``), so a re-delivered row
changes nothing. At least once + idempotent writes = every reading exactly once in the store.

**Micro-batches.** A batch is written when it holds ``batch_size`` messages or ``batch_seconds`` after its first
message arrived, whichever comes first (:class:`StreamSettings`).

**Bad messages** never stop the subscriber. A payload that is not UTF-8 JSON, not an object or a list of objects, a
field of the wrong type, a timestamp without a time zone or a battery id that differs from the topic's becomes a row
with a read problem; then every row goes through :func:`batteryloop.telemetry.quality.check` like a file's rows
(missing fields, values out of the chemistry's window, duplicates...). Rejected rows are kept with their reason, topic
and payload in the store's ``_rejected/`` folder and counted (:class:`StreamStats`); the message is acknowledged once
they are kept (a bad message delivered again would be rejected again).

**Broker limits.** The subscriber announces a receive maximum (``receive_maximum``, default 65,535 unacknowledged
messages), so the broker can deliver a whole batch before it is acknowledged. While the subscriber is away the broker
queues the session's messages up to its own limit (Mosquitto: ``max_queued_messages``, 1,000 by default) and drops
the rest without telling the publisher: a production broker needs that limit raised (see ``docs/telemetry.md``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import polars as pl
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from batteryloop.errors import BatteryloopError, ValidationError
from batteryloop.telemetry import quality
from batteryloop.telemetry.readers.canonical import READ_PROBLEM
from batteryloop.telemetry.schema import COLUMNS
from batteryloop.telemetry.store import TelemetryStore

log = logging.getLogger(__name__)

FLOATS = tuple(c.name for c in COLUMNS if c.dtype == pl.Float64())
INTS = tuple(c.name for c in COLUMNS if c.dtype == pl.Int64())
FIELDS = frozenset(c.name for c in COLUMNS)
US_PER_S = 1_000_000
PAYLOAD_KEPT = 1024  # bytes of a rejected message's payload kept with its rows
MAX_RECEIVE = 65_535  # the largest receive maximum MQTT 5 allows
RETRY_FIRST_S = 0.5  # a failed store write is retried after this, doubling up to RETRY_MAX_S
RETRY_MAX_S = 30.0
FRAME_SCHEMA = pl.Schema(
    {
        "battery_id": pl.String(),
        "timestamp": pl.Int64(),  # microseconds since the epoch; cast to Datetime(us, UTC) after building
        **{name: pl.Float64() for name in FLOATS},
        **{name: pl.Int64() for name in INTS},
        READ_PROBLEM: pl.String(),
    }
)


# ----------------------------------------------------------------------------------------------------------------------
# settings


@dataclass(frozen=True)
class StreamSettings:
    """Where to subscribe and how to batch. Build one with :meth:`from_url` to check every value."""

    host: str = "127.0.0.1"
    port: int = 1883
    topic_prefix: str = "batteryloop/bms"
    client_id: str = "batteryloop-telemetry-stream"
    batch_size: int = 1000  # messages per batch at most
    batch_seconds: float = 1.0  # a batch is written at the latest this long after its first message [s]
    session_expiry_s: int = 7 * 86_400  # the broker keeps the session this long after a disconnect [s]
    receive_maximum: int = MAX_RECEIVE  # unacknowledged messages the broker may send us
    keepalive_s: int = 30

    @classmethod
    def from_url(cls, broker: str, **values: Any) -> StreamSettings:
        """Settings for ``mqtt://host[:port]`` and the other values given; every value is checked."""
        parts = urlsplit(broker)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise ValidationError(
                f"broker {broker!r} is not an mqtt:// address", field="--broker", expected="mqtt://host[:port]"
            )
        try:
            port = parts.port or 1883
        except ValueError:
            raise ValidationError(
                f"broker {broker!r} has no valid port", field="--broker", expected="mqtt://host[:port]"
            ) from None
        settings = cls(host=parts.hostname, port=port, **values)
        settings.check()
        return settings

    def check(self) -> None:
        if not 1 <= self.receive_maximum <= MAX_RECEIVE:
            raise ValidationError(
                f"receive maximum {self.receive_maximum}", field="receive_maximum", expected=f"1 to {MAX_RECEIVE}"
            )
        if not 1 <= self.batch_size <= self.receive_maximum:
            raise ValidationError(
                f"batch size {self.batch_size}",
                field="--batch-size",
                expected=f"1 to {self.receive_maximum} messages (the broker sends no more unacknowledged ones)",
            )
        if not (math.isfinite(self.batch_seconds) and self.batch_seconds > 0):
            raise ValidationError(
                f"batch seconds {self.batch_seconds}", field="--batch-seconds", expected="a positive number"
            )
        if not self.topic_prefix or any(ch in self.topic_prefix for ch in "+#") or self.topic_prefix.endswith("/"):
            raise ValidationError(
                f"topic prefix {self.topic_prefix!r}",
                field="--topic-prefix",
                expected="topic levels without wildcards and without a trailing /",
            )
        if not self.client_id:
            raise ValidationError("empty client id", field="--client-id", expected="a fixed, non-empty client id")
        if not 0 < self.session_expiry_s <= 0xFFFFFFFF:
            raise ValidationError(
                f"session expiry {self.session_expiry_s} s",
                field="--session-expiry",
                expected="1 to 4294967295 s (0 would end the session, and its messages, at every disconnect)",
            )

    @property
    def topic_filter(self) -> str:
        return f"{self.topic_prefix}/+"

    @property
    def source(self) -> str:
        return f"mqtt://{self.host}:{self.port}/{self.topic_filter}"


# ----------------------------------------------------------------------------------------------------------------------
# messages -> rows


@dataclass(frozen=True)
class Message:
    mid: int
    qos: int
    topic: str
    payload: bytes


@dataclass
class ParsedBatch:
    """The rows of a batch of messages, before the quality check."""

    frame: pl.DataFrame  # FRAME_SCHEMA with timestamp as Datetime(us, UTC); READ_PROBLEM null where readable
    message_of_row: list[int]  # the index (in the batch's unique messages) of each row's message
    extra_fields: Counter[str]


def battery_of(topic: str, topic_prefix: str) -> str | None:
    """The battery id of a topic ``{topic_prefix}/{battery_id}``; None if the topic is not of that form."""
    head = topic_prefix + "/"
    if not topic.startswith(head):
        return None
    rest = topic[len(head) :]
    return rest if rest and "/" not in rest else None


def parse_message(topic: str, payload: bytes, topic_prefix: str) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The rows of one message (``FRAME_SCHEMA`` keys, timestamp in epoch microseconds) and its unknown field names.

    Never raises: what cannot be read becomes a row whose ``read_problem`` says why (the quality check rejects it).
    """
    battery = battery_of(topic, topic_prefix)
    extra: Counter[str] = Counter()
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return [_problem_row(battery, f"payload is not UTF-8 JSON: {exc}")], extra
    readings = data if isinstance(data, list) else [data]
    if not isinstance(data, (list, dict)):
        return [_problem_row(battery, f"payload is a JSON {type(data).__name__}, expected an object or a list")], extra
    rows = []
    for index, reading in enumerate(readings):
        where = f"reading {index}: " if isinstance(data, list) else ""
        if not isinstance(reading, dict):
            rows.append(_problem_row(battery, f"{where}a JSON {type(reading).__name__}, expected an object"))
            continue
        row, problems = _row(reading, battery, extra)
        if battery is None:
            problems.insert(0, f"topic {topic!r} is not {topic_prefix}/<battery_id>")
        row[READ_PROBLEM] = where + "; ".join(problems) if problems else None
        rows.append(row)
    return rows, extra


def _problem_row(battery: str | None, problem: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(FRAME_SCHEMA.names())
    row["battery_id"] = battery
    row[READ_PROBLEM] = problem
    return row


def _row(reading: dict[str, Any], battery: str | None, extra: Counter[str]) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    row: dict[str, Any] = dict.fromkeys(FRAME_SCHEMA.names())
    row["battery_id"] = battery
    for key in reading:
        if key not in FIELDS:
            extra[key] += 1
    given = reading.get("battery_id")
    if given is not None and given != battery:
        problems.append(f"battery_id {given!r} differs from the topic's {battery!r}")
    row["timestamp"] = _timestamp(reading.get("timestamp"), problems)
    for name in FLOATS:
        value = reading.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{name}: {value!r} is not a number")
        else:
            row[name] = float(value)
    for name in INTS:
        value = reading.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
            problems.append(f"{name}: {value!r} is not a whole number")
        elif abs(value) >= 2**63:
            problems.append(f"{name}: {value!r} does not fit in 64 bits")
        else:
            row[name] = int(value)
    return row, problems


MAX_EPOCH_US = 253_402_300_799 * US_PER_S  # 9999-12-31T23:59:59Z, the last second ISO 8601 can show
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _timestamp(value: Any, problems: list[str]) -> int | None:
    """Epoch microseconds of an ISO 8601 text with an offset or of epoch seconds; None (with a problem) otherwise."""
    if value is None:
        return None  # the quality check rejects the row: timestamp_missing
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            problems.append(f"timestamp: {value!r} is not ISO 8601")
            return None
        if moment.tzinfo is None:
            problems.append(f"timestamp: {value!r} has no UTC offset")
            return None
        return (moment - EPOCH) // timedelta(microseconds=1)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.append(f"timestamp: {value!r} is neither ISO 8601 text nor epoch seconds")
        return None
    micros = round(value * US_PER_S)
    if not 0 <= micros <= MAX_EPOCH_US:
        problems.append(f"timestamp: {value!r} epoch seconds is outside 1970-9999")
        return None
    return micros


def parse_batch(messages: list[Message], topic_prefix: str) -> ParsedBatch:
    """The rows of ``messages`` (already without duplicate messages) as one frame for the quality check.

    The rows are sorted by battery and timestamp (rows without either first); ``message_of_row`` follows them.
    """
    rows: list[dict[str, Any]] = []
    message_of_row: list[int] = []
    extra: Counter[str] = Counter()
    for index, message in enumerate(messages):
        try:
            got, extra_fields = parse_message(message.topic, message.payload, topic_prefix)
        except Exception as exc:  # never let one message stop the subscriber
            got, extra_fields = [_problem_row(None, f"message could not be read: {exc!r}")], Counter()
        rows.extend(got)
        message_of_row.extend([index] * len(got))
        extra.update(extra_fields)
    frame = pl.DataFrame(rows, schema=FRAME_SCHEMA, orient="row") if rows else pl.DataFrame(schema=FRAME_SCHEMA)
    frame = frame.with_columns(pl.col("timestamp").cast(pl.Datetime("us", "UTC")))
    # messages arrive in any order (MQTT orders per topic only, redeliveries come late): put the rows in time order,
    # so that arrival order is not reported as out-of-order data
    order = frame.with_row_index("i").sort("battery_id", "timestamp", maintain_order=True)["i"].to_list()
    return ParsedBatch(frame[order], [message_of_row[i] for i in order], extra)


# ----------------------------------------------------------------------------------------------------------------------
# the subscriber


@dataclass
class BatchReport:
    """What one micro-batch did; it exists only once its rows are stored and its rejected rows kept."""

    messages: int
    duplicate_messages: int
    rows_in: int
    accepted: int
    repaired: int
    rejected: int
    rejected_by_reason: dict[str, int]
    rows_new: int
    rows_replaced: int
    rows_unchanged: int
    rejected_file: str | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class StreamStats:
    """Counts since the subscriber started."""

    batches: int = 0
    messages: int = 0
    duplicate_messages: int = 0
    rows_in: int = 0
    accepted: int = 0
    repaired: int = 0
    rejected: int = 0
    rows_new: int = 0
    rows_replaced: int = 0
    rows_unchanged: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    extra_fields: Counter[str] = field(default_factory=Counter)
    write_failures: int = 0
    connects: int = 0

    def add(self, report: BatchReport) -> None:
        self.batches += 1
        self.messages += report.messages
        self.duplicate_messages += report.duplicate_messages
        self.rows_in += report.rows_in
        self.accepted += report.accepted
        self.repaired += report.repaired
        self.rejected += report.rejected
        self.rows_new += report.rows_new
        self.rows_replaced += report.rows_replaced
        self.rows_unchanged += report.rows_unchanged
        self.rejected_by_reason.update(report.rejected_by_reason)

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["rejected_by_reason"] = dict(self.rejected_by_reason.most_common())
        out["extra_fields"] = dict(self.extra_fields.most_common())
        return out


class StreamIngest:
    """Subscribe, batch, check, store, then acknowledge. :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        store: TelemetryStore,
        settings: StreamSettings,
        limits: quality.QualityLimits | None = None,
        *,
        on_batch: Callable[[BatchReport], None] | None = None,
        on_subscribed: Callable[[bool], None] | None = None,
        before_ack: Callable[[list[Message]], None] | None = None,
    ) -> None:
        settings.check()
        self.store = store
        self.settings = settings
        self.limits = limits or quality.QualityLimits.for_chemistry(None)
        self.stats = StreamStats()
        self.on_batch = on_batch
        self.on_subscribed = on_subscribed  # called with "session present" once the subscription is confirmed
        self.before_ack = before_ack  # called after a batch is stored and before its PUBACKs (fault injection)
        self.subscribed = threading.Event()
        self._inbox: queue.Queue[Message] = queue.Queue()
        self._session_present = False
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=mqtt.MQTTv5, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        return client

    # paho's network thread ----------------------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        if reason.is_failure:
            log.error("broker %s:%d refused the connection: %s", self.settings.host, self.settings.port, reason)
            return
        self.stats.connects += 1
        self._session_present = bool(flags.session_present)
        client.subscribe(self.settings.topic_filter, qos=1)
        if self._session_present:
            # a resumed session keeps its subscription: the broker may deliver what it queued before it answers the
            # new SUBSCRIBE, so the subscription is in place now
            self._confirm_subscribed()

    def _confirm_subscribed(self) -> None:
        if not self.subscribed.is_set():
            self.subscribed.set()
            if self.on_subscribed is not None:
                self.on_subscribed(self._session_present)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        if any(r.is_failure for r in reasons):
            log.error("the broker refused the subscription to %s: %s", self.settings.topic_filter, reasons)
            return
        self._confirm_subscribed()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(Message(message.mid, message.qos, message.topic, bytes(message.payload)))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        if reason.is_failure:
            log.warning("disconnected from the broker (%s); reconnecting", reason)

    # the batching thread ------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> StreamStats:
        """Subscribe and ingest until ``stop`` is set; then write what was received, acknowledge it and disconnect."""
        s = self.settings
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = s.session_expiry_s
        props.ReceiveMaximum = s.receive_maximum
        try:
            self._client.connect(s.host, s.port, keepalive=s.keepalive_s, clean_start=False, properties=props)
        except OSError as exc:
            raise BatteryloopError(
                f"cannot reach the MQTT broker at {s.host}:{s.port}: {exc}",
                field="--broker",
                expected="a running MQTT broker",
            ) from None
        self._client.loop_start()
        try:
            batch: list[Message] = []
            deadline = 0.0
            while not stop.is_set():
                timeout = 0.2 if not batch else max(0.0, min(0.2, deadline - time.monotonic()))
                try:
                    batch.append(self._inbox.get(timeout=timeout))
                    if len(batch) == 1:
                        deadline = time.monotonic() + s.batch_seconds
                    while len(batch) < s.batch_size:  # take what is waiting without blocking
                        batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    pass
                due = batch and (len(batch) >= s.batch_size or time.monotonic() >= deadline)
                if due and self._process(batch, stop):
                    batch = []
            while True:  # stopping: what arrived is written and acknowledged before the disconnect
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            if batch:
                self._process(batch, None)
        finally:
            self._client.disconnect()
            self._client.loop_stop()
        return self.stats

    def _process(self, batch: list[Message], stop: threading.Event | None) -> bool:
        """Store one batch, then acknowledge it. A failed write is retried (nothing acknowledged) until ``stop``."""
        delay = RETRY_FIRST_S
        while True:
            try:
                report = self.ingest_batch(batch)
                break
            except (OSError, BatteryloopError, pl.exceptions.PolarsError) as exc:  # disk full, read-only...
                self.stats.write_failures += 1
                log.error("writing a batch of %d messages failed, nothing acknowledged: %s", len(batch), exc)
                if stop is None or stop.wait(delay):
                    return False  # stopping: the broker delivers the batch again after a restart
                delay = min(delay * 2, RETRY_MAX_S)
        if self.before_ack is not None:
            self.before_ack(batch)
        for message in batch:
            self._client.ack(message.mid, message.qos)
        self.stats.add(report)
        if self.on_batch is not None:
            self.on_batch(report)
        return True

    def ingest_batch(self, batch: list[Message]) -> BatchReport:
        """Check and durably store the readings of ``batch`` and keep its rejected rows (no acknowledgement)."""
        started = time.perf_counter()
        unique: dict[tuple[str, bytes], Message] = {}
        for message in batch:
            unique.setdefault((message.topic, message.payload), message)
        messages = list(unique.values())
        parsed = parse_batch(messages, self.settings.topic_prefix)
        self.stats.extra_fields.update(parsed.extra_fields)
        result = quality.check(parsed.frame, self.limits)
        written = self.store.write(result.frame)
        kept = None
        if result.rejected.height:
            rejected = _with_messages(result.rejected, parsed.message_of_row, messages)
            digest = hashlib.sha256()
            for message in sorted(messages, key=lambda m: (m.topic, m.payload)):
                digest.update(f"{len(message.topic)}:{message.topic}{len(message.payload)}:".encode())
                digest.update(message.payload)
            kept = str(self.store.keep_rejected(rejected, source=self.settings.source, digest=digest.hexdigest()))
        q = result.report
        return BatchReport(
            messages=len(batch),
            duplicate_messages=len(batch) - len(messages),
            rows_in=q.rows_in,
            accepted=q.accepted,
            repaired=q.repaired,
            rejected=q.rejected,
            rejected_by_reason=dict(q.rejected_by_reason),
            rows_new=written.rows_new,
            rows_replaced=written.rows_replaced,
            rows_unchanged=written.rows_unchanged,
            rejected_file=kept,
            seconds=time.perf_counter() - started,
        )


def _with_messages(rejected: pl.DataFrame, message_of_row: list[int], messages: list[Message]) -> pl.DataFrame:
    """``rejected`` with the topic and (the first bytes of) the payload of each row's message."""
    index = [message_of_row[row] for row in rejected["row"].to_list()]
    return rejected.with_columns(
        pl.Series("topic", [messages[i].topic for i in index], pl.String()),
        pl.Series(
            "payload",
            [messages[i].payload[:PAYLOAD_KEPT].decode("utf-8", errors="replace") for i in index],
            pl.String(),
        ),
    )


def end_session(settings: StreamSettings) -> None:
    """Remove the subscriber's session (and the messages queued in it) from the broker: connect clean, expiry 0."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id, protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 0
    client.connect(settings.host, settings.port, clean_start=True, properties=props)
    client.loop_start()
    try:
        deadline = time.monotonic() + 5
        while not client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        client.disconnect()
        client.loop_stop()

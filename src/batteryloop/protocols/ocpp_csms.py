"""A charging-station management system (CSMS) for a charging hub on OCPP 2.0.1, built on the ``ocpp`` package.

Charging stations connect over WebSocket to ``ws://host:port/<station id>`` with the subprotocol ``ocpp2.0.1``. The CSMS
handles BootNotification, Heartbeat, StatusNotification, TransactionEvent (Started / Updated / Ended, with meter
values) and NotifyEVChargingNeeds (ISO 15118: the EV's energy request, departure time and limits). On every arrival,
departure, charging-needs message, reconnect and new price signal it re-plans the hub with
:func:`batteryloop.protocols.hub.plan_hub` (the energy package's fleet LP under the hub's connection limit) and sends
each open transaction a SetChargingProfile: purpose ``TxProfile``, kind ``Absolute``, ``chargingRateUnit`` W, one
period per plan step (equal neighbours merged) from the plan start.

Discharge (vehicle-to-grid). OCPP 2.0.1 has no discharge field; the 2.0.1 JSON schema of
``ChargingSchedulePeriodType.limit`` is a plain ``number`` (no minimum), and OCPP 2.1 (which adds ``dischargeLimit``
and ``setpoint``) documents a negative ``limit`` as the way "older systems" specify a discharging limit. This CSMS
therefore sends a negative ``limit`` [W] for a discharge period, and only to a station configured as bidirectional
(:class:`StationSpec.max_discharge_kW` > 0) with an EV that declared a discharge power. The EV's discharge power and
battery capacity are not in 2.0.1's AC charging parameters; they travel in ``chargingNeeds.customData`` under the
vendor id ``org.batteryloop`` (``evMaxPower``, ``evMaxDischargePower`` [W], ``evEnergyCapacity`` [Wh]), the fields
2.1 has in ``V2XChargingParametersType``. Without them the EV's power is ``phases x 230 V x evMaxCurrent``.

Stations without ISO 15118 (no NotifyEVChargingNeeds) get a default stay and energy from the ElaadNL public charging
statistics by hour of arrival (:func:`hourly_defaults`).

Energy state. The CSMS keeps per transaction the import and export registers of the last meter value and the profile
it last delivered; the energy since that meter value is the delivered profile integrated (clipped to the EV's limits).
The remaining energy is ``requested - (eta_c import - export / eta_d) / eta_c`` (the battery-side gain in
charge-point kWh, efficiencies of :mod:`batteryloop.energy.fleet`).

Protocol errors are answered per OCPP-J 2.0.1 (Part 4, "RPC framework", CALLERROR error codes), logged and kept in
:attr:`Csms.errors`; no error ends the CSMS or the station's connection:

============================================================  ==============================================
what arrives                                                  answer
============================================================  ==============================================
not JSON, not an array, no readable message id                CALLERROR ``RpcFrameworkError``, message id "-1"
a message type other than 2, 3, 4                             CALLERROR ``MessageTypeNotSupported``
an action OCPP 2.0.1 does not define                          CALLERROR ``NotImplemented`` ("not known")
a 2.0.1 action this CSMS does not handle                      CALLERROR ``NotSupported`` ("recognized, not
                                                              supported")
payload not an object, an unknown property, other schema      CALLERROR ``FormatViolation``
a required property missing, too few or too many items        CALLERROR ``OccurrenceConstraintViolation``
a value of the wrong type or too long                         CALLERROR ``TypeConstraintViolation``
(schema violations by JSON-schema keyword: ocpp_schema_errors.csv, with the citation per row)
a value outside its enumeration or range; an unknown          CALLERROR ``PropertyConstraintViolation``
transaction, a second Started, events after Ended, a seqNo
not above the last, an EVSE the station does not have
any request before the BootNotification was accepted          CALLERROR ``SecurityError`` (2.0.1 Part 2 §3,
                                                              generic requirement FR.04)
an unknown station id in the URL                              HTTP 404, no WebSocket (OCPP-J: "SHOULD send
                                                              an HTTP response with status 404")
a client that does not offer ``ocpp2.0.1``                    handshake without subprotocol, then closed with
                                                              1002 (OCPP-J: complete the handshake without
                                                              Sec-WebSocket-Protocol, then close)
============================================================  ==============================================

The ``ocpp`` package answers an unknown action with ``NotSupported`` and an unhandled one with ``NotImplemented``,
the reverse of the OCPP-J table ("NotImplemented: Requested Action is not known by receiver"; discussed upstream in
mobilityhouse/ocpp#493), and only logs unparsable frames; this module routes requests itself to answer per the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import unquote

import numpy as np
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match
from ocpp.exceptions import (
    FormatViolationError,
    InternalError,
    NotSupportedError,
    OccurrenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    SecurityError,
    TypeConstraintViolationError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplementedError,
)
from ocpp.messages import Call, CallError, MessageType, get_validator, unpack
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from batteryloop.energy import elaadnl
from batteryloop.energy.fleet import FleetParameters
from batteryloop.errors import ValidationError
from batteryloop.protocols.hub import EvNeed, HubPlan, PriceSignal, defaults, grid_floor, plan_hub, utc

LOG = logging.getLogger("batteryloop.ocpp.csms")
WIRE_LOG = logging.getLogger("batteryloop.ocpp.csms.wire")  # the ocpp package's per-message log
SUBPROTOCOL = "ocpp2.0.1"
VENDOR_ID = "org.batteryloop"
ACTIONS_201 = frozenset(a.value for a in Action)
MAX_PERIODS = 1024  # ChargingScheduleType.chargingSchedulePeriod maxItems in the 2.0.1 schema


F = TypeVar("F", bound=Callable[..., Any])


def handles(action: str, *, validate: bool = False) -> Callable[[F], F]:
    """The ``ocpp`` package's ``on`` with a type (the package ships no hints); ``validate`` lets the package check
    the request and response schemas (the CSMS checks requests itself, see :func:`_schema_error`)."""
    return cast("Callable[[F], F]", on(action, skip_schema_validation=not validate))


def after_handling(action: str) -> Callable[[F], F]:
    """The ``ocpp`` package's ``after`` (runs once the response is sent) with a type."""
    return cast("Callable[[F], F]", after(action))


class RpcFrameworkError(OCPPError):  # type: ignore[misc]  # ocpp ships no type hints
    code = "RpcFrameworkError"
    default_description = "Content of the call is not a valid RPC Request"


class MessageTypeNotSupportedError(OCPPError):  # type: ignore[misc]
    code = "MessageTypeNotSupported"
    default_description = "A message with a Message Type Number received that is not supported"


# per OCPP-J 2.0.1 Part 4 the two "action" codes read: NotImplemented = not known, NotSupported = recognized but not
# supported; the ocpp package's default descriptions say the reverse, so the descriptions are given here
NOT_KNOWN = "Requested Action is not known by receiver"
NOT_SUPPORTED = "Requested Action is recognized but not supported by the receiver"

SCHEMA_ERRORS_CSV = Path(__file__).with_name("ocpp_schema_errors.csv")


@cache
def schema_error_codes() -> dict[str, type[OCPPError]]:
    """JSON-schema keyword -> the OCPP error raised for it (``ocpp_schema_errors.csv``, with the citation per row);
    ``*`` is the fallback."""
    classes: dict[str, type[OCPPError]] = {
        cls.code: cls
        for cls in (
            FormatViolationError,
            OccurrenceConstraintViolationError,
            PropertyConstraintViolationError,
            TypeConstraintViolationError,
        )
    }
    out: dict[str, type[OCPPError]] = {}
    with SCHEMA_ERRORS_CSV.open(newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            code = row.get("error_code", "")
            if code not in classes:
                raise ValidationError(
                    f"{SCHEMA_ERRORS_CSV.name}: line {line}: error code {code!r}",
                    field=f"{SCHEMA_ERRORS_CSV.name}:line {line}:error_code",
                    expected=", ".join(sorted(classes)),
                )
            out[row["schema_keyword"]] = classes[code]
    if "*" not in out:
        raise ValidationError(f"{SCHEMA_ERRORS_CSV.name}: no * row", field=SCHEMA_ERRORS_CSV.name, expected="a * row")
    return out


def iso(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text: str, name: str) -> datetime:
    try:
        return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (ValueError, AttributeError):
        raise PropertyConstraintViolationError(
            description=f"{name}: {text!r} is not an RFC 3339 date-time", details={"field": name}
        ) from None


@cache
def hourly_defaults() -> dict[int, tuple[float, float]]:
    """Mean stay [h] and energy [kWh] by local hour of arrival at a public charger: the ElaadNL statistics' mean
    session length and demand per half-hour of arrival (the shared data's, else the package's synthetic session model,
    :func:`batteryloop.energy.elaadnl.default_stats`), averaged over the hour's two half-hours; where the chart is
    blank, the mean of the whole connection-time and demand distributions."""
    stats = elaadnl.default_stats()
    session = stats.mean_session_h["public"]
    demand = stats.mean_demand_kWh["public"]
    overall_h = stats.quantile_mean(stats.connection_h, "public")
    overall_kWh = stats.quantile_mean(stats.demand_kWh, "public")
    out: dict[int, tuple[float, float]] = {}
    for hour in range(24):
        h = session[2 * hour : 2 * hour + 2]
        e = demand[2 * hour : 2 * hour + 2]
        out[hour] = (
            float(np.nanmean(h)) if np.isfinite(h).any() else overall_h,
            float(np.nanmean(e)) if np.isfinite(e).any() else overall_kWh,
        )
    return out


def default_stay(arrival: datetime) -> tuple[timedelta, float]:
    """The default stay and energy [kWh] for an EV arriving at ``arrival`` that does not tell its needs."""
    from zoneinfo import ZoneInfo

    hour = utc(arrival).astimezone(ZoneInfo("Europe/Amsterdam")).hour
    hours, kWh = hourly_defaults()[hour]
    return timedelta(hours=hours), kWh


@dataclass(frozen=True)
class StationSpec:
    """A station of the hub: one EVSE, its power [kW] and, when bidirectional, its discharge power [kW]."""

    id: str
    max_kW: float
    max_discharge_kW: float = 0.0
    evses: int = 1


@dataclass
class DeliveredProfile:
    start: datetime
    periods: list[tuple[int, float]]  # (seconds from start, W)

    def watts_at(self, moment: datetime) -> float:
        offset = (utc(moment) - self.start).total_seconds()
        if offset < 0:
            return 0.0  # before the schedule the TxDefaultProfile (0 W) applies
        value = 0.0
        for start_s, watts in self.periods:
            if start_s <= offset:
                value = watts
            else:
                break
        return value

    def same_from(self, other: DeliveredProfile, moment: datetime) -> bool:
        """Whether this profile and ``other`` give the same limit at every instant from ``moment`` on."""
        breaks = {utc(moment)}
        for prof in (self, other):
            breaks.update(prof.start + timedelta(seconds=s) for s, _ in prof.periods)
        return all(self.watts_at(t) == other.watts_at(t) for t in breaks if t >= moment)

    def energy_Wh(self, a: datetime, b: datetime, max_W: float, min_W: float) -> tuple[float, float]:
        """(imported, exported) Wh between ``a`` and ``b`` if the EV follows this profile within its limits."""
        if b <= a:
            return 0.0, 0.0
        t0 = (utc(a) - self.start).total_seconds()
        t1 = (utc(b) - self.start).total_seconds()
        edges = sorted({t0, t1, *(s for s, _ in self.periods if t0 < s < t1), *([0.0] if t0 < 0 < t1 else [])})
        imp = exp = 0.0
        for x, y in itertools.pairwise(edges):
            watts = self.watts_at(self.start + timedelta(seconds=x))
            watts = min(max(watts, min_W), max_W)
            if watts > 0:
                imp += watts * (y - x) / 3600.0
            else:
                exp -= watts * (y - x) / 3600.0
        return imp, exp


@dataclass
class Transaction:
    id: str
    station_id: str
    evse_id: int
    started: datetime
    seq_no: int
    max_kW: float
    max_discharge_kW: float
    battery_kWh: float = float("nan")
    requested_kWh: float = 0.0
    departure: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    from_needs: bool = False
    import_Wh: float = 0.0  # at the last meter value, since the transaction began
    export_Wh: float = 0.0
    meter_at: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    register0: tuple[float, float] | None = None  # import, export registers at Transaction.Begin
    profile: DeliveredProfile | None = None  # last profile the station accepted
    history: list[DeliveredProfile] = field(default_factory=list)  # accepted profiles since the last meter value
    planned: DeliveredProfile | None = None  # last profile planned (may be undelivered)
    ended: datetime | None = None
    reason: str = ""
    guaranteed_kWh: float = 0.0
    offline_events: int = 0  # TransactionEvents the station queued while its link was down

    def energy_at(self, moment: datetime) -> tuple[float, float]:
        """(import, export) Wh since the transaction began, predicted at ``moment`` from the last meter value and
        the profiles delivered since (each applies from its start until the next one's)."""
        imp, exp = self.import_Wh, self.export_Wh
        starts = [p.start for p in self.history[1:]] + ([moment] if self.history else [])
        for prof, until in zip(self.history, starts, strict=True):
            a, b = max(self.meter_at, prof.start), min(moment, until)
            if b > a:
                more_i, more_e = prof.energy_Wh(a, b, self.max_kW * 1000.0, -self.max_discharge_kW * 1000.0)
                imp, exp = imp + more_i, exp + more_e
        return imp, exp

    def delivered(self, profile: DeliveredProfile) -> None:
        self.profile = profile
        kept = [p for p in self.history if p.start < profile.start] + [profile]
        # a profile replaced before the last meter value no longer counts
        self.history = [p for k, p in enumerate(kept) if k + 1 == len(kept) or kept[k + 1].start > self.meter_at]


@dataclass(frozen=True)
class ProtocolErrorRecord:
    at: datetime
    station_id: str
    message_id: str
    action: str
    code: str
    description: str
    details: dict[str, Any]


@dataclass
class ReplanRecord:
    reason: str
    at: datetime
    evs: int
    status: str
    plan_s: float
    dispatch_s: float
    profiles_sent: int
    profiles_failed: int
    fixed_stations: int  # unreachable stations whose last profile was kept as fixed load


def _schema_error(action: str, payload: Any) -> OCPPError | None:
    """The OCPP error for a request payload that does not match the 2.0.1 JSON schema of ``action`` (or None)."""
    if not isinstance(payload, dict):
        return FormatViolationError(
            description=f"{action}: the payload is {type(payload).__name__}, not a JSON object",
            details={"field": "payload"},
        )
    validator = get_validator(MessageType.Call, action, "2.0.1")
    error: SchemaError | None = best_match(validator.iter_errors(payload))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path) or "payload"
    codes = schema_error_codes()
    cls = codes.get(str(error.validator), codes["*"])
    if error.validator == "required" and isinstance(error.validator_value, list):
        missing = [k for k in error.validator_value if isinstance(error.instance, dict) and k not in error.instance]
        if missing:
            where = ".".join([*(str(p) for p in error.absolute_path), missing[0]])
    return cls(description=f"{action}: {where}: {error.message}"[:255], details={"field": where})


def _select_subprotocol(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """``ocpp2.0.1`` when offered; otherwise complete the handshake without a subprotocol (the handler then closes
    the connection), as OCPP-J asks of a CSMS that agrees to none of the offered subprotocols."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None  # type: ignore[return-value]


class StationConnection(ChargePoint):  # type: ignore[misc]  # ocpp ships no type hints
    """One charging station's WebSocket, with the CSMS's handlers. Requests are routed here (see the module text)."""

    def __init__(self, station_id: str, connection: ServerConnection, csms: Csms) -> None:
        super().__init__(station_id, connection, response_timeout=csms.response_timeout_s, logger=WIRE_LOG)
        self.csms = csms
        self.connection = connection
        self._inflight: dict[str, str] = {}  # message id -> action of requests being handled

    async def start(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            async for message in self.connection:
                self.csms.messages_in += 1
                # each frame in its own task: a handler that re-plans sends SetChargingProfile to this same station
                # and must be able to read the answer while its request is still open
                task = asyncio.create_task(self.route_message(message))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in list(tasks):
                task.cancel()

    async def _send(self, message: str) -> None:
        self.csms.messages_out += 1
        if message.startswith("[4,"):  # every CALLERROR, also those the ocpp package builds from a handler's error
            frame = json.loads(message)
            self.csms.record_error(
                self.id, frame[1], self._inflight.pop(frame[1], ""), frame[2], frame[3], frame[4] or {}
            )
        elif message.startswith("[3,"):
            self._inflight.pop(json.loads(message)[1], None)
        await self._connection.send(message)

    async def _reply_error(self, message_id: str, action: str, error: OCPPError) -> None:
        self._inflight[message_id] = action
        frame = CallError(message_id, error.code, error.description, error.details or {})
        with contextlib.suppress(ConnectionClosed):
            await self._send(frame.to_json())

    async def route_message(self, raw_msg: str | bytes) -> None:
        try:
            frame = json.loads(raw_msg)
        except (json.JSONDecodeError, UnicodeDecodeError):
            await self._reply_error("-1", "", RpcFrameworkError(description="the frame is not JSON"))
            return
        if not isinstance(frame, list) or len(frame) < 3 or not isinstance(frame[1], str):
            message_id = frame[1] if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str) else "-1"
            await self._reply_error(
                message_id, "", RpcFrameworkError(description="not an OCPP-J array [type, messageId, ...]")
            )
            return
        kind, message_id = frame[0], frame[1]
        if kind in (MessageType.CallResult, MessageType.CallError):
            try:
                self._response_queue.put_nowait(unpack(raw_msg))
            except OCPPError as exc:
                LOG.warning("%s: unreadable answer %s: %s", self.id, message_id, exc)
            return
        if kind != MessageType.Call:
            await self._reply_error(message_id, "", MessageTypeNotSupportedError(details={"messageTypeId": kind}))
            return
        if len(frame) != 4 or not isinstance(frame[2], str):
            await self._reply_error(message_id, "", RpcFrameworkError(description="a CALL is [2, id, action, payload]"))
            return
        action, payload = frame[2], frame[3]
        if action not in ACTIONS_201:
            await self._reply_error(message_id, action, OcppNotImplementedError(description=NOT_KNOWN))
            return
        if action not in self.route_map:
            await self._reply_error(message_id, action, NotSupportedError(description=NOT_SUPPORTED))
            return
        error = _schema_error(action, payload)
        if error is not None:
            await self._reply_error(message_id, action, error)
            return
        if action != Action.boot_notification and not self.csms.accepted(self.id):
            await self._reply_error(
                message_id,
                action,
                SecurityError(description="the BootNotification of this station was not accepted yet"),
            )
            return
        msg = Call(message_id, action, payload)
        self._inflight[message_id] = action
        try:
            await self._handle_call(msg)
        except OCPPError as exc:
            await self._reply_error(message_id, action, exc)
        except Exception as exc:  # never let a handler end the connection
            LOG.exception("%s: %s %s failed", self.id, action, message_id)
            await self._reply_error(message_id, action, InternalError(description=str(exc)[:255]))

    # -- handlers (payloads arrive snake_case; the schema was checked above) -------------------------------------

    @handles(Action.boot_notification)
    async def on_boot(self, charging_station: dict[str, Any], reason: str, **_: Any) -> call_result.BootNotification:
        self.csms.booted.add(self.id)
        LOG.info("%s booted (%s, %s)", self.id, charging_station.get("model"), reason)
        return call_result.BootNotification(
            current_time=iso(self.csms.now()), interval=int(defaults()["heartbeat_interval_s"]), status="Accepted"
        )

    @after_handling(Action.boot_notification)
    async def after_boot(self, **_: Any) -> None:
        await self.csms.send_default_profile(self.id)

    @handles(Action.heartbeat)
    async def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=iso(self.csms.now()))

    @handles(Action.status_notification)
    async def on_status(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **_: Any
    ) -> call_result.StatusNotification:
        self.csms.check_evse(self.id, evse_id, "evseId")
        self.csms.saw(parse_time(timestamp, "timestamp"))
        self.csms.status[(self.id, evse_id)] = connector_status
        return call_result.StatusNotification()

    @handles(Action.transaction_event)
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        meter_value: list[dict[str, Any]] | None = None,
        evse: dict[str, Any] | None = None,
        offline: bool | None = None,
        **_: Any,
    ) -> call_result.TransactionEvent:
        moment = parse_time(timestamp, "timestamp")
        await self.csms.transaction_event(
            self.id, event_type, moment, seq_no, transaction_info, meter_value or [], evse, bool(offline)
        )
        return call_result.TransactionEvent()

    @handles(Action.notify_ev_charging_needs)
    async def on_needs(
        self, charging_needs: dict[str, Any], evse_id: int, **_: Any
    ) -> call_result.NotifyEVChargingNeeds:
        status = await self.csms.charging_needs(self.id, evse_id, charging_needs)
        return call_result.NotifyEVChargingNeeds(status=status)


class Csms:
    """The hub's CSMS: connections, transactions, the plan, and the protocol-error log."""

    def __init__(
        self,
        *,
        site_limit_kW: float | None,
        stations: list[StationSpec] | None = None,
        prices: PriceSignal | None = None,
        clock: str | Callable[[], datetime] = "wall",
        step_minutes: int | None = None,
        wear_cost_eur_per_MWh: float = 0.0,
        response_timeout_s: float = 30.0,
        default_station_kW: float | None = None,
        bidirectional: bool = False,
        replan_on_events: bool = True,
    ) -> None:
        if site_limit_kW is not None and (not np.isfinite(site_limit_kW) or site_limit_kW < 0):
            raise ValidationError(f"{site_limit_kW}", field="site_limit_kW", expected="a number >= 0 (kW)")
        self.site_limit_kW = site_limit_kW
        self.registry = None if stations is None else {s.id: s for s in stations}
        self.default_station_kW = default_station_kW if default_station_kW is not None else defaults()["evse_max_kW"]
        self.bidirectional = bidirectional  # stations not in a registry: may they discharge (V2G)?
        self.replan_on_events = replan_on_events  # False: events only update the state (e.g. while a hub starts)
        self.prices = prices if prices is not None else PriceSignal.flat(defaults()["flat_price_eur_per_MWh"])
        if clock not in ("wall", "stations") and not callable(clock):
            raise ValidationError(f"{clock!r}", field="clock", expected="wall, stations or a callable")
        self._clock = clock
        self._station_time: datetime | None = None
        self.step_minutes = step_minutes
        self.wear_cost = wear_cost_eur_per_MWh
        self.response_timeout_s = response_timeout_s
        self.params = FleetParameters.from_defaults()
        self.connections: dict[str, StationConnection] = {}
        self.booted: set[str] = set()
        self.status: dict[tuple[str, int], str] = {}
        self.transactions: dict[str, Transaction] = {}
        self.errors: list[ProtocolErrorRecord] = []
        self.replans: list[ReplanRecord] = []
        self.plan: HubPlan | None = None
        self.messages_in = 0
        self.messages_out = 0
        self._lock = asyncio.Lock()
        self._profile_ids: dict[tuple[str, int], int] = {}
        self._schedule_id = 0
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- clock and lookups -----------------------------------------------------------------------------------------

    def now(self) -> datetime:
        if callable(self._clock):
            return utc(self._clock())
        if self._clock == "stations" and self._station_time is not None:
            return self._station_time
        return datetime.now(UTC)

    def saw(self, moment: datetime) -> None:
        if self._station_time is None or moment > self._station_time:
            self._station_time = moment

    def spec(self, station_id: str) -> StationSpec:
        if self.registry is not None:
            return self.registry[station_id]
        power = self.default_station_kW
        return StationSpec(station_id, power, power if self.bidirectional else 0.0)

    def known(self, station_id: str) -> bool:
        return bool(station_id) and (self.registry is None or station_id in self.registry)

    def accepted(self, station_id: str) -> bool:
        return station_id in self.booted

    def check_evse(self, station_id: str, evse_id: int, name: str) -> None:
        evses = self.spec(station_id).evses
        if not 1 <= evse_id <= evses:
            raise PropertyConstraintViolationError(
                description=f"{name} {evse_id}: station {station_id} has EVSE 1..{evses}", details={"field": name}
            )

    def record_error(
        self, station_id: str, message_id: str, action: str, code: str, description: str, details: dict[str, Any]
    ) -> None:
        self.errors.append(ProtocolErrorRecord(self.now(), station_id, message_id, action, code, description, details))
        LOG.warning("%s: CALLERROR %s to %s %s: %s", station_id, code, action or "?", message_id, description)

    def open_transactions(self) -> list[Transaction]:
        return [t for t in self.transactions.values() if t.ended is None]

    # -- WebSocket server ------------------------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        station_id = unquote(request.path.rstrip("/").rsplit("/", 1)[-1])
        if not self.known(station_id):
            LOG.warning("refused unknown station id %r", station_id)
            return Response(404, "Not Found", Headers(), b"unknown charging station identity\n")
        return None

    async def _handler(self, connection: ServerConnection) -> None:
        station_id = unquote(connection.request.path.rstrip("/").rsplit("/", 1)[-1]) if connection.request else ""
        if connection.subprotocol != SUBPROTOCOL:
            LOG.warning("%s: no %s subprotocol offered; closing", station_id, SUBPROTOCOL)
            await connection.close(1002, f"subprotocol {SUBPROTOCOL} required")
            return
        old = self.connections.get(station_id)
        if old is not None:
            await old.connection.close(1000, "replaced by a new connection")
        station = StationConnection(station_id, connection, self)
        self.connections[station_id] = station
        LOG.info("%s connected", station_id)
        if station_id in self.booted and any(
            t.station_id == station_id for t in self.open_transactions()
        ):  # a reconnect during a session: the plan may have changed while the link was down
            task = asyncio.create_task(self.replan("reconnect"))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            await station.start()
        except ConnectionClosed:
            pass
        finally:
            if self.connections.get(station_id) is station:
                del self.connections[station_id]
            LOG.info("%s disconnected", station_id)

    async def serve(self, host: str = "127.0.0.1", port: int = 9000) -> Server:
        self._server = await serve(
            self._handler,
            host,
            port,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            select_subprotocol=_select_subprotocol,
            process_request=self._process_request,
            ping_interval=None,
            max_queue=None,
        )
        return self._server

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the CSMS is not serving")
        return int(next(iter(self._server.sockets)).getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- transactions ----------------------------------------------------------------------------------------------

    async def transaction_event(
        self,
        station_id: str,
        event_type: str,
        moment: datetime,
        seq_no: int,
        info: dict[str, Any],
        meter_value: list[dict[str, Any]],
        evse: dict[str, Any] | None,
        offline: bool,
    ) -> None:
        self.saw(moment)
        tx_id = str(info["transaction_id"])
        tx = self.transactions.get(tx_id)
        if event_type == "Started":
            if tx is not None:
                raise PropertyConstraintViolationError(
                    description=f"transaction {tx_id} was already started (seqNo {tx.seq_no})",
                    details={"field": "transactionInfo.transactionId"},
                )
            if evse is None:
                raise OccurrenceConstraintViolationError(
                    description="a Started event needs evse (the EVSE of the transaction)", details={"field": "evse"}
                )
            evse_id = int(evse["id"])
            self.check_evse(station_id, evse_id, "evse.id")
            spec = self.spec(station_id)
            stay, energy = default_stay(moment)
            tx = Transaction(
                id=tx_id,
                station_id=station_id,
                evse_id=evse_id,
                started=moment,
                seq_no=seq_no,
                max_kW=spec.max_kW,
                max_discharge_kW=0.0,
                requested_kWh=energy,
                departure=moment + stay,
                meter_at=moment,
            )
            self._meter(tx, meter_value, moment)
            self.transactions[tx_id] = tx
            await self._event_replan("arrival")
            return
        if tx is None or tx.station_id != station_id:
            raise PropertyConstraintViolationError(
                description=f"{event_type} for transaction {tx_id}, which was not started at {station_id}",
                details={"field": "transactionInfo.transactionId"},
            )
        if tx.ended is not None:
            raise PropertyConstraintViolationError(
                description=f"{event_type} for transaction {tx_id}, which ended at {iso(tx.ended)}",
                details={"field": "transactionInfo.transactionId"},
            )
        if seq_no <= tx.seq_no:
            raise PropertyConstraintViolationError(
                description=f"seqNo {seq_no} is not above the last one of transaction {tx_id} ({tx.seq_no})",
                details={"field": "seqNo"},
            )
        if seq_no > tx.seq_no + 1:
            LOG.warning("%s: transaction %s seqNo %d after %d: events missing", station_id, tx_id, seq_no, tx.seq_no)
        tx.seq_no = seq_no
        tx.offline_events += int(offline)
        self._meter(tx, meter_value, moment)
        if event_type == "Ended":
            tx.ended = moment
            await self._event_replan("departure")

    def _meter(self, tx: Transaction, meter_value: list[dict[str, Any]], moment: datetime) -> None:
        """Take the last Energy.Active.Import/Export.Register sample [Wh or kWh] of the meter values."""
        latest: datetime | None = None
        imp = exp = None
        for k, mv in enumerate(meter_value):
            at = parse_time(mv["timestamp"], f"meterValue[{k}].timestamp")
            for j, sv in enumerate(mv["sampled_value"]):
                measurand = sv.get("measurand", "Energy.Active.Import.Register")
                unit = (sv.get("unit_of_measure") or {}).get("unit", "Wh")
                scale = {"Wh": 1.0, "kWh": 1000.0}.get(unit)
                if measurand not in ("Energy.Active.Import.Register", "Energy.Active.Export.Register"):
                    continue
                if scale is None:
                    raise PropertyConstraintViolationError(
                        description=f"meterValue[{k}].sampledValue[{j}]: unit {unit!r} for {measurand}",
                        details={"field": f"meterValue[{k}].sampledValue[{j}].unitOfMeasure.unit"},
                    )
                value = (
                    float(sv["value"]) * scale * 10.0 ** float((sv.get("unit_of_measure") or {}).get("multiplier", 0))
                )
                if measurand.endswith("Import.Register"):
                    imp = value
                else:
                    exp = value
                latest = at if latest is None or at > latest else latest
        if imp is None and exp is None:
            return
        if tx.register0 is None:
            tx.register0 = (imp or 0.0, exp or 0.0)
        base_i, base_e = tx.register0
        if imp is not None:
            tx.import_Wh = max(0.0, imp - base_i)
        if exp is not None:
            tx.export_Wh = max(0.0, exp - base_e)
        tx.meter_at = latest or moment

    async def charging_needs(self, station_id: str, evse_id: int, needs: dict[str, Any]) -> str:
        self.check_evse(station_id, evse_id, "evseId")
        open_here = [t for t in self.open_transactions() if t.station_id == station_id and t.evse_id == evse_id]
        if not open_here:
            return "Rejected"  # no transaction on that EVSE: nothing to plan (not a protocol error)
        tx = open_here[-1]
        spec = self.spec(station_id)
        d = defaults()
        ac = needs.get("ac_charging_parameters")
        dc = needs.get("dc_charging_parameters")
        extra = needs.get("custom_data") or {}
        ours = extra.get("vendor_id") == VENDOR_ID
        if ac is not None:
            tx.requested_kWh = ac["energy_amount"] / 1000.0
            ev_kW = d["ac_phases"] * d["phase_voltage_V"] * ac["ev_max_current"] / 1000.0
        elif dc is not None:
            tx.requested_kWh = (dc.get("energy_amount") or tx.requested_kWh * 1000.0) / 1000.0
            ev_kW = (dc.get("ev_max_power") or dc["ev_max_current"] * dc["ev_max_voltage"]) / 1000.0
            if dc.get("ev_energy_capacity"):
                tx.battery_kWh = dc["ev_energy_capacity"] / 1000.0
        else:
            ev_kW = spec.max_kW
        if ours and extra.get("ev_max_power"):
            ev_kW = float(extra["ev_max_power"]) / 1000.0
        tx.max_kW = min(spec.max_kW, ev_kW)
        if ours and extra.get("ev_max_discharge_power") and spec.max_discharge_kW > 0:
            tx.max_discharge_kW = min(spec.max_discharge_kW, float(extra["ev_max_discharge_power"]) / 1000.0)
        if ours and extra.get("ev_energy_capacity"):
            tx.battery_kWh = float(extra["ev_energy_capacity"]) / 1000.0
        if needs.get("departure_time"):
            tx.departure = parse_time(needs["departure_time"], "chargingNeeds.departureTime")
        tx.from_needs = True
        await self._event_replan("needs")
        return "Accepted"

    # -- planning and dispatch -------------------------------------------------------------------------------------

    async def _event_replan(self, reason: str) -> None:
        if self.replan_on_events:
            await self.replan(reason)

    async def set_prices(self, prices: PriceSignal) -> ReplanRecord:
        """A new price signal: re-plan and send the new profiles (returns when every station answered)."""
        self.prices = prices
        return await self.replan("price")

    def battery_state(self, tx: Transaction, moment: datetime) -> tuple[float, float, float]:
        """(capacity, state, target) [kWh, battery side] of the EV at ``moment``: the arrival state is the fleet
        model's for an unknown state of charge (``departure_soc_if_unknown x capacity - eta_c x energy``, at least 0),
        the target that plus ``eta_c x energy``; the state follows the meter (import x eta_c - export / eta_d)."""
        imp_Wh, exp_Wh = tx.energy_at(moment)
        p = self.params
        cap = tx.battery_kWh if np.isfinite(tx.battery_kWh) else defaults()["default_battery_kWh"]
        e_start = float(np.clip(cap * p.departure_soc_if_unknown - p.charge_efficiency * tx.requested_kWh, 0.0, cap))
        target = min(cap * p.max_soc, e_start + p.charge_efficiency * tx.requested_kWh)
        state = e_start + (p.charge_efficiency * imp_Wh - exp_Wh / p.discharge_efficiency) / 1000.0
        return cap, float(np.clip(state, 0.0, cap)), target

    def _need(self, tx: Transaction, start: datetime) -> EvNeed:
        cap, state, target = self.battery_state(tx, start)
        step_s = 60 * int(self.step_minutes or defaults()["step_minutes"])
        departure = max(tx.departure, start)
        if not tx.from_needs:  # a default stay that ran out: the EV is still there, plan one more step
            departure = max(departure, start + timedelta(seconds=step_s))
        departure = min(departure, start + timedelta(seconds=step_s * (MAX_PERIODS // 2 - 2)))
        return EvNeed(
            key=tx.id,
            departure=departure,
            energy_kWh=max(0.0, (target - state) / self.params.charge_efficiency),
            max_charge_kW=tx.max_kW,
            max_discharge_kW=tx.max_discharge_kW,
            battery_kWh=cap,
            soc_pct=100.0 * state / cap,
        )

    def _fixed(self, txs: list[Transaction], start: datetime, T: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Per grid step of a plan from ``start``, the largest |power| [kW] the unreachable stations' last profiles
        allow (step 0 from ``start`` to the first grid boundary)."""
        step_s = 60 * int(self.step_minutes or defaults()["step_minutes"])
        grid0 = grid_floor(start, step_s)
        out = np.zeros(T)
        for tx in txs:
            if tx.profile is None:
                continue
            breaks = [tx.profile.start + timedelta(seconds=s) for s, _ in tx.profile.periods]
            for k in range(T):
                a = start if k == 0 else grid0 + timedelta(seconds=k * step_s)
                b = grid0 + timedelta(seconds=(k + 1) * step_s)
                peak = max(abs(tx.profile.watts_at(m)) for m in [a, *(m for m in breaks if a <= m < b)])
                out[k] += min(peak / 1000.0, max(tx.max_kW, tx.max_discharge_kW))
        return out

    async def replan(self, reason: str) -> ReplanRecord:
        async with self._lock:
            return await self._replan(reason)

    async def _replan(self, reason: str) -> ReplanRecord:
        failed_total = sent_total = fixed_total = 0
        plan_s = dispatch_s = 0.0
        for _attempt in range(3):
            start = self.now()
            txs = self.open_transactions()
            reachable = [t for t in txs if t.station_id in self.connections]
            unreachable = [t for t in txs if t.station_id not in self.connections]
            fixed_total = max(fixed_total, len(unreachable))
            t0 = time.perf_counter()
            needs = [self._need(t, start) for t in reachable]
            horizon = max([(n.departure - start).total_seconds() for n in needs], default=0.0)
            step_s = 60 * int(self.step_minutes or defaults()["step_minutes"])
            fixed = self._fixed(unreachable, start, max(1, int(np.ceil(horizon / step_s)) + 2))
            plan = plan_hub(
                needs,
                self.prices,
                start,
                site_limit_kW=self.site_limit_kW,
                step_minutes=self.step_minutes,
                fixed_kW=fixed if unreachable else None,
                wear_cost_eur_per_MWh=self.wear_cost,
            )
            plan_s += time.perf_counter() - t0
            self.plan = plan
            if plan.message:
                LOG.warning("plan: %s", plan.message)
            t1 = time.perf_counter()
            results = await asyncio.gather(*(self._send_profile(t, plan) for t in reachable))
            dispatch_s += time.perf_counter() - t1
            sent = sum(1 for r in results if r)
            failed = len(results) - sent
            sent_total += sent
            failed_total += failed
            if failed == 0:
                break
            LOG.warning("%d profile(s) not delivered; re-planning with those stations fixed", failed)
        record = ReplanRecord(
            reason,
            self.now(),
            len(self.plan.evs) if self.plan else 0,
            self.plan.status if self.plan else "empty",
            plan_s,
            dispatch_s,
            sent_total,
            failed_total,
            fixed_total,
        )
        self.replans.append(record)
        return record

    def profile_id(self, station_id: str, evse_id: int) -> int:
        key = (station_id, evse_id)
        if key not in self._profile_ids:
            self._profile_ids[key] = len(self._profile_ids) + 1
        return self._profile_ids[key]

    async def _send_profile(self, tx: Transaction, plan: HubPlan) -> bool:
        ev = plan.evs[tx.id]
        tx.reason, tx.guaranteed_kWh = ev.reason, ev.guaranteed_kWh
        periods = ev.periods(plan)[:MAX_PERIODS]
        profile = DeliveredProfile(plan.start, periods)
        tx.planned = profile
        if tx.profile is not None and tx.profile.same_from(profile, plan.start):
            return True  # the station already applies these limits from now on
        self._schedule_id += 1
        payload = call.SetChargingProfile(
            evse_id=tx.evse_id,
            charging_profile={
                "id": self.profile_id(tx.station_id, tx.evse_id),
                "stackLevel": 0,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Absolute",
                "transactionId": tx.id,
                "chargingSchedule": [
                    {
                        "id": self._schedule_id,
                        "startSchedule": iso(plan.start),
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": s, "limit": w} for s, w in periods],
                    }
                ],
            },
        )
        return await self._call(tx.station_id, payload, tx, profile)

    async def _call(
        self, station_id: str, payload: Any, tx: Transaction | None, profile: DeliveredProfile | None
    ) -> bool:
        station = self.connections.get(station_id)
        if station is None:
            return False
        try:
            # built here from typed values; the station checks the schema on receipt
            result = await station.call(payload, suppress=False, skip_schema_validation=True)
        except (ConnectionClosed, TimeoutError, OCPPError) as exc:
            LOG.warning("%s: %s not delivered: %s", station_id, type(payload).__name__, exc)
            if isinstance(exc, ConnectionClosed) and self.connections.get(station_id) is station:
                del self.connections[station_id]  # the link is down: plan it as fixed load from now on
            return False
        if getattr(result, "status", "Accepted") != "Accepted":
            LOG.warning("%s: %s answered %s", station_id, type(payload).__name__, result.status)
            return False
        if tx is not None and profile is not None:
            tx.delivered(profile)
        return True

    async def send_default_profile(self, station_id: str) -> bool:
        """TxDefaultProfile of 0 W on EVSE 0 (all EVSEs): no charging before the CSMS sends a TxProfile."""
        payload = call.SetChargingProfile(
            evse_id=0,
            charging_profile={
                "id": 0,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": [
                    {"id": 0, "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0.0}]}
                ],
            },
        )
        return await self._call(station_id, payload, None, None)

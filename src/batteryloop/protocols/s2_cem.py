"""batteryloop as the S2 (EN 50491-12-2) Customer Energy Manager (CEM) for batteries, with ``s2-python`` messages.

Resource managers (RMs) connect over WebSocket (``ws://host:port/<anything>``, JSON messages as in s2-ws-json). Per
connection:

1. the RM's ``Handshake`` (role RM) is answered with the CEM's ``Handshake`` and a ``HandshakeResponse`` selecting
   S2 ``0.0.2-beta`` (the version of s2-python's message model);
2. ``ResourceManagerDetails`` offering ``FILL_RATE_BASED_CONTROL`` is answered with ``SelectControlType`` FRBC (any
   other offer with ``NO_SELECTION``);
3. ``FRBC.SystemDescription`` is read as a battery (:func:`batteryloop.protocols.s2_battery.battery_from_description`)
   and, once an ``FRBC.StorageStatus`` gives the state of charge, the CEM plans: day-ahead arbitrage of the energy
   package (:func:`batteryloop.energy.dispatch.dispatch`, one LP on HiGHS) from the current 15-minute step over
   ``horizon_hours`` with the state of charge kept at the end, and sends one ``FRBC.Instruction`` per step whose mode or
   factor changes (``execution_time`` = the step start, the first one now); FRBC runs one mode at a time, so a step
   where the LP charges and discharges at once (negative prices) goes out as its net power, clipped to the battery;
4. ``FRBC.ActuatorStatus``, ``FRBC.StorageStatus``, ``PowerMeasurement`` and ``InstructionStatusUpdate`` are recorded;
   a new storage status more than ``replan_tolerance_pct`` off the plan, a new price signal or a reconnect re-plans:
   instructions not yet executed are revoked (``RevokeObject``) and new ones sent.

Every message is acknowledged with a ``ReceptionStatus`` (S2: each message but ReceptionStatus itself is answered);
what does not fit is answered with the status the S2 message model defines, logged in :attr:`S2Cem.errors`, and the
connection stays up: not JSON -> ``INVALID_DATA`` (subject: the nil UUID); JSON that is not an S2 message ->
``INVALID_MESSAGE`` (subject: its message_id when readable); a valid message out of place (before the handshake, an
FRBC message before FRBC was selected, an actuator, mode or instruction the CEM does not know, a description that is
not a battery) -> ``INVALID_CONTENT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from s2python.common import (
    Handshake,
    HandshakeResponse,
    InstructionStatusUpdate,
    PowerMeasurement,
    ReceptionStatus,
    ResourceManagerDetails,
    RevokeObject,
    SelectControlType,
)
from s2python.frbc import FRBCActuatorStatus, FRBCInstruction, FRBCStorageStatus, FRBCSystemDescription
from s2python.message import S2Message
from s2python.s2_parser import S2Parser
from s2python.s2_validation_error import S2ValidationError
from s2python.version import S2_VERSION
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from batteryloop.energy.asset import Asset
from batteryloop.energy.dispatch import dispatch
from batteryloop.errors import ValidationError
from batteryloop.protocols.hub import PriceSignal, defaults, grid_floor, utc
from batteryloop.protocols.s2_battery import BatterySpec, FrbcIds, battery_from_description, message_id

LOG = logging.getLogger("batteryloop.s2.cem")
NIL = uuid.UUID(int=0)


@dataclass(frozen=True)
class S2ErrorRecord:
    at: datetime
    resource: str
    subject: uuid.UUID
    status: str
    label: str


@dataclass(frozen=True)
class PlannedStep:
    start: datetime
    mode: str  # charge, idle, discharge
    factor: float
    power_kW: float  # grid side, positive charging


@dataclass
class RmSession:
    """One resource manager connection and what the CEM knows of its battery."""

    connection: ServerConnection
    handshake: bool = False
    resource_id: uuid.UUID | None = None
    details: ResourceManagerDetails | None = None
    frbc: bool = False
    spec: BatterySpec | None = None
    ids: FrbcIds | None = None
    soc_pct: float | None = None
    soc_at: datetime | None = None
    plan: list[PlannedStep] = field(default_factory=list)
    pending: dict[uuid.UUID, datetime] = field(default_factory=dict)  # instruction id -> execution time
    instructions: list[FRBCInstruction] = field(default_factory=list)
    status_updates: list[InstructionStatusUpdate] = field(default_factory=list)
    actuator_status: list[FRBCActuatorStatus] = field(default_factory=list)
    storage_status: list[tuple[datetime, float]] = field(default_factory=list)
    measurements: list[PowerMeasurement] = field(default_factory=list)
    acks: dict[uuid.UUID, str] = field(default_factory=dict)  # our message id -> reception status


class S2Cem:
    """The CEM: a WebSocket server for battery resource managers (see the module text)."""

    def __init__(
        self,
        *,
        prices: PriceSignal | None = None,
        clock: Callable[[], datetime] | str = "wall",
        horizon_hours: float = 24.0,
        step_minutes: int | None = None,
        replan_tolerance_pct: float = 2.0,
    ) -> None:
        if not 0 < horizon_hours <= 24 * 7:
            raise ValidationError(f"{horizon_hours}", field="horizon_hours", expected="0 < hours <= 168")
        self.prices = prices if prices is not None else PriceSignal.flat(defaults()["flat_price_eur_per_MWh"])
        if not callable(clock) and clock not in ("wall", "rm"):
            raise ValidationError(f"{clock!r}", field="clock", expected="wall, rm or a callable")
        self._clock = clock
        self._rm_time: datetime | None = None
        self.horizon_hours = horizon_hours
        self.step_minutes = int(step_minutes or defaults()["step_minutes"])
        self.tolerance = replan_tolerance_pct
        self.sessions: dict[str, RmSession] = {}  # resource id -> latest session
        self.errors: list[S2ErrorRecord] = []
        self.replans: list[tuple[str, datetime, str]] = []  # resource, at, reason
        self._server: Server | None = None
        self._lock = asyncio.Lock()

    def clock(self) -> datetime:
        """Now: the wall clock, the latest time a resource manager stated (``rm``: for simulated RMs), or the
        given callable."""
        if callable(self._clock):
            return utc(self._clock())
        if self._clock == "rm" and self._rm_time is not None:
            return self._rm_time
        return datetime.now(UTC)

    def _saw(self, moment: datetime) -> None:
        moment = utc(moment)
        if self._rm_time is None or moment > self._rm_time:
            self._rm_time = moment

    # -- server ----------------------------------------------------------------------------------------------------

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> Server:
        self._server = await serve(self._handler, host, port, ping_interval=None)
        return self._server

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the CEM is not serving")
        return int(next(iter(self._server.sockets)).getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handler(self, connection: ServerConnection) -> None:
        session = RmSession(connection)
        with contextlib.suppress(ConnectionClosed):
            async for raw in connection:
                try:
                    await self._receive(session, raw)
                except ConnectionClosed:
                    raise
                except Exception:  # never let one message end the connection
                    LOG.exception("S2 message failed: %.200s", raw)

    async def _send(self, session: RmSession, message: S2Message) -> None:
        await session.connection.send(message.to_json())

    async def _status(self, session: RmSession, subject: uuid.UUID, status: str, label: str = "") -> None:
        if status != "OK":
            name = str(session.resource_id or "?")
            self.errors.append(S2ErrorRecord(self.clock(), name, subject, status, label))
            LOG.warning("%s: ReceptionStatus %s for %s: %s", name, status, subject, label)
        await self._send(
            session,
            ReceptionStatus(subject_message_id=subject, status=status, diagnostic_label=label[:250] or None),
        )

    # -- messages ----------------------------------------------------------------------------------------------------

    async def _receive(self, session: RmSession, raw: str | bytes) -> None:
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            await self._status(session, NIL, "INVALID_DATA", "not JSON")
            return
        try:
            message = S2Parser.parse_as_any_message(data)
        except S2ValidationError as exc:
            subject = NIL
            if isinstance(data, dict):
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    subject = uuid.UUID(str(data.get("message_id")))
            await self._status(session, subject, "INVALID_MESSAGE", str(exc.msg))
            return
        if isinstance(message, ReceptionStatus):
            session.acks[message.subject_message_id] = message.status.value
            return
        subject = message_id(message)
        if isinstance(message, Handshake):
            await self._handshake(session, message)
            return
        if not session.handshake:
            await self._status(session, subject, "INVALID_CONTENT", "handshake first")
            return
        if isinstance(message, ResourceManagerDetails):
            await self._details(session, message)
        elif isinstance(message, FRBCSystemDescription):
            self._saw(message.valid_from)
            await self._description(session, message)
        elif isinstance(message, FRBCStorageStatus):
            await self._storage(session, message)
        elif isinstance(message, FRBCActuatorStatus):
            if not session.frbc or session.ids is None or message.actuator_id != session.ids.actuator:
                await self._status(session, subject, "INVALID_CONTENT", f"unknown actuator {message.actuator_id}")
                return
            session.actuator_status.append(message)
            await self._status(session, subject, "OK")
        elif isinstance(message, InstructionStatusUpdate):
            if message.instruction_id not in {i.id for i in session.instructions}:
                await self._status(session, subject, "INVALID_CONTENT", f"unknown instruction {message.instruction_id}")
                return
            self._saw(message.timestamp)
            session.status_updates.append(message)
            if message.status_type.value in ("SUCCEEDED", "REJECTED", "ABORTED", "REVOKED"):
                session.pending.pop(message.instruction_id, None)
            await self._status(session, subject, "OK")
        elif isinstance(message, PowerMeasurement):
            self._saw(message.measurement_timestamp)
            session.measurements.append(message)
            await self._status(session, subject, "OK")
        else:
            await self._status(
                session, subject, "INVALID_CONTENT", f"{message.message_type} is not handled by this CEM"
            )

    async def _handshake(self, session: RmSession, message: Handshake) -> None:
        if message.role.value != "RM":
            await self._status(session, message.message_id, "INVALID_CONTENT", "the CEM talks to resource managers")
            return
        offered = message.supported_protocol_versions or []
        if S2_VERSION not in offered:
            await self._status(session, message.message_id, "INVALID_CONTENT", f"S2 {S2_VERSION} not offered")
            return
        await self._status(session, message.message_id, "OK")
        session.handshake = True
        await self._send(
            session, Handshake(message_id=uuid.uuid4(), role="CEM", supported_protocol_versions=[S2_VERSION])
        )
        await self._send(session, HandshakeResponse(message_id=uuid.uuid4(), selected_protocol_version=S2_VERSION))

    async def _details(self, session: RmSession, message: ResourceManagerDetails) -> None:
        session.details = message
        session.resource_id = message.resource_id
        await self._status(session, message.message_id, "OK")
        offered = {c.value for c in message.available_control_types}
        choice = "FILL_RATE_BASED_CONTROL" if "FILL_RATE_BASED_CONTROL" in offered else "NO_SELECTION"
        session.frbc = choice == "FILL_RATE_BASED_CONTROL"
        previous = self.sessions.get(str(message.resource_id))
        if previous is not None and previous is not session:  # a reconnect: keep what was learnt and what is pending
            session.instructions, session.status_updates = previous.instructions, previous.status_updates
            session.pending = previous.pending  # the RM still holds these: the next plan revokes them
        self.sessions[str(message.resource_id)] = session
        await self._send(session, SelectControlType(message_id=uuid.uuid4(), control_type=choice))

    async def _description(self, session: RmSession, message: FRBCSystemDescription) -> None:
        if not session.frbc:
            await self._status(session, message.message_id, "INVALID_CONTENT", "FRBC was not selected")
            return
        try:
            spec, ids = battery_from_description(message)
        except ValidationError as exc:
            await self._status(session, message.message_id, "INVALID_CONTENT", str(exc))
            return
        session.spec, session.ids = spec, ids
        if session.soc_pct is not None:
            await self.replan(session, "description")
        await self._status(session, message.message_id, "OK")  # after the instructions it caused

    async def _storage(self, session: RmSession, message: FRBCStorageStatus) -> None:
        if not session.frbc:
            await self._status(session, message.message_id, "INVALID_CONTENT", "FRBC was not selected")
            return
        level = float(message.present_fill_level)
        if not 0.0 <= level <= 100.0:
            await self._status(session, message.message_id, "INVALID_CONTENT", f"fill level {level} outside 0..100 %")
            return
        now = utc(self.clock())
        expected = self.expected_soc(session, now)
        session.soc_pct, session.soc_at = level, now
        session.storage_status.append((now, level))
        if session.spec is not None and (expected is None or abs(expected - level) > self.tolerance):
            await self.replan(session, "storage status" if expected is not None else "first storage status")
        await self._status(session, message.message_id, "OK")  # after the instructions it caused

    # -- planning ----------------------------------------------------------------------------------------------------

    def expected_soc(self, session: RmSession, moment: datetime) -> float | None:
        """The state of charge [%] the plan expects at ``moment`` (None without a plan)."""
        if not session.plan or session.spec is None or session.soc_pct is None or session.soc_at is None:
            return None
        spec = session.spec
        soc_kWh = session.soc_pct / 100.0 * spec.energy_kWh
        step = timedelta(minutes=self.step_minutes)
        for s in session.plan:
            a, b = max(s.start, session.soc_at), min(s.start + step, moment)
            if b <= a:
                continue
            h = (b - a).total_seconds() / 3600.0
            soc_kWh += (spec.efficiency * s.power_kW if s.power_kW > 0 else s.power_kW / spec.efficiency) * h
        return 100.0 * soc_kWh / spec.energy_kWh

    async def set_prices(self, prices: PriceSignal) -> None:
        """A new price signal: re-plan every connected battery (from the state of charge the plan expects now)."""
        self.prices = prices
        for session in list(self.sessions.values()):
            if session.spec is not None and session.soc_pct is not None:
                expected = self.expected_soc(session, utc(self.clock()))
                if expected is not None:
                    session.soc_pct = min(max(expected, 0.0), 100.0)
                with contextlib.suppress(ConnectionClosed):
                    await self.replan(session, "price")

    async def replan(self, session: RmSession, reason: str) -> list[PlannedStep]:
        async with self._lock:
            return await self._replan(session, reason)

    async def _replan(self, session: RmSession, reason: str) -> list[PlannedStep]:
        assert session.spec is not None
        assert session.ids is not None
        assert session.soc_pct is not None
        spec, ids = session.spec, session.ids
        now = utc(self.clock())
        step_s = self.step_minutes * 60
        grid0 = grid_floor(now, step_s)
        T = max(1, math.ceil(self.horizon_hours * 3600 / step_s))
        starts = [grid0 + timedelta(seconds=k * step_s) for k in range(T)]
        soc = min(max(session.soc_pct / 100.0, 0.0), 1.0)
        asset = Asset(
            power_kW=spec.power_kW,
            energy_kWh=spec.energy_kWh,
            charge_efficiency=spec.efficiency,
            discharge_efficiency=spec.efficiency,
            soc_start=soc,
            soc_end=soc,
        )
        stamps = np.array([np.datetime64(s.replace(tzinfo=None), "us") for s in starts])
        result = dispatch(stamps, self.prices.at(starts), asset, step_minutes=self.step_minutes)
        if result.status.value != "optimal":
            LOG.warning("%s: dispatch ended %s: %s", session.resource_id, result.status.value, result.message)
            return session.plan
        charge = result.schedule["charge_kW"].to_numpy()
        discharge = result.schedule["discharge_kW"].to_numpy()
        plan: list[PlannedStep] = []
        # FRBC runs one mode at a time: a step where the LP charges and discharges at once (it may, at negative
        # prices) is sent as its net power, clipped so that the state of charge stays within the battery
        e_kWh = soc * spec.energy_kWh
        for k, start in enumerate(starts):
            h = (start + timedelta(seconds=step_s) - max(start, now)).total_seconds() / 3600.0
            net = float(charge[k] - discharge[k])
            if net > 0:
                net = min(net, (spec.energy_kWh - e_kWh) / (spec.efficiency * h))
                e_kWh += spec.efficiency * net * h
            else:
                net = max(net, -e_kWh * spec.efficiency / h)
                e_kWh += net * h / spec.efficiency
            if net > 1e-9:
                step = PlannedStep(start, "charge", min(1.0, net / spec.power_kW), net)
            elif net < -1e-9:
                step = PlannedStep(start, "discharge", max(0.0, 1.0 + net / spec.power_kW), net)
            else:
                step = PlannedStep(start, "idle", 0.0, 0.0)
            plan.append(step)
        # revoke what has not run yet, then send the new instructions (one per change, the first one now)
        for instruction_id, when in list(session.pending.items()):
            if when > now:
                await self._send(
                    session,
                    RevokeObject(message_id=uuid.uuid4(), object_type="FRBC.Instruction", object_id=instruction_id),
                )
                session.pending.pop(instruction_id)
        previous: tuple[str, float] | None = None
        for step in plan:
            key = (step.mode, round(step.factor, 6))
            if key == previous:
                continue
            previous = key
            instruction = FRBCInstruction(
                message_id=uuid.uuid4(),
                id=uuid.uuid4(),
                actuator_id=ids.actuator,
                operation_mode=ids.modes[step.mode],
                operation_mode_factor=round(step.factor, 6),
                execution_time=max(step.start, now),
                abnormal_condition=False,
            )
            session.instructions.append(instruction)
            session.pending[instruction.id] = instruction.execution_time
            await self._send(session, instruction)
        session.plan = plan
        session.soc_at = now
        self.replans.append((str(session.resource_id), now, reason))
        return plan

    def session_of(self, resource_id: uuid.UUID | str) -> RmSession:
        return self.sessions[str(resource_id)]

    def describe(self, resource_id: uuid.UUID | str) -> dict[str, Any]:
        s = self.session_of(resource_id)
        return {
            "resource_id": str(resource_id),
            "battery": None if s.spec is None else vars(s.spec),
            "soc_pct": s.soc_pct,
            "instructions": len(s.instructions),
            "status_updates": len(s.status_updates),
        }

"""An S2 resource manager (RM) for a battery known to batteryloop, so that two batteryloop processes talk S2.

The RM connects to a CEM (:mod:`batteryloop.protocols.s2_cem`) over WebSocket, sends ``Handshake`` (role RM, S2
``0.0.2-beta``), ``ResourceManagerDetails`` offering ``FILL_RATE_BASED_CONTROL``, and once FRBC is selected the
battery's ``FRBC.SystemDescription`` (:func:`batteryloop.protocols.s2_battery.system_description`), its
``FRBC.StorageStatus`` (state of charge [%]) and ``FRBC.ActuatorStatus`` (idle). It acknowledges every message with a
``ReceptionStatus``; an ``FRBC.Instruction`` for another actuator or an unknown mode, or a factor outside 0..1, is
answered ``INVALID_CONTENT`` and not executed; a valid one is ``ACCEPTED`` (``InstructionStatusUpdate``), and at its
execution time ``STARTED`` and ``SUCCEEDED`` with a new actuator status; ``RevokeObject`` of a pending instruction
makes it ``REVOKED``.

The battery itself is simulated: power ``f P`` charging, ``-(1 - f) P`` discharging (grid side), the state of charge
moving by ``eta x power`` charging and ``power / eta`` discharging, held within 0..100 %. Time is a :class:`SimClock`
the caller advances (:meth:`BatteryRm.advance`); the CEM may share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
from s2python.frbc import FRBCActuatorStatus, FRBCInstruction, FRBCStorageStatus
from s2python.message import S2Message
from s2python.s2_parser import S2Parser
from s2python.s2_validation_error import S2ValidationError
from s2python.version import S2_VERSION
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from batteryloop.protocols.hub import utc
from batteryloop.protocols.s2_battery import POWER, BatterySpec, FrbcIds, message_id, system_description

LOG = logging.getLogger("batteryloop.s2.rm")
NIL = uuid.UUID(int=0)


class SimClock:
    """A settable clock (UTC) for simulations; call it for the time."""

    def __init__(self, start: datetime) -> None:
        self.now = utc(start)

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime
    kW: float  # grid side, positive charging
    mode: str


@dataclass
class BatteryRm:
    """The RM of one battery (see the module text)."""

    url: str
    spec: BatterySpec
    soc_pct: float
    clock: SimClock
    resource_id: uuid.UUID = field(default_factory=uuid.uuid4)
    ids: FrbcIds = field(default_factory=FrbcIds.new)
    timeout_s: float = 30.0
    mode: str = "idle"
    factor: float = 0.0
    t: datetime | None = None
    pending: dict[uuid.UUID, FRBCInstruction] = field(default_factory=dict)
    executed: list[FRBCInstruction] = field(default_factory=list)
    revoked: list[uuid.UUID] = field(default_factory=list)
    refused: list[tuple[uuid.UUID, str, str]] = field(default_factory=list)  # subject, status, label from the CEM
    intervals: list[Interval] = field(default_factory=list)
    connection: ClientConnection | None = None
    _reader: asyncio.Task[None] | None = None
    _waiting: dict[uuid.UUID, asyncio.Future[str]] = field(default_factory=dict)
    _selected: asyncio.Event = field(default_factory=asyncio.Event)
    _accepted: asyncio.Event = field(default_factory=asyncio.Event)
    control_type: str = ""

    @property
    def names(self) -> dict[uuid.UUID, str]:
        return {v: k for k, v in self.ids.modes.items()}

    # -- connection --------------------------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect, hand-shake, get FRBC selected and describe the battery and its state."""
        self._selected, self._accepted = asyncio.Event(), asyncio.Event()
        self.t = self.t or self.clock()
        self.connection = await connect(self.url, ping_interval=None)
        self._reader = asyncio.create_task(self._read())
        await self.send(Handshake(message_id=uuid.uuid4(), role="RM", supported_protocol_versions=[S2_VERSION]))
        await asyncio.wait_for(self._accepted.wait(), self.timeout_s)
        await self.send(
            ResourceManagerDetails(
                message_id=uuid.uuid4(),
                resource_id=self.resource_id,
                name=self.spec.name,
                roles=[{"role": "ENERGY_STORAGE", "commodity": "ELECTRICITY"}],
                instruction_processing_delay=1000,
                available_control_types=["FILL_RATE_BASED_CONTROL", "NOT_CONTROLABLE"],
                provides_forecast=False,
                provides_power_measurement_types=[POWER],
            )
        )
        await asyncio.wait_for(self._selected.wait(), self.timeout_s)
        if self.control_type != "FILL_RATE_BASED_CONTROL":
            return
        await self.send(system_description(self.spec, self.ids, self.clock()))
        await self.send(self._actuator_status())
        await self.send(FRBCStorageStatus(message_id=uuid.uuid4(), present_fill_level=round(self.soc_pct, 6)))

    async def drop(self) -> None:
        """The link drops (TCP aborted); the battery goes on with the instructions it has."""
        if self.connection is not None:
            self.connection.transport.abort()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await self._reader
        self.connection = None

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await self._reader

    async def send(self, message: S2Message, *, wait: bool = True) -> str:
        """Send; with ``wait`` return the CEM's ReceptionStatus (the CEM sends what a message causes before it)."""
        if self.connection is None:
            return "OFFLINE"
        subject = message_id(message)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if wait:
            self._waiting[subject] = future
        await self.connection.send(message.to_json())
        if not wait:
            return "SENT"
        return await asyncio.wait_for(future, self.timeout_s)

    async def _reply(self, subject: uuid.UUID, status: str, label: str = "") -> None:
        if self.connection is not None:
            ack = ReceptionStatus(subject_message_id=subject, status=status, diagnostic_label=label or None)
            with contextlib.suppress(ConnectionClosed):
                await self.connection.send(ack.to_json())

    async def _read(self) -> None:
        assert self.connection is not None
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.connection:
                try:
                    message = S2Parser.parse_as_any_message(json.loads(raw))
                except (json.JSONDecodeError, S2ValidationError) as exc:
                    LOG.warning("unreadable message from the CEM: %s", exc)
                    await self._reply(NIL, "INVALID_MESSAGE", "not an S2 message")
                    continue
                await self._handle(message)

    async def _handle(self, message: S2Message) -> None:
        if isinstance(message, ReceptionStatus):
            if message.status.value != "OK":
                self.refused.append((message.subject_message_id, message.status.value, message.diagnostic_label or ""))
            future = self._waiting.pop(message.subject_message_id, None)
            if future is not None and not future.done():
                future.set_result(message.status.value)
            return
        subject = message_id(message)
        if isinstance(message, Handshake):
            await self._reply(subject, "OK")
        elif isinstance(message, HandshakeResponse):
            await self._reply(subject, "OK")
            self._accepted.set()
        elif isinstance(message, SelectControlType):
            self.control_type = message.control_type.value
            await self._reply(subject, "OK")
            self._selected.set()
        elif isinstance(message, FRBCInstruction):
            await self._instruction(message)
        elif isinstance(message, RevokeObject):
            if message.object_id in self.pending:
                del self.pending[message.object_id]
                self.revoked.append(message.object_id)
                await self._reply(subject, "OK")
                await self.send(self._update(message.object_id, "REVOKED"), wait=False)
            else:
                await self._reply(subject, "INVALID_CONTENT", f"no pending instruction {message.object_id}")
        else:
            await self._reply(subject, "INVALID_CONTENT", f"{message.message_type} is not handled by this RM")

    async def _instruction(self, message: FRBCInstruction) -> None:
        problem = ""
        if message.actuator_id != self.ids.actuator:
            problem = f"unknown actuator {message.actuator_id}"
        elif message.operation_mode not in self.names:
            problem = f"unknown operation mode {message.operation_mode}"
        elif not 0.0 <= message.operation_mode_factor <= 1.0:
            problem = f"factor {message.operation_mode_factor} outside 0..1"
        if problem:
            await self._reply(message.message_id, "INVALID_CONTENT", problem)
            return
        await self._reply(message.message_id, "OK")
        self.pending[message.id] = message
        await self.send(self._update(message.id, "ACCEPTED"), wait=False)

    def _update(self, instruction: uuid.UUID, status: str) -> InstructionStatusUpdate:
        return InstructionStatusUpdate(
            message_id=uuid.uuid4(), instruction_id=instruction, status_type=status, timestamp=self.clock()
        )

    def _actuator_status(self) -> FRBCActuatorStatus:
        return FRBCActuatorStatus(
            message_id=uuid.uuid4(),
            actuator_id=self.ids.actuator,
            active_operation_mode_id=self.ids.modes[self.mode],
            operation_mode_factor=self.factor,
        )

    # -- the battery ---------------------------------------------------------------------------------------------------

    def power_kW(self) -> float:
        if self.mode == "charge":
            return self.factor * self.spec.power_kW
        if self.mode == "discharge":
            return -(1.0 - self.factor) * self.spec.power_kW
        return 0.0

    def _run(self, until: datetime) -> None:
        """Integrate the state of charge from ``self.t`` to ``until`` at the present mode (held in 0..100 %)."""
        assert self.t is not None
        while self.t < until:
            kW = self.power_kW()
            end = until
            e = self.soc_pct / 100.0 * self.spec.energy_kWh
            if kW > 0:
                room_h = (self.spec.energy_kWh - e) / (self.spec.efficiency * kW)
                end = min(until, self.t + timedelta(hours=room_h)) if room_h > 0 else self.t
            elif kW < 0:
                room_h = e * self.spec.efficiency / -kW
                end = min(until, self.t + timedelta(hours=room_h)) if room_h > 0 else self.t
            if end <= self.t:  # at a bound: idle for the rest
                self.intervals.append(Interval(self.t, until, 0.0, self.mode))
                self.t = until
                return
            h = (end - self.t).total_seconds() / 3600.0
            e += self.spec.efficiency * kW * h if kW > 0 else kW * h / self.spec.efficiency
            self.soc_pct = min(max(100.0 * e / self.spec.energy_kWh, 0.0), 100.0)
            self.intervals.append(Interval(self.t, end, kW, self.mode))
            self.t = end

    async def advance(self, until: datetime, *, report: bool = True) -> None:
        """Run the battery to ``until``, executing the instructions that fall due; with ``report`` send the storage
        status and a power measurement at the end (offline the battery runs on, nothing is sent)."""
        assert self.t is not None
        due = sorted(
            (i for i in self.pending.values() if utc(i.execution_time) <= until), key=lambda i: i.execution_time
        )
        for instruction in due:
            at = max(utc(instruction.execution_time), self.t)
            self.clock.now = at
            self._run(at)
            del self.pending[instruction.id]
            self.mode = self.names[instruction.operation_mode]
            self.factor = float(instruction.operation_mode_factor)
            self.executed.append(instruction)
            await self.send(self._update(instruction.id, "STARTED"), wait=False)
            await self.send(self._actuator_status(), wait=False)
            await self.send(self._update(instruction.id, "SUCCEEDED"), wait=False)
        self.clock.now = until
        self._run(until)
        if report and self.connection is not None:
            await self.send(
                PowerMeasurement(
                    message_id=uuid.uuid4(),
                    measurement_timestamp=until,
                    values=[{"commodity_quantity": POWER, "value": round(self.power_kW() * 1000.0, 3)}],
                )
            )
            await self.send(FRBCStorageStatus(message_id=uuid.uuid4(), present_fill_level=round(self.soc_pct, 6)))

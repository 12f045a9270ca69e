"""A charging-hub simulator on OCPP 2.0.1 (the ``ocpp`` package): N charging stations, cars from ElaadNL statistics.

Each station is one OCPP 2.0.1 client (its own WebSocket, subprotocol ``ocpp2.0.1``): BootNotification,
StatusNotification, Heartbeat, and per car TransactionEvent Started (with the meter at Transaction.Begin), an optional
NotifyEVChargingNeeds (ISO 15118 cars: energy, departure time, limits), TransactionEvent Updated every
``meter_interval_s`` (Energy.Active.Import.Register and .Export.Register [Wh]) and Ended at the departure. It applies
the SetChargingProfile it receives: TxDefaultProfile and TxProfile (Absolute, W), a negative limit discharging a
bidirectional station's car.

Cars. Sessions are drawn with :func:`batteryloop.energy.elaadnl.sample_sessions` (public location, the ElaadNL
arrival, stay and demand distributions and NL EV models) from the statistics folder given, else the shared
data's, else the package's synthetic session model (:func:`batteryloop.energy.elaadnl.default_stats`). A car goes
to the first free station; a car that finds the hub full is turned away and counted. Its battery starts at
``90 % x capacity - eta_c x energy`` (at least 0), the fleet model's assumption for an unknown arrival state, and the
car wants ``eta_c x energy`` more in its battery by its departure; ``delivered_kWh`` is its battery gain /
``eta_c`` (charge-point kWh).

Physics. A station draws ``limit`` clipped to the car's and station's power (``[-discharge, charge]``), stops charging
at a full battery and discharging at ``min(arrival state, 20 % x capacity)``; no profile means the station's full
power (OCPP: no limit), but the CSMS sets a 0 W TxDefaultProfile at boot. Every interval of constant power is recorded
(:attr:`HubSim.segments`), so the hub's power at every instant is known from what the stations applied.

Time. The simulated clock advances event by event (arrival, departure, meter value, heartbeat, link drop); while a
station waits for the CSMS's answer the clock stands still, so a profile applies at the simulated instant of the event
that caused it. ``speed`` paces the clock (3600: one simulated hour per wall second at most; 0: as fast as the
messages go).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from ocpp.exceptions import OCPPError
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from batteryloop.energy import elaadnl
from batteryloop.energy.fleet import FleetParameters
from batteryloop.errors import ValidationError
from batteryloop.protocols.hub import defaults, utc
from batteryloop.protocols.ocpp_csms import SUBPROTOCOL, VENDOR_ID, handles, iso

LOG = logging.getLogger("batteryloop.ocpp.sim")


@dataclass
class Car:
    index: int
    arrival: datetime
    departure: datetime
    energy_kWh: float  # wanted by departure, at the charge point (whole Wh)
    max_charge_kW: float
    max_discharge_kW: float
    battery_kWh: float
    iso15118: bool
    station: int = -1
    e_kWh: float = 0.0  # battery state
    e_start_kWh: float = 0.0
    floor_kWh: float = 0.0
    imported_kWh: float = 0.0
    exported_kWh: float = 0.0
    delivered_kWh: float = 0.0
    left: bool = False
    tx_id: str = ""


@dataclass(frozen=True)
class Segment:
    station: int
    start: datetime
    end: datetime
    kW: float  # grid side, positive = charging


@dataclass
class Profile:
    start: datetime | None  # None: relative to the transaction start
    periods: list[tuple[int, float]]  # (s from start, W)
    transaction_id: str | None


@dataclass
class AppliedProfile:
    station: int
    received: datetime
    purpose: str
    periods: list[tuple[int, float]]


@dataclass
class CarDraw:
    cars: list[Car]
    source: str
    turned_away: int


def draw_cars(
    stations: int,
    day: date,
    *,
    hours: float = 24.0,
    seed: int = 0,
    v2g: bool = False,
    iso15118_share: float = 1.0,
    stats_dir: Path | None = None,
    cars_per_station_day: float | None = None,
) -> CarDraw:
    """Cars arriving at a hub of ``stations`` in the ``hours`` after local midnight of ``day`` (see the module)."""
    if stations < 1:
        raise ValidationError(f"{stations}", field="stations", expected="at least 1")
    if not 0 < hours <= 24 * 7:
        raise ValidationError(f"{hours}", field="hours", expected="0 < hours <= 168")
    d = defaults()
    rng = np.random.default_rng(seed)
    rate = cars_per_station_day if cars_per_station_day is not None else d["cars_per_station_day"]
    if not rate > 0:
        raise ValidationError(f"{rate}", field="cars_per_station_day", expected="> 0")
    n_draw = max(1, int(np.ceil(rate * stations)))  # per local day; those arriving outside ``hours`` are left out
    start = elaadnl.local_midnight_utc(day)
    # the statistics folder given, else the shared data's, else the package's synthetic session model
    stats = elaadnl.load_stats(stats_dir) if stats_dir is not None else elaadnl.default_stats()
    arrivals: list[tuple[datetime, float, float, float, float, float]] = []
    days = int(np.ceil(hours / 24.0))
    for k in range(days):
        the_day = day + timedelta(days=k)
        sampled = elaadnl.sample_sessions(
            n_draw,
            the_day,
            seed=seed + k,
            mix={"public": 1.0},
            v2g=v2g,
            stats=stats,
            charger_kW={"public": d["evse_max_kW"]},
        )
        s = sampled.sessions
        for i in range(len(s)):
            a = datetime.fromisoformat(str(s.arrival[i].astype("datetime64[s]"))).replace(tzinfo=UTC)
            b = datetime.fromisoformat(str(s.departure[i].astype("datetime64[s]"))).replace(tzinfo=UTC)
            arrivals.append(
                (
                    a,
                    (b - a).total_seconds(),
                    float(s.energy_kWh[i]),
                    float(s.max_charge_kW[i]),
                    float(s.max_discharge_kW[i]),
                    float(s.battery_kWh[i]),
                )
            )
    source = stats.source
    arrivals = sorted(a for a in arrivals if start <= a[0] < start + timedelta(hours=hours))
    free_at = [start] * stations
    cars: list[Car] = []
    turned_away = 0
    for a, stay_s, energy, p_ch, p_dis, battery in arrivals:
        free = [k for k in range(stations) if free_at[k] <= a]
        if not free:
            turned_away += 1
            continue
        k = free[0]
        departure = a + timedelta(seconds=stay_s)
        free_at[k] = departure + timedelta(seconds=1)
        wh = float(np.floor(energy * 1000.0)) / 1000.0
        car = Car(
            index=len(cars),
            arrival=a,
            departure=departure,
            energy_kWh=wh,
            max_charge_kW=p_ch,
            max_discharge_kW=p_dis,
            battery_kWh=battery,
            iso15118=bool(rng.random() < iso15118_share),
            station=k,
        )
        cars.append(car)
    return CarDraw(cars, source, turned_away)


class StationClient(ChargePoint):  # type: ignore[misc]  # ocpp ships no type hints
    """The OCPP side of a simulated station: applies charging profiles."""

    def __init__(self, station: Station, connection: ClientConnection) -> None:
        super().__init__(station.id, connection, response_timeout=station.hub.response_timeout_s)
        self.station = station

    @handles(Action.set_charging_profile, validate=True)
    def on_set_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        return call_result.SetChargingProfile(status=self.station.apply(evse_id, charging_profile))

    @handles(Action.clear_charging_profile, validate=True)
    def on_clear_profile(self, **_: Any) -> call_result.ClearChargingProfile:
        self.station.tx_profile = None
        return call_result.ClearChargingProfile(status="Accepted")


@dataclass
class Station:
    index: int
    id: str
    max_kW: float
    max_discharge_kW: float
    hub: HubSim
    t: datetime
    car: Car | None = None
    seq_no: int = 0
    register_import_Wh: float = 0.0
    register_export_Wh: float = 0.0
    default_profile: Profile | None = None
    tx_profile: Profile | None = None
    client: StationClient | None = None
    connection: ClientConnection | None = None
    reader: asyncio.Task[None] | None = None
    outbox: list[Any] = field(default_factory=list)
    default_seen: asyncio.Event = field(default_factory=asyncio.Event)

    # -- physics -----------------------------------------------------------------------------------------------------

    def limit_W(self, moment: datetime) -> float:
        car = self.car
        prof = self.tx_profile
        if prof is not None and car is not None and prof.transaction_id in (None, car.tx_id):
            begin = prof.start if prof.start is not None else car.arrival
            if moment >= begin:
                return _value(prof.periods, (moment - begin).total_seconds())
        if self.default_profile is not None and car is not None:
            return _value(self.default_profile.periods, (moment - car.arrival).total_seconds())
        return self.max_kW * 1000.0

    def breakpoints(self, a: datetime, b: datetime) -> list[datetime]:
        out = {a, b}
        car = self.car
        for prof in (self.tx_profile, self.default_profile):
            if prof is None or car is None:
                continue
            begin = prof.start if prof.start is not None else car.arrival
            for s, _ in prof.periods:
                m = begin + timedelta(seconds=s)
                if a < m < b:
                    out.add(m)
            if a < begin < b:
                out.add(begin)
        return sorted(out)

    def advance(self, moment: datetime) -> None:
        """Integrate the car's power from ``self.t`` to ``moment`` and record each constant-power interval."""
        if moment <= self.t:
            return
        car = self.car
        if car is None:
            self.t = moment
            return
        fp = self.hub.params
        edges = self.breakpoints(self.t, moment)
        for a, b in itertools.pairwise(edges):
            t = a
            while t < b:
                watts = self.limit_W(t)
                kW = min(
                    max(watts / 1000.0, -min(self.max_discharge_kW, car.max_discharge_kW)),
                    min(self.max_kW, car.max_charge_kW),
                )
                end = b
                if kW > 0:
                    room = car.battery_kWh - car.e_kWh
                    if room <= 1e-12:
                        kW = 0.0
                    else:
                        full = t + timedelta(hours=room / (fp.charge_efficiency * kW))
                        end = min(b, full)
                elif kW < 0:
                    room = car.e_kWh - car.floor_kWh
                    if room <= 1e-12:
                        kW = 0.0
                    else:
                        empty = t + timedelta(hours=room * fp.discharge_efficiency / -kW)
                        end = min(b, empty)
                if end <= t:  # rounding of the time to full: the battery is at its bound
                    end = b
                    kW = 0.0
                h = (end - t).total_seconds() / 3600.0
                if kW > 0:
                    car.e_kWh = min(car.battery_kWh, car.e_kWh + fp.charge_efficiency * kW * h)
                    car.imported_kWh += kW * h
                    self.register_import_Wh += kW * h * 1000.0
                elif kW < 0:
                    car.e_kWh = max(car.floor_kWh, car.e_kWh + kW * h / fp.discharge_efficiency)
                    car.exported_kWh -= kW * h
                    self.register_export_Wh -= kW * h * 1000.0
                if kW != 0.0:
                    self.hub.segments.append(Segment(self.index, t, end, kW))
                t = end
        self.t = moment

    def apply(self, evse_id: int, profile: dict[str, Any]) -> str:
        moment = self.hub.now
        self.advance(moment)
        purpose = profile["charging_profile_purpose"]
        schedule = profile["charging_schedule"][0]
        if schedule["charging_rate_unit"] != "W":
            return "Rejected"
        periods = [(int(p["start_period"]), float(p["limit"])) for p in schedule["charging_schedule_period"]]
        if any(w < 0 for _, w in periods) and self.max_discharge_kW <= 0:
            return "Rejected"  # a unidirectional station cannot discharge
        start = (
            datetime.fromisoformat(schedule["start_schedule"].replace("Z", "+00:00"))
            if schedule.get("start_schedule")
            else None
        )
        if purpose == "TxDefaultProfile":
            self.default_profile = Profile(start, periods, None)
            self.default_seen.set()
        elif purpose == "TxProfile":
            car = self.car
            if car is None or profile.get("transaction_id") != car.tx_id:
                return "Rejected"  # OCPP 2.0.1 K01: a TxProfile needs the transaction that is running
            self.tx_profile = Profile(start, periods, car.tx_id)
        else:
            return "Rejected"
        self.hub.applied.append(AppliedProfile(self.index, moment, purpose, periods))
        return "Accepted"

    # -- messages ----------------------------------------------------------------------------------------------------

    def meter(self, context: str) -> list[dict[str, Any]]:
        return [
            {
                "timestamp": iso(self.hub.now),
                "sampledValue": [
                    {
                        "value": round(self.register_import_Wh, 3),
                        "context": context,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "Wh"},
                    },
                    {
                        "value": round(self.register_export_Wh, 3),
                        "context": context,
                        "measurand": "Energy.Active.Export.Register",
                        "unitOfMeasure": {"unit": "Wh"},
                    },
                ],
            }
        ]

    async def send(self, payload: Any, *, queue: bool) -> Any:
        """Send a request; while the link is down, queue it (transaction messages) or drop it (the rest)."""
        if self.client is None:
            if queue:
                if isinstance(payload, call.TransactionEvent):
                    payload.offline = True
                self.outbox.append(payload)
            return None
        try:
            self.hub.messages += 1
            # the CSMS checks every request against the 2.0.1 schema (a violation comes back as a CALLERROR)
            return await self.client.call(payload, suppress=False, skip_schema_validation=not self.hub.validate)
        except ConnectionClosed:
            if queue:
                self.outbox.append(payload)
            return None
        except OCPPError as exc:  # the CSMS refused the request: keep going, count it
            LOG.warning("%s: %s answered %s: %s", self.id, type(payload).__name__, exc.code, exc.description)
            self.hub.call_errors.append((self.id, type(payload).__name__, str(exc.code)))
            return None

    async def connect(self) -> None:
        url = f"{self.hub.url.rstrip('/')}/{self.id}"
        self.connection = await connect(url, subprotocols=[SUBPROTOCOL], ping_interval=None)  # type: ignore[list-item]
        self.client = StationClient(self, self.connection)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.client is not None
        with contextlib.suppress(ConnectionClosed):
            await self.client.start()
        self.client = None

    async def drop(self) -> None:
        """The link drops (TCP aborted, no closing handshake)."""
        if self.connection is not None:
            self.connection.transport.abort()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await self.reader
        self.client = None
        self.connection = None

    async def reconnect(self) -> None:
        await self.connect()
        queued, self.outbox = self.outbox, []
        for payload in queued:
            await self.send(payload, queue=True)


def _value(periods: list[tuple[int, float]], offset_s: float) -> float:
    value = 0.0
    for s, w in periods:
        if s <= offset_s:
            value = w
        else:
            break
    return value


@dataclass
class SimResult:
    cars: list[Car]
    segments: list[Segment]
    applied: list[AppliedProfile]
    turned_away: int
    source: str
    start: datetime
    end: datetime
    messages: int
    wall_s: float

    def hub_power(self) -> tuple[list[datetime], list[float]]:
        """The hub's power [kW] from each breakpoint to the next (sum over the stations' applied intervals)."""
        change: dict[datetime, float] = {}
        for s in self.segments:
            change[s.start] = change.get(s.start, 0.0) + s.kW
            change[s.end] = change.get(s.end, 0.0) - s.kW
        times = sorted(change)
        level = 0.0
        out = []
        for t in times:
            level += change[t]
            out.append(level)
        return times, out

    def peak_kW(self) -> float:
        _, levels = self.hub_power()
        return max((abs(v) for v in levels), default=0.0)

    def as_dict(self) -> dict[str, Any]:
        short = [c for c in self.cars if c.delivered_kWh < c.energy_kWh - 0.01]
        return {
            "cars": len(self.cars),
            "turned_away": self.turned_away,
            "source": self.source,
            "start_utc": iso(self.start),
            "end_utc": iso(self.end),
            "requested_kWh": round(sum(c.energy_kWh for c in self.cars), 3),
            "delivered_kWh": round(sum(c.delivered_kWh for c in self.cars), 3),
            "imported_kWh": round(sum(c.imported_kWh for c in self.cars), 3),
            "exported_kWh": round(sum(c.exported_kWh for c in self.cars), 3),
            "cars_short": len(short),
            "peak_kW": round(self.peak_kW(), 3),
            "profiles_applied": len(self.applied),
            "messages": self.messages,
            "wall_s": round(self.wall_s, 3),
        }


class HubSim:
    """N stations and their cars against a CSMS at ``url`` (see the module text)."""

    def __init__(
        self,
        url: str,
        cars: list[Car],
        stations: int,
        *,
        start: datetime,
        speed: float = 0.0,
        v2g: bool = False,
        station_kW: float | None = None,
        response_timeout_s: float = 30.0,
        drops: list[tuple[int, datetime, timedelta]] | None = None,
        meter_interval_s: float | None = None,
        prefix: str = "CS",
        source: str = "",
        turned_away: int = 0,
        validate: bool = False,
    ) -> None:
        d = defaults()
        self.url = url
        self.cars = cars
        self.speed = speed
        self.now = utc(start)
        self.start = self.now
        self.params = FleetParameters.from_defaults()
        self.response_timeout_s = response_timeout_s
        self.meter_interval = timedelta(seconds=meter_interval_s or d["meter_interval_s"])
        power = station_kW if station_kW is not None else d["evse_max_kW"]
        self.stations = [
            Station(k, f"{prefix}{k + 1:04d}", power, power if v2g else 0.0, self, self.now) for k in range(stations)
        ]
        self.segments: list[Segment] = []
        self.applied: list[AppliedProfile] = []
        self.drops = drops or []
        self.messages = 0
        self.call_errors: list[tuple[str, str, str]] = []
        self.source = source
        self.validate = validate
        self.turned_away = turned_away
        self._tx = itertools.count(1)

    async def boot(self) -> None:
        async def one(st: Station) -> None:
            await st.connect()
            boot = call.BootNotification(
                charging_station={"model": "batteryloop-sim", "vendor_name": "batteryloop"}, reason="PowerUp"
            )
            answer = await st.send(boot, queue=False)
            if answer is None or answer.status != "Accepted":
                raise ValidationError(f"{st.id}: BootNotification {answer}", field="boot", expected="Accepted")
            await asyncio.wait_for(st.default_seen.wait(), self.response_timeout_s)
            await st.send(self._status(st, "Available"), queue=False)

        await asyncio.gather(*(one(st) for st in self.stations))

    def _status(self, st: Station, status: str) -> call.StatusNotification:
        return call.StatusNotification(timestamp=iso(self.now), connector_status=status, evse_id=1, connector_id=1)

    def event(self, st: Station, event_type: str, trigger: str, context: str, stopped: str | None = None) -> Any:
        assert st.car is not None
        st.seq_no += 1
        info: dict[str, Any] = {"transaction_id": st.car.tx_id, "charging_state": "EVConnected"}
        if stopped:
            info["stopped_reason"] = stopped
        return call.TransactionEvent(
            event_type=event_type,
            timestamp=iso(self.now),
            trigger_reason=trigger,
            seq_no=st.seq_no,
            transaction_info=info,
            meter_value=st.meter(context),
            evse={"id": 1, "connector_id": 1} if event_type == "Started" else None,
        )

    async def arrive(self, car: Car) -> None:
        st = self.stations[car.station]
        st.advance(self.now)
        fp = self.params
        car.tx_id = f"TX{next(self._tx):06d}-{st.id}"
        car.e_start_kWh = car.e_kWh = float(
            np.clip(
                car.battery_kWh * fp.departure_soc_if_unknown - fp.charge_efficiency * car.energy_kWh,
                0.0,
                car.battery_kWh,
            )
        )
        car.floor_kWh = min(car.e_kWh, car.battery_kWh * fp.v2g_min_soc)
        st.car, st.tx_profile, st.seq_no, st.t = car, None, -1, self.now
        await st.send(self._status(st, "Occupied"), queue=False)
        await st.send(self.event(st, "Started", "CablePluggedIn", "Transaction.Begin"), queue=True)
        if car.iso15118:
            d = defaults()
            amps = int(car.max_charge_kW * 1000.0 // (d["ac_phases"] * d["phase_voltage_V"]))
            needs: dict[str, Any] = {
                "requested_energy_transfer": "AC_three_phase",
                "departure_time": iso(car.departure),
                "ac_charging_parameters": {
                    "energy_amount": round(car.energy_kWh * 1000.0),
                    "ev_min_current": min(6, amps),
                    "ev_max_current": amps,
                    "ev_max_voltage": int(d["phase_voltage_V"]),
                },
                "custom_data": {
                    "vendor_id": VENDOR_ID,
                    "ev_max_power": round(car.max_charge_kW * 1000.0, 1),
                    "ev_max_discharge_power": round(car.max_discharge_kW * 1000.0, 1),
                    "ev_energy_capacity": round(car.battery_kWh * 1000.0, 1),
                },
            }
            await st.send(call.NotifyEVChargingNeeds(charging_needs=needs, evse_id=1), queue=True)

    async def depart(self, car: Car) -> None:
        st = self.stations[car.station]
        st.advance(self.now)
        car.delivered_kWh = (car.e_kWh - car.e_start_kWh) / self.params.charge_efficiency
        car.left = True
        await st.send(self.event(st, "Ended", "EVCommunicationLost", "Transaction.End", "EVDisconnected"), queue=True)
        st.car, st.tx_profile = None, None
        await st.send(self._status(st, "Available"), queue=False)

    async def meter(self, st: Station, car: Car) -> bool:
        if st.car is not car:
            return False
        st.advance(self.now)
        await st.send(self.event(st, "Updated", "MeterValuePeriodic", "Sample.Periodic"), queue=True)
        return True

    async def run(self, until: datetime | None = None) -> SimResult:
        """Boot every station, then play the cars' arrivals and departures to the last departure (or ``until``)."""
        loop = asyncio.get_running_loop()
        wall0 = loop.time()
        await self.boot()
        heap: list[tuple[datetime, int, str, Any]] = []
        seq = itertools.count()
        for car in self.cars:
            heapq.heappush(heap, (car.arrival, next(seq), "arrive", car))
        for index, at, offline in self.drops:
            heapq.heappush(heap, (utc(at), next(seq), "drop", (index, offline)))
        last = until or max((c.departure for c in self.cars), default=self.start)
        hour = timedelta(hours=1)
        heapq.heappush(heap, (self.start + hour, next(seq), "heartbeat", None))
        while heap:
            at, _, kind, what = heapq.heappop(heap)
            if at > last:
                break
            if self.speed > 0:
                delay = wall0 + (at - self.start).total_seconds() / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            self.now = max(self.now, at)
            if kind == "arrive":
                await self.arrive(what)
                heapq.heappush(heap, (what.departure, next(seq), "depart", what))
                heapq.heappush(heap, (at + self.meter_interval, next(seq), "meter", what))
            elif kind == "depart":
                await self.depart(what)
            elif kind == "meter":
                if await self.meter(self.stations[what.station], what):
                    heapq.heappush(heap, (at + self.meter_interval, next(seq), "meter", what))
            elif kind == "heartbeat":
                await asyncio.gather(*(st.send(call.Heartbeat(), queue=False) for st in self.stations))
                if heap:
                    heapq.heappush(heap, (at + hour, next(seq), "heartbeat", None))
            elif kind == "drop":
                index, offline = what
                st = self.stations[index]
                st.advance(self.now)
                await st.drop()
                await asyncio.sleep(0.05)  # let the CSMS see the closed link
                heapq.heappush(heap, (at + offline, next(seq), "reconnect", index))
            elif kind == "reconnect":
                await self.stations[what].reconnect()
        for st in self.stations:
            st.advance(self.now)
            if st.car is not None and not st.car.left:
                st.car.delivered_kWh = (st.car.e_kWh - st.car.e_start_kWh) / self.params.charge_efficiency
        for st in self.stations:
            if st.connection is not None:
                await st.connection.close()
            if st.reader is not None:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await st.reader
        return SimResult(
            cars=self.cars,
            segments=self.segments,
            applied=self.applied,
            turned_away=self.turned_away,
            source=self.source,
            start=self.start,
            end=self.now,
            messages=self.messages,
            wall_s=loop.time() - wall0,
        )

"""batteryloop as an OpenADR 3 VEN: a grid operator's capacity limit or price for a window re-plans the assets.

The VEN talks to a VTN with the ``openadr3`` package's client (``OpenADRClient``: OAuth2 client credentials through
``/auth/server`` and the token endpoint, then ``/vens``, ``/programs``, ``/events``, ``/reports``). It polls the
events of its programs (OpenADR 3.0.1 lets a VEN poll or subscribe; polling needs no listener on the VEN's side).
Each new or changed event is read by :func:`batteryloop.protocols.openadr_model.parse_event`; an event it cannot act
on is logged with its RFC 9457 problem details (:attr:`Ven.problems`) and skipped, never raised, so one bad event
does not stop the VEN. On every change the VEN re-plans and then reports, per accepted event and per asset, the
planned mean power of each event interval (OpenADR 3 report, payload ``DEMAND``, ``readingType`` ``FORECAST``).

Assets (either or both):

- a stationary battery, planned with :func:`batteryloop.energy.dispatch.dispatch` on a grid of ``step_minutes`` from
  the current step for ``horizon_hours``: PRICE intervals replace the VEN's base price in the steps they cover, and a
  capacity limit enters dispatch's behind-the-meter model as a fixed load (import limit ``L``: load ``P - L``) or
  fixed generation (export limit ``X``: generation ``P - X``) behind a connection of the battery's power ``P``, so
  that the connection leaves exactly ``L`` (or ``X``) to the battery in those steps. A step that an import and an
  export limit below ``P`` both cover cannot be expressed that way (dispatch has one connection limit for both
  directions); the plan keeps the tighter of the two there, and the steps where it breaks the other are logged and
  listed in :attr:`BatteryPlan.violations` (see :func:`plan_battery`);
- a charging hub run by :class:`batteryloop.protocols.ocpp_csms.Csms`: the PRICE intervals become the hub's price
  signal and the capacity limits a :class:`batteryloop.protocols.hub.WindowedLimit` on top of the connection limit;
  the CSMS re-plans and sends every station its charging profile.

A ``FLEX`` event (the Dutch DER profile's flexibility dispatch) is an import ceiling of ``baseline_kW`` minus the FLEX
value, after the NL flex checks of ``openadr_nlflex_rules.csv``.

A VTN that cannot be reached (or answers 5xx) is retried with doubling waits up to ``max_retry_s``; an expired
token (401) is fetched again. The plan in force stays until the VTN answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
from numpy.typing import NDArray
from openadr3 import OpenADRClient

from batteryloop.energy.asset import Asset
from batteryloop.energy.dispatch import BehindTheMeter, dispatch
from batteryloop.errors import ValidationError
from batteryloop.protocols.hub import PriceSignal, WindowedLimit, defaults, grid_floor, utc
from batteryloop.protocols.openadr_model import (
    LIMIT_TYPES,
    EventProblem,
    EventRejectedError,
    Signal,
    parse_event,
    report_object,
)

if TYPE_CHECKING:
    from batteryloop.protocols.ocpp_csms import Csms

FloatArray = NDArray[np.float64]
LOG = logging.getLogger("batteryloop.openadr.ven")


@dataclass(frozen=True)
class BatterySpec:
    """The VEN's stationary battery (from its passport: usable energy, power, round-trip efficiency)."""

    power_kW: float
    energy_kWh: float
    efficiency: float = 0.95  # one way, charge and discharge
    soc: float = 0.5  # now, and the least at the end of the horizon
    name: str = "battery"

    def __post_init__(self) -> None:
        for name in ("power_kW", "energy_kWh"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValidationError(f"{value}", field=f"battery.{name}", expected="> 0")
        if not 0 < self.efficiency <= 1 or not 0 <= self.soc <= 1:
            raise ValidationError(f"{self.efficiency}, {self.soc}", field="battery.efficiency/soc", expected="0..1")


@dataclass(frozen=True)
class BatteryPlan:
    """The battery's schedule per step (UTC starts): charge and discharge [kW], and the limits it was planned with."""

    starts: list[datetime]
    step_minutes: int
    charge_kW: FloatArray
    discharge_kW: FloatArray
    price_eur_per_MWh: FloatArray
    import_limit_kW: FloatArray  # inf where no limit
    export_limit_kW: FloatArray
    status: str

    @property
    def net_kW(self) -> FloatArray:
        return self.charge_kW - self.discharge_kW

    @property
    def violations(self) -> list[int]:
        """Steps where the plan breaks an event's limit (only possible where an import and an export limit meet)."""
        tol = 1e-6
        bad = (self.net_kW > self.import_limit_kW + tol) | (self.net_kW < -self.export_limit_kW - tol)
        return [int(k) for k in np.flatnonzero(bad)]

    def spans(self) -> list[tuple[datetime, datetime, float]]:
        step = timedelta(minutes=self.step_minutes)
        return [(s, s + step, float(v)) for s, v in zip(self.starts, self.net_kW, strict=True)]


def _covering(a: datetime, b: datetime, lo: datetime, hi: datetime) -> bool:
    return a < hi and b > lo


def step_limits(
    signals: list[Signal], starts: list[datetime], step_s: int, baseline_kW: float | None
) -> tuple[FloatArray, FloatArray]:
    """Import and export ceilings [kW] per step (inf = none): the least of the limits whose interval covers any part
    of the step (the plan's power is constant within a step, so the ceiling holds at every instant)."""
    imp = np.full(len(starts), np.inf)
    exp = np.full(len(starts), np.inf)
    for sig in signals:
        for iv in sig.intervals:
            for k, s in enumerate(starts):
                if not _covering(iv.start, iv.end, s, s + timedelta(seconds=step_s)):
                    continue
                if "IMPORT_CAPACITY_LIMIT" in iv.values:
                    imp[k] = min(imp[k], iv.values["IMPORT_CAPACITY_LIMIT"])
                if "EXPORT_CAPACITY_LIMIT" in iv.values:
                    exp[k] = min(exp[k], iv.values["EXPORT_CAPACITY_LIMIT"])
                if "FLEX" in iv.values and baseline_kW is not None:
                    imp[k] = min(imp[k], max(0.0, baseline_kW - iv.values["FLEX"]))
    return imp, exp


def merged_prices(base: PriceSignal, signals: list[Signal]) -> PriceSignal:
    """``base`` with every PRICE interval of ``signals`` laid over it (later events over earlier ones)."""
    spans = [(iv.start, iv.end, iv.values["PRICE"]) for s in signals for iv in s.intervals if "PRICE" in iv.values]
    if not spans:
        return base
    cuts = sorted({utc(t) for t in base.starts} | {a for a, _, _ in spans} | {b for _, b, _ in spans})
    values: list[float] = []
    for t in cuts:
        value = float(base.at([t])[0])
        for a, b, v in spans:
            if a <= t < b:
                value = v
        values.append(value)
    return PriceSignal(tuple(cuts), tuple(values))


def plan_battery(
    spec: BatterySpec,
    signals: list[Signal],
    base_prices: PriceSignal,
    start: datetime,
    *,
    step_minutes: int,
    horizon_hours: float,
    baseline_kW: float | None = None,
) -> BatteryPlan:
    """Dispatch the battery from the step of ``start`` over the horizon (extended to the last event's end) with the
    events' prices and limits (see the module text)."""
    step_s = step_minutes * 60
    grid0 = grid_floor(start, step_s)
    end = max([grid0 + timedelta(hours=horizon_hours), *(s.end for s in signals)])
    T = max(1, math.ceil((end - grid0).total_seconds() / step_s))
    starts = [grid0 + timedelta(seconds=k * step_s) for k in range(T)]
    price = merged_prices(base_prices, signals).at(starts)
    imp, exp = step_limits(signals, starts, step_s, baseline_kW)
    P = spec.power_kW
    both = (imp < P) & (exp < P)
    tighter_import = imp <= exp
    imp_lp = np.where(both & ~tighter_import, np.inf, imp)  # where both meet, the LP gets the tighter one only
    exp_lp = np.where(both & tighter_import, np.inf, exp)
    load = np.clip(P - np.minimum(imp_lp, P), 0.0, None)
    pv = np.clip(P - np.minimum(exp_lp, P), 0.0, None)
    asset = Asset(
        power_kW=P,
        energy_kWh=spec.energy_kWh,
        charge_efficiency=spec.efficiency,
        discharge_efficiency=spec.efficiency,
        soc_start=spec.soc,
        soc_end=spec.soc,
        grid_limit_kW=P,
    )
    stamps = np.array([np.datetime64(s.replace(tzinfo=None), "us") for s in starts])
    result = dispatch(
        stamps, price, asset, step_minutes=step_minutes, behind_the_meter=BehindTheMeter(load_kW=load, pv_kW=pv)
    )
    charge = result.schedule["charge_kW"].to_numpy().astype(np.float64)
    discharge = result.schedule["discharge_kW"].to_numpy().astype(np.float64)
    plan = BatteryPlan(starts, step_minutes, charge, discharge, price, imp, exp, result.status.value)
    for k in plan.violations:
        LOG.warning(
            "step %s: an import limit of %s kW and an export limit of %s kW meet; the plan (%.3f kW) keeps only the "
            "tighter one",
            starts[k],
            imp[k],
            exp[k],
            plan.net_kW[k],
        )
    return plan


def interval_means(
    spans: list[tuple[datetime, datetime, float]], signal: Signal
) -> list[tuple[datetime, datetime, float]]:
    """Time-weighted mean power [kW] of ``spans`` (start, end, kW) over each interval of ``signal``."""
    out = []
    for iv in signal.intervals:
        energy = covered = 0.0
        for a, b, kW in spans:
            lo, hi = max(a, iv.start), min(b, iv.end)
            if hi > lo:
                h = (hi - lo).total_seconds()
                energy += kW * h
                covered += h
        out.append((iv.start, iv.end, energy / covered if covered else 0.0))
    return out


def hub_spans(csms: Csms) -> list[tuple[datetime, datetime, float]]:
    """The hub plan's power per step [kW]: step 0 from the plan start, then grid steps."""
    plan = csms.plan
    if plan is None or not len(plan.net_kW):
        return []
    step = timedelta(minutes=plan.step_minutes)
    return [
        (plan.start if k == 0 else plan.grid_start + k * step, plan.grid_start + (k + 1) * step, float(v))
        for k, v in enumerate(plan.net_kW)
    ]


@dataclass
class PollResult:
    changed: list[str] = field(default_factory=list)  # accepted event ids new or modified
    removed: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    reports: int = 0


class Ven:
    """An OpenADR 3 VEN for a battery and/or a charging hub (see the module text)."""

    def __init__(
        self,
        vtn_url: str,
        client_id: str,
        client_secret: str,
        *,
        ven_name: str,
        programs: list[str] | None = None,
        battery: BatterySpec | None = None,
        csms: Csms | None = None,
        base_prices: PriceSignal | None = None,
        baseline_kW: float | None = None,
        step_minutes: int | None = None,
        horizon_hours: float = 24.0,
        clock: Callable[[], datetime] | None = None,
        poll_s: float = 5.0,
        max_retry_s: float = 30.0,
        http_timeout_s: float = 10.0,
    ) -> None:
        if battery is None and csms is None:
            raise ValidationError("no asset", field="battery/csms", expected="a battery, a hub, or both")
        self.vtn_url = vtn_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.ven_name = ven_name
        self.program_names = programs
        self.battery = battery
        self.csms = csms
        self.base_prices = base_prices or PriceSignal.flat(defaults()["flat_price_eur_per_MWh"])
        self.baseline_kW = baseline_kW
        self.step_minutes = int(step_minutes or defaults()["step_minutes"])
        self.horizon_hours = horizon_hours
        self.clock = clock or (lambda: datetime.now(UTC))
        self.poll_s = poll_s
        self.max_retry_s = max_retry_s
        self.http_timeout_s = http_timeout_s
        self.client: OpenADRClient | None = None
        self.ven_id: str | None = None
        self.signals: dict[str, Signal] = {}
        self.seen: dict[str, str] = {}  # event id -> modificationDateTime last read (accepted or not)
        self.problems: list[dict[str, Any]] = []  # RFC 9457 problems of the events it rejected
        self.battery_plan: BatteryPlan | None = None
        self.hub_base_limit: float | None = None if csms is None else csms.site_limit_kW
        self.hub_base_prices: PriceSignal | None = None if csms is None else csms.prices
        self.reports_sent: list[dict[str, Any]] = []
        self.report_errors: list[dict[str, Any]] = []
        self.failures = 0  # polls that could not reach the VTN
        self.replans = 0

    # -- HTTP through the openadr3 client ------------------------------------------------------------------------

    def _connect(self) -> OpenADRClient:
        client = OpenADRClient(self.vtn_url)
        client.fetch_token(self.client_id, self.client_secret)  # discovers the token URL via GET /auth/server
        client._http.timeout = httpx.Timeout(self.http_timeout_s)
        resp = client.create_ven({"objectType": "VEN_VEN_REQUEST", "venName": self.ven_name})
        if resp.status_code == 409:
            found = client.find_ven_by_name(self.ven_name)
            self.ven_id = found.id if found is not None else None
        else:
            resp.raise_for_status()
            self.ven_id = str(resp.json().get("id"))
        LOG.info("registered at %s as %s (%s)", self.vtn_url, self.ven_name, self.ven_id)
        return client

    def _fetch(self) -> list[dict[str, Any]]:
        """Every event of the VEN's programs (raw JSON objects); reconnects (new token) on 401."""
        for attempt in range(2):
            if self.client is None:
                self.client = self._connect()
            programs = self.client.programs()
            wanted = [p for p in programs if self.program_names is None or p.program_name in self.program_names]
            events: list[dict[str, Any]] = []
            try:
                for p in wanted:
                    resp = self.client.get_events(programID=p.id)
                    resp.raise_for_status()
                    body = resp.json()
                    events += [e for e in body if isinstance(e, dict)] if isinstance(body, list) else []
                return events
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code == 401 and attempt == 0:
                    self.client = None
                    continue
                raise
        return []

    def _post_report(self, report: dict[str, Any]) -> None:
        assert self.client is not None
        resp = self.client.create_report(report)
        if resp.status_code >= 400:
            body = resp.json() if resp.headers.get("content-type", "").endswith("json") else {"detail": resp.text}
            LOG.warning("the VTN rejected a report on %s: %s", report.get("eventID"), body)
            self.report_errors.append(body)
            return
        self.reports_sent.append(resp.json())

    # -- one poll --------------------------------------------------------------------------------------------------

    async def poll_once(self) -> PollResult:
        """Read the events, re-plan on any change, report. Raises ``httpx.HTTPError`` when the VTN is not there."""
        raw_events = await asyncio.to_thread(self._fetch)
        out = PollResult()
        present: set[str] = set()
        for raw in raw_events:
            eid = str(raw.get("id", ""))
            present.add(eid)
            modified = str(raw.get("modificationDateTime", ""))
            if self.seen.get(eid) == modified and eid:
                continue
            self.seen[eid] = modified
            try:
                signal = parse_event(raw, baseline_kW=self.baseline_kW)
            except EventRejectedError as exc:
                self._reject(eid, exc.problems)
                out.rejected.append(eid)
                self.signals.pop(eid, None)
                continue
            self.signals[eid] = signal
            out.changed.append(eid)
        for eid in list(self.signals):
            if eid not in present:
                del self.signals[eid]
                out.removed.append(eid)
        for eid in list(self.seen):
            if eid not in present:
                del self.seen[eid]
        if out.changed or out.removed:
            await self.replan()
            for eid in out.changed:
                report = self.report(self.signals[eid])
                await asyncio.to_thread(self._post_report, report)
                out.reports += 1
        return out

    def _reject(self, event_id: str, problems: list[EventProblem]) -> None:
        for p in problems:
            body = p.as_dict()
            body.setdefault("instance", f"/events/{event_id}")
            self.problems.append(body)
            LOG.warning("event %s rejected: %s", event_id or "?", body["detail"])

    async def replan(self) -> None:
        """Plan every asset with the accepted signals now in force."""
        now = utc(self.clock())
        active = sorted((s for s in self.signals.values() if s.end > now), key=lambda s: (s.modified, s.event_id))
        self.replans += 1
        if self.battery is not None:
            self.battery_plan = plan_battery(
                self.battery,
                active,
                self.base_prices,
                now,
                step_minutes=self.step_minutes,
                horizon_hours=self.horizon_hours,
                baseline_kW=self.baseline_kW,
            )
            if self.battery_plan.status != "optimal":
                LOG.warning("battery dispatch ended %s", self.battery_plan.status)
        if self.csms is not None:
            assert self.hub_base_prices is not None
            windows = [
                (iv.start, iv.end, kW)
                for s in active
                for iv in s.intervals
                for kind, kW in iv.values.items()
                if kind in LIMIT_TYPES
            ]
            if self.baseline_kW is not None:
                windows += [
                    (iv.start, iv.end, max(0.0, self.baseline_kW - iv.values["FLEX"]))
                    for s in active
                    for iv in s.intervals
                    if "FLEX" in iv.values
                ]
            self.csms.site_limit_kW = WindowedLimit(self.hub_base_limit, windows) if windows else self.hub_base_limit
            self.csms.prices = merged_prices(self.hub_base_prices, active)
            await self.csms.replan("openadr")

    def report(self, signal: Signal) -> dict[str, Any]:
        """The report on ``signal``: planned mean power per event interval, one resource per asset."""
        resources: dict[str, list[tuple[datetime, datetime, float]]] = {}
        if self.battery is not None and self.battery_plan is not None:
            resources[self.battery.name] = interval_means(self.battery_plan.spans(), signal)
        if self.csms is not None:
            resources["hub"] = interval_means(hub_spans(self.csms), signal)
        return report_object(signal, self.ven_name, resources)

    # -- the loop ------------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, max_polls: int | None = None) -> None:
        """Poll every ``poll_s`` until ``stop`` is set (or after ``max_polls``); retry a missing VTN with doubling
        waits up to ``max_retry_s``."""
        wait = self.poll_s
        polls = 0
        while not stop.is_set() and (max_polls is None or polls < max_polls):
            polls += 1
            try:
                await self.poll_once()
                wait = self.poll_s
            except (httpx.HTTPError, ValueError) as exc:
                self.failures += 1
                self.client = None  # reconnect (and fetch a new token) on the next poll
                wait = min(self.max_retry_s, max(wait, 0.05) * 2)
                what = (
                    f"answered {exc.response.status_code} to {exc.request.url.path}"  # e.g. 401: bad credentials
                    if isinstance(exc, httpx.HTTPStatusError)
                    else f"not reachable ({type(exc).__name__}: {exc})"
                )
                LOG.warning("VTN %s %s; retry in %.2f s", self.vtn_url, what, wait)
            if max_polls is not None and polls >= max_polls:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

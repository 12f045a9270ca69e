"""OCPP 2.0.1 smart charging end to end over real WebSockets on loopback: the CSMS (batteryloop.protocols.ocpp_csms)
against the hub simulator (batteryloop.protocols.ocpp_sim), checked from what the stations applied, not from the plan."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from batteryloop.energy.elaadnl import local_midnight_utc
from batteryloop.errors import ValidationError
from batteryloop.protocols.hub import REASONS, EvNeed, PriceSignal, grid_floor, plan_hub
from batteryloop.protocols.ocpp_csms import Csms, StationSpec, default_stay
from batteryloop.protocols.ocpp_sim import Car, HubSim, SimResult, draw_cars

DAY = date(2025, 6, 11)  # a Wednesday
T0 = local_midnight_utc(DAY)
TOL_KWH = 0.01


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 50))


async def hub_day(
    csms: Csms, stations: int, cars: list[Car], *, v2g: bool = False, drops=None, until=None
) -> tuple[SimResult, HubSim]:
    await csms.serve("127.0.0.1", 0)
    try:
        sim = HubSim(f"ws://127.0.0.1:{csms.port}", cars, stations, start=T0, v2g=v2g, drops=drops, validate=True)
        result = await sim.run(until=until)
    finally:
        await csms.close()
    return result, sim


def assert_under_limit(result: SimResult, limit_kW: float) -> float:
    """The hub's power at every instant (sum of what the stations applied) within +-limit; returns the peak."""
    times, levels = result.hub_power()
    assert len(times) > 10
    worst = max(abs(v) for v in levels)
    assert worst <= limit_kW + 1e-6, f"hub at {worst:.6f} kW, limit {limit_kW} kW"
    return worst


def uncontrolled_peak(cars: list[Car]) -> float:
    """Peak of the same cars charging at full power from arrival until their energy is in (no CSMS)."""
    edges: dict[datetime, float] = {}
    for c in cars:
        end = c.arrival + timedelta(hours=c.energy_kWh / c.max_charge_kW)
        edges[c.arrival] = edges.get(c.arrival, 0.0) + c.max_charge_kW
        edges[end] = edges.get(end, 0.0) - c.max_charge_kW
    level, peak = 0.0, 0.0
    for t in sorted(edges):
        level += edges[t]
        peak = max(peak, level)
    return peak


def check_energy(result: SimResult, csms: Csms) -> list[Car]:
    """Every car left with its energy, or with a reason that physics confirms; returns the short ones."""
    short = []
    for car in result.cars:
        assert car.left, f"car {car.index} did not leave"
        if car.delivered_kWh >= car.energy_kWh - TOL_KWH:
            continue
        short.append(car)
        tx = csms.transactions[car.tx_id]
        assert tx.reason in REASONS, f"car {car.index} short without a reason"
        if tx.reason == "stay":  # power x stay (alone, at full power) is below the request
            stay_h = (car.departure - car.arrival).total_seconds() / 3600.0
            assert car.max_charge_kW * stay_h < car.energy_kWh + TOL_KWH
    return short


def test_hub_of_20_stations_for_a_day_every_car_gets_its_energy_under_the_connection_limit() -> None:
    limit = 60.0
    draw = draw_cars(20, DAY, hours=24, seed=1)
    assert len(draw.cars) >= 30
    # the test can fail: charging on arrival at full power would break the limit by far
    assert uncontrolled_peak(draw.cars) > 1.5 * limit
    csms = Csms(site_limit_kW=limit, clock="stations")
    result, sim = run(hub_day(csms, 20, draw.cars))
    assert csms.errors == []
    assert sim.call_errors == []
    peak = assert_under_limit(result, limit)
    assert peak > 0.95 * limit  # the limit binds
    short = check_energy(result, csms)
    assert short == []
    # the meters add up: the energy of the applied intervals is what the cars got
    seg_kWh = sum(s.kW * (s.end - s.start).total_seconds() / 3600.0 for s in result.segments)
    assert seg_kWh == pytest.approx(sum(c.imported_kWh - c.exported_kWh for c in result.cars), abs=1e-6)
    delivered = sum(c.delivered_kWh for c in result.cars)
    assert delivered == pytest.approx(sum(c.energy_kWh for c in result.cars), abs=0.05)
    # every car told its needs, and the CSMS planned with its departure, not the default stay
    assert all(csms.transactions[c.tx_id].from_needs for c in result.cars)
    assert all(csms.transactions[c.tx_id].departure == c.departure for c in result.cars)
    assert {r.reason for r in csms.replans} >= {"arrival", "needs", "departure"}
    assert {r.status for r in csms.replans} == {"optimal", "empty"}  # no fallback was needed
    # the profiles the stations applied are OCPP 2.0.1 W limits, never negative at a unidirectional station
    assert all(w >= 0 for a in result.applied for _, w in a.periods)


def test_v2g_discharges_at_bidirectional_stations_in_the_price_peak_and_cars_still_get_their_energy() -> None:
    limit = 40.0
    starts = tuple(T0 + timedelta(hours=h) for h in range(72))
    prices = tuple(300.0 if 17 <= h % 24 <= 20 else 40.0 for h in range(72))  # local hours: evening peak
    registry = [StationSpec(f"CS{k + 1:04d}", 11.0, 11.0 if k % 2 == 0 else 0.0) for k in range(8)]
    draw = draw_cars(8, DAY, hours=24, seed=3, v2g=True)
    csms = Csms(
        site_limit_kW=limit,
        stations=registry,
        prices=PriceSignal(starts, prices),
        clock="stations",
        wear_cost_eur_per_MWh=20.0,
    )
    result, sim = run(hub_day(csms, 8, draw.cars, v2g=True))
    assert csms.errors == [] and sim.call_errors == []
    assert_under_limit(result, limit)
    check_energy(result, csms)
    assert [c for c in result.cars if c.delivered_kWh < c.energy_kWh - TOL_KWH] == []
    discharged = [s for s in result.segments if s.kW < 0]
    assert sum(-s.kW * (s.end - s.start).total_seconds() / 3600.0 for s in discharged) > 5.0
    assert {s.station % 2 for s in discharged} == {0}  # only the bidirectional stations
    assert any(w < 0 for a in result.applied for _, w in a.periods)
    # discharge happens in the expensive hours: most exported energy at a price of 300
    peak_kWh = sum(
        -s.kW * (s.end - s.start).total_seconds() / 3600.0
        for s in discharged
        if PriceSignal(starts, prices).at([s.start])[0] == 300.0
    )
    total_kWh = sum(-s.kW * (s.end - s.start).total_seconds() / 3600.0 for s in discharged)
    assert peak_kWh > 0.8 * total_kWh
    for car in result.cars:  # never below the V2G reserve
        assert car.e_kWh >= car.floor_kWh - 1e-9


def test_a_hub_where_half_the_cars_do_not_tell_their_needs_stays_under_the_limit() -> None:
    limit = 30.0
    draw = draw_cars(10, DAY, hours=24, seed=8, iso15118_share=0.5)
    told = [c for c in draw.cars if c.iso15118]
    silent = [c for c in draw.cars if not c.iso15118]
    assert told and silent
    csms = Csms(site_limit_kW=limit, clock="stations")
    result, sim = run(hub_day(csms, 10, draw.cars))
    assert csms.errors == [] and sim.call_errors == []
    assert_under_limit(result, limit)  # whatever the silent cars do, the hub holds its limit
    for c in silent:  # planned with the ElaadNL default stay for their hour of arrival
        tx = csms.transactions[c.tx_id]
        assert not tx.from_needs
        assert tx.departure == c.arrival + default_stay(c.arrival)[0]
    short = [c for c in told if c.delivered_kWh < c.energy_kWh - TOL_KWH]
    assert all(csms.transactions[c.tx_id].reason in REASONS for c in short)  # short only with a reason


def car(index: int, station: int, arrival_h: float, stay_h: float, kWh: float, kW: float = 11.0) -> Car:
    arrival = T0 + timedelta(hours=arrival_h)
    return Car(index, arrival, arrival + timedelta(hours=stay_h), kWh, kW, 0.0, 60.0, True, station)


def test_a_station_whose_link_drops_reconnects_and_the_hub_stays_safe() -> None:
    limit = 20.0
    busy = car(0, 0, 8.0, 12.0, 40.0)
    cars = [busy, car(1, 1, 10.5, 4.0, 25.0), car(2, 2, 11.0, 3.0, 20.0), car(3, 1, 15.0, 4.0, 10.0)]
    drop_at = T0 + timedelta(hours=10)  # while busy charges; cars 1 and 2 arrive while its link is down
    csms = Csms(site_limit_kW=limit, clock="stations")
    result, sim = run(hub_day(csms, 3, cars, drops=[(0, drop_at, timedelta(hours=2))]))
    assert csms.errors == [] and sim.call_errors == []
    assert_under_limit(result, limit)
    assert check_energy(result, csms) == []
    assert "reconnect" in {r.reason for r in csms.replans}
    tx = csms.transactions[busy.tx_id]
    assert tx.offline_events == 8  # the meter values of the 2 h offline came late, flagged offline
    # the plans made while the link was down kept the station's last profile as fixed load
    assert any(r.fixed_stations == 1 for r in csms.replans)
    # offline the station kept charging by its last profile and received nothing new
    back = drop_at + timedelta(hours=2)
    applied = [a.received for a in result.applied if a.station == 0 and a.purpose == "TxProfile"]
    assert not any(drop_at < t < back for t in applied)
    offline_kWh = sum(
        seg.kW * (min(seg.end, back) - max(seg.start, drop_at)).total_seconds() / 3600.0
        for seg in result.segments
        if seg.station == 0 and seg.end > drop_at and seg.start < back
    )
    assert offline_kWh > 1.0
    # after the reconnect the station is planned again with the others and every profile reached it
    again = [r for r in csms.replans if r.reason == "reconnect"]
    assert again[0].fixed_stations == 0 and again[0].profiles_failed == 0


def test_malformed_messages_get_callerrors_and_the_csms_keeps_serving() -> None:
    async def scenario() -> tuple[list[list[object]], Csms, str, int | None]:
        csms = Csms(site_limit_kW=20.0, stations=[StationSpec("CS1", 11.0)], clock="stations")
        await csms.serve("127.0.0.1", 0)
        url = f"ws://127.0.0.1:{csms.port}"
        answers: list[list[object]] = []
        try:
            async with connect(f"{url}/CS1", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]

                async def ask(frame: str) -> list[object]:
                    await ws.send(frame)
                    while True:
                        answer = json.loads(await ws.recv())
                        if answer[0] != 2:  # skip the CSMS's own requests (TxDefaultProfile after boot)
                            return answer
                        await ws.send(json.dumps([3, answer[1], {"status": "Accepted"}]))

                now = "2025-06-11T08:00:00Z"
                answers.append(await ask(json.dumps([2, "h0", "Heartbeat", {}])))  # before the boot
                answers.append(await ask("this is not json"))
                answers.append(await ask(json.dumps([7, "x1", "Heartbeat", {}])))
                answers.append(await ask(json.dumps([2, "a1", "FooBar", {}])))
                answers.append(
                    await ask(json.dumps([2, "a2", "Authorize", {"idToken": {"idToken": "1", "type": "ISO14443"}}]))
                )
                answers.append(await ask(json.dumps([2, "b1", "BootNotification", {"reason": "PowerUp"}])))
                answers.append(
                    await ask(
                        json.dumps(
                            [
                                2,
                                "b2",
                                "BootNotification",
                                {"reason": "PowerUp", "chargingStation": {"model": 5, "vendorName": "x"}},
                            ]
                        )
                    )
                )
                answers.append(
                    await ask(
                        json.dumps(
                            [
                                2,
                                "b3",
                                "BootNotification",
                                {"reason": "Bored", "chargingStation": {"model": "m", "vendorName": "x"}},
                            ]
                        )
                    )
                )
                answers.append(
                    await ask(
                        json.dumps(
                            [
                                2,
                                "b4",
                                "BootNotification",
                                {
                                    "reason": "PowerUp",
                                    "chargingStation": {"model": "m", "vendorName": "x"},
                                    "colour": "red",
                                },
                            ]
                        )
                    )
                )
                answers.append(
                    await ask(
                        json.dumps(
                            [
                                2,
                                "b5",
                                "BootNotification",
                                {"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "x"}},
                            ]
                        )
                    )
                )
                answers.append(
                    await ask(
                        json.dumps(
                            [
                                2,
                                "s1",
                                "StatusNotification",
                                {"timestamp": now, "connectorStatus": "Available", "evseId": 9, "connectorId": 1},
                            ]
                        )
                    )
                )
                event = {
                    "eventType": "Updated",
                    "timestamp": now,
                    "triggerReason": "MeterValuePeriodic",
                    "seqNo": 1,
                    "transactionInfo": {"transactionId": "T-none"},
                }
                answers.append(await ask(json.dumps([2, "t1", "TransactionEvent", event])))
                started = {
                    "eventType": "Started",
                    "timestamp": now,
                    "triggerReason": "CablePluggedIn",
                    "seqNo": 0,
                    "transactionInfo": {"transactionId": "T1"},
                    "evse": {"id": 1, "connectorId": 1},
                }
                answers.append(await ask(json.dumps([2, "t2", "TransactionEvent", started])))
                answers.append(await ask(json.dumps([2, "t3", "TransactionEvent", started])))  # a second Started
                replay = started | {"eventType": "Updated", "seqNo": 0}
                answers.append(await ask(json.dumps([2, "t4", "TransactionEvent", replay])))  # seqNo not above
                answers.append(await ask(json.dumps([2, "h1", "Heartbeat", {}])))  # still serving
            status = None
            try:
                async with connect(f"{url}/NOBODY", subprotocols=["ocpp2.0.1"]):  # type: ignore[list-item]
                    pass
            except InvalidStatus as exc:
                status = exc.response.status_code
            async with connect(f"{url}/CS1") as plain:  # no subprotocol
                await asyncio.wait_for(plain.wait_closed(), 5)
                close_code = plain.close_code
        finally:
            await csms.close()
        return answers, csms, str(status), close_code

    answers, csms, status, close_code = run(scenario())
    codes = [a[2] if a[0] == 4 else "ok" for a in answers]
    assert codes == [
        "SecurityError",
        "RpcFrameworkError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "TypeConstraintViolation",
        "PropertyConstraintViolation",
        "FormatViolation",
        "ok",
        "PropertyConstraintViolation",
        "PropertyConstraintViolation",
        "ok",
        "PropertyConstraintViolation",
        "PropertyConstraintViolation",
        "ok",
    ]
    assert answers[1][1] == "-1"  # the message id of an unreadable frame
    assert answers[5][4]["field"] == "chargingStation"  # the error names the field
    assert answers[6][4]["field"] == "chargingStation.model"
    assert answers[13][4]["field"] == "transactionInfo.transactionId"
    assert answers[14][4]["field"] == "seqNo"
    assert len(csms.errors) == 13  # every refusal logged
    assert status == "404"
    assert close_code == 1002


def test_station_without_iso15118_gets_the_default_stay_from_the_elaadnl_statistics() -> None:
    draw = draw_cars(3, DAY, hours=24, seed=2, iso15118_share=0.0)
    csms = Csms(site_limit_kW=None, clock="stations")
    first = draw.cars[0]
    result, _ = run(hub_day(csms, 3, draw.cars, until=first.arrival + timedelta(minutes=1)))
    tx = csms.transactions[first.tx_id]
    stay, kWh = default_stay(first.arrival)
    assert not tx.from_needs
    assert tx.departure == first.arrival + stay
    assert tx.requested_kWh == kWh
    assert 2.0 < stay.total_seconds() / 3600 < 13.0  # ElaadNL public mean stays lie between 2.85 and 12.45 h
    assert result.cars[0].tx_id == first.tx_id


def test_the_car_draw_uses_the_synthetic_session_model_without_shared_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("BATTERYLOOP_SHARED_DATA", str(tmp_path / "empty"))
    draw = draw_cars(10, DAY, hours=24, seed=4)
    assert "synthetic" in draw.source
    assert len(draw.cars) > 10
    for car in draw.cars:
        stay_h = (car.departure - car.arrival).total_seconds() / 3600.0
        assert 0 < car.energy_kWh <= car.max_charge_kW * stay_h + 1e-9
        assert T0 <= car.arrival < T0 + timedelta(hours=24)
    by_station: dict[int, list[Car]] = {}
    for car in draw.cars:
        by_station.setdefault(car.station, []).append(car)
    for cars in by_station.values():  # one car at a time per station
        for a, b in itertools.pairwise(cars):
            assert b.arrival > a.departure


# -- the planner alone -------------------------------------------------------------------------------------------------


def need(key: str, hours: float, kWh: float, kW: float = 11.0, start: datetime = T0) -> EvNeed:
    return EvNeed(key, start + timedelta(hours=hours), kWh, kW)


def test_plan_follows_prices_and_respects_the_limit_per_step() -> None:
    start = T0 + timedelta(minutes=7)  # off the 15-minute grid: step 0 is partial
    prices = PriceSignal((T0, T0 + timedelta(hours=2)), (200.0, 20.0))
    leave = T0 + timedelta(hours=4)
    plan = plan_hub([EvNeed("a", leave, 20.0, 11.0), EvNeed("b", leave, 20.0, 11.0)], prices, start, site_limit_kW=22.0)
    assert plan.status == "optimal"
    assert plan.grid_start == grid_floor(start, 900) == T0
    assert np.all(plan.net_kW <= 22.0 + 1e-9)
    cheap = plan.net_kW[8:].sum()  # steps from 02:00 on
    assert cheap * 0.25 == pytest.approx(40.0, abs=1e-6)  # all 40 kWh in the cheap hours (2 h x 22 kW = 44)
    periods = plan.evs["a"].periods(plan)
    assert periods[0][0] == 0 and periods[-1][1] == 0.0
    assert all(round(w, 1) == w for _, w in periods)  # at most one decimal (2.0.1 schema)


def test_plan_falls_back_to_earliest_departure_first_when_the_limit_is_too_small() -> None:
    plan = plan_hub([need("a", 2, 20.0), need("b", 4, 20.0)], PriceSignal.flat(50.0), T0, site_limit_kW=5.0)
    assert plan.status == "fallback"
    assert plan.evs["a"].reason == "site" and plan.evs["b"].reason == "site"
    assert plan.evs["a"].guaranteed_kWh == pytest.approx(10.0)  # 5 kW x 2 h, first to leave
    assert plan.evs["b"].guaranteed_kWh == pytest.approx(10.0)
    assert np.all(plan.net_kW <= 5.0 + 1e-9)


def test_a_short_stay_gets_its_tail_reserved() -> None:
    start = T0 + timedelta(minutes=3)
    plan = plan_hub([need("a", 10 / 60, 1.8, start=start)], PriceSignal.flat(50.0), start, site_limit_kW=50.0)
    ev = plan.evs["a"]
    # 12 min of step 0 (03..15) are LP, the rest (15..13) is the tail
    assert ev.guaranteed_kWh == pytest.approx(1.8, abs=1e-6)
    assert ev.reason == ""


def test_stay_too_short_is_reported_with_the_reason() -> None:
    plan = plan_hub([need("a", 1.0, 20.0)], PriceSignal.flat(50.0), T0, site_limit_kW=None)
    assert plan.evs["a"].reason == "stay"
    assert plan.evs["a"].guaranteed_kWh == pytest.approx(11.0, abs=1e-6)


def test_price_signal_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        PriceSignal((T0, T0), (1.0, 2.0))
    assert info.value.field == "prices[1].start"
    with pytest.raises(ValidationError) as info:
        PriceSignal((T0,), (float("nan"),))
    assert info.value.field == "prices[0]"


# -- the commands ------------------------------------------------------------------------------------------------------


def test_the_commands_run_a_csms_and_a_simulated_hub_against_it() -> None:
    exe = str(Path(sys.executable).parent / "batteryloop")
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [exe, "ocpp", "csms", "--port", "0", "--site-limit-kW", "22", "--clock", "stations"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        port = int(line.split("ws://127.0.0.1:")[1].split("/")[0])
        done = subprocess.run(
            [
                exe,
                "ocpp",
                "simulate",
                "--url",
                f"ws://127.0.0.1:{port}",
                "--stations",
                "4",
                "--hours",
                "24",
                "--speed",
                "0",
                "--date",
                "2025-06-11",
                "--seed",
                "3",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    finally:
        server.terminate()
        server.wait(10)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["cars"] >= 6
    assert payload["cars_short"] == 0 and payload["call_errors"] == 0
    assert payload["peak_kW"] <= 22.0 + 1e-6
    assert payload["delivered_kWh"] == pytest.approx(payload["requested_kWh"], abs=0.05)


def test_the_simulate_command_names_a_bad_option() -> None:
    exe = str(Path(sys.executable).parent / "batteryloop")
    done = subprocess.run(
        [exe, "ocpp", "simulate", "--iso15118-share", "2"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "--iso15118-share" in done.stderr and "0..1" in done.stderr

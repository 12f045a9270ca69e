"""OpenADR 3 end to end over real HTTP on loopback: the VEN (batteryloop.protocols.openadr_ven, on the openadr3
client) against the VTN stand-in (batteryloop.protocols.openadr_vtn, FastAPI + uvicorn), checked from the plans the
VEN made and, for the hub, from the charging profiles the stations accepted."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest

from batteryloop.protocols.hub import PriceSignal
from batteryloop.protocols.ocpp_csms import Csms
from batteryloop.protocols.ocpp_sim import Car, HubSim
from batteryloop.protocols.openadr_model import EventRejectedError, iso, parse_event
from batteryloop.protocols.openadr_ven import BatterySpec, Ven
from batteryloop.protocols.openadr_vtn import Vtn, VtnServer

NOW = datetime(2025, 6, 11, 8, 0, tzinfo=UTC)
WINDOW = (NOW + timedelta(hours=2), NOW + timedelta(hours=4))


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 25))


@pytest.fixture
def vtn() -> Any:
    state = Vtn()
    state.add_client("ven-1", "s3cret", "ven")
    state.add_client("dso", "bl-secret", "bl")
    state.add_program({"programName": "congestion-nl"})
    server = VtnServer(state).start()
    yield state, server
    server.stop()


def program_id(state: Vtn) -> str:
    return next(iter(state.programs))


def limit_event(state: Vtn, kind: str, kW: float, window: tuple[datetime, datetime] = WINDOW) -> dict[str, Any]:
    return {
        "programID": program_id(state),
        "eventName": f"{kind} {kW}",
        "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": kind, "units": "KW"}],
        "intervalPeriod": {"start": iso(window[0]), "duration": "PT1H"},
        "intervals": [
            {"id": 0, "payloads": [{"type": kind, "values": [kW]}]},
            {"id": 1, "payloads": [{"type": kind, "values": [kW]}]},
        ],
    }


def price_event(state: Vtn, cheap: tuple[int, int], dear: tuple[int, int]) -> dict[str, Any]:
    """EUR/kWh per hour from NOW for 8 h: 0.02 in the cheap hours, 0.40 in the dear ones, 0.10 otherwise."""
    values = [0.02 if cheap[0] <= h < cheap[1] else 0.40 if dear[0] <= h < dear[1] else 0.10 for h in range(8)]
    return {
        "programID": program_id(state),
        "eventName": "day-ahead",
        "payloadDescriptors": [
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "PRICE", "units": "KWH", "currency": "EUR"}
        ],
        "intervalPeriod": {"start": iso(NOW), "duration": "PT1H"},
        "intervals": [{"id": h, "payloads": [{"type": "PRICE", "values": [v]}]} for h, v in enumerate(values)],
    }


def battery_ven(server: VtnServer, **kw: Any) -> Ven:
    return Ven(
        server.url,
        "ven-1",
        "s3cret",
        ven_name="site-1",
        battery=BatterySpec(power_kW=10.0, energy_kWh=40.0, soc=0.5),
        clock=lambda: NOW,
        horizon_hours=8,
        **kw,
    )


def window_steps(ven: Ven, window: tuple[datetime, datetime] = WINDOW) -> list[int]:
    plan = ven.battery_plan
    assert plan is not None
    return [k for k, s in enumerate(plan.starts) if window[0] <= s < window[1]]


def test_a_capacity_limit_for_a_window_holds_in_every_interval_of_the_battery_plan(vtn: Any) -> None:
    state, server = vtn
    ven = battery_ven(server, base_prices=PriceSignal.flat(50.0))
    # cheap power in the window: without a limit the battery charges there at full power
    state.add_event(price_event(state, cheap=(2, 4), dear=(6, 8)))
    first = run(ven.poll_once())
    assert len(first.changed) == 1 and ven.battery_plan is not None
    steps = window_steps(ven)
    assert max(ven.battery_plan.net_kW[steps]) > 9.9  # full charge in the cheap window
    state.add_event(limit_event(state, "IMPORT_CAPACITY_LIMIT", 3.0))
    second = run(ven.poll_once())
    assert len(second.changed) == 1 and second.reports == 1
    plan = ven.battery_plan
    assert plan.status == "optimal"
    assert np.all(plan.net_kW[steps] <= 3.0 + 1e-6), plan.net_kW[steps]
    assert max(plan.net_kW[steps]) > 2.9  # it still uses what the limit leaves
    outside = [k for k in range(len(plan.starts)) if k not in steps]
    assert max(plan.net_kW[outside]) > 3.0  # the limit binds only in its window
    # an export limit over the dear hours bounds the discharge there
    state.add_event(
        limit_event(state, "EXPORT_CAPACITY_LIMIT", 2.0, (NOW + timedelta(hours=6), NOW + timedelta(hours=8)))
    )
    run(ven.poll_once())
    dear = window_steps(ven, (NOW + timedelta(hours=6), NOW + timedelta(hours=8)))
    assert np.all(ven.battery_plan.net_kW[dear] >= -2.0 - 1e-6)
    ven.close()


def test_a_price_event_moves_the_plan_to_the_cheap_intervals_and_a_report_arrives_with_its_intervals(
    vtn: Any,
) -> None:
    state, server = vtn
    ven = battery_ven(server, base_prices=PriceSignal.flat(100.0))
    state.add_event(limit_event(state, "IMPORT_CAPACITY_LIMIT", 10.0))  # not binding: a flat-price plan
    run(ven.poll_once())
    flat = ven.battery_plan
    assert flat is not None and np.allclose(flat.net_kW, 0.0, atol=1e-6)  # flat price: nothing to gain
    event = state.add_event(price_event(state, cheap=(1, 3), dear=(5, 7)))
    result = run(ven.poll_once())
    assert result.changed == [event["id"]]
    plan = ven.battery_plan
    hours = np.array([(s - NOW).total_seconds() // 3600 for s in plan.starts])
    cheap, dear = (hours >= 1) & (hours < 3), (hours >= 5) & (hours < 7)
    assert plan.net_kW[cheap].mean() > 5.0 and plan.net_kW[dear].mean() < -5.0
    assert plan.net_kW[cheap].mean() > plan.net_kW[~cheap & ~dear].mean()
    # the report on the price event reached the VTN: one interval per event interval, the plan's mean power
    reports = [r for r in state.reports if r["eventID"] == event["id"]]
    assert len(reports) == 1
    rows = reports[0]["resources"][0]["intervals"]
    assert reports[0]["clientName"] == "site-1" and len(rows) == 8
    for h, row in enumerate(rows):
        assert row["intervalPeriod"] == {"start": iso(NOW + timedelta(hours=h)), "duration": "PT1H"}
        mean = plan.net_kW[hours == h].mean()
        assert row["payloads"][0]["values"][0] == pytest.approx(mean, abs=1e-3)
    ven.close()


def test_malformed_and_unknown_events_are_rejected_with_problem_details_and_the_ven_keeps_going(
    vtn: Any, caplog: pytest.LogCaptureFixture
) -> None:
    state, server = vtn
    # the VTN refuses a bad event from the business logic with 400 problem details
    with httpx.Client(base_url=server.url) as http:
        tok = http.post(
            "/auth/token", data={"grant_type": "client_credentials", "client_id": "dso", "client_secret": "bl-secret"}
        ).json()["access_token"]
        bad = limit_event(state, "IMPORT_CAPACITY_LIMIT", -5.0)
        resp = http.post("/events", json=bad, headers={"Authorization": f"Bearer {tok}"})
        assert resp.status_code == 400
        assert resp.headers["content-type"].startswith("application/problem+json")
        body = resp.json()
        assert body["status"] == 400 and "intervals[0].payloads[0].values[0]" in body["detail"]
        assert http.post(
            "/auth/token", data={"grant_type": "client_credentials", "client_id": "dso", "client_secret": "wrong"}
        ).json() == {"error": "invalid_client"}
        assert http.get("/events").status_code == 401
    # a non-conforming VTN hands out bad events anyway: the VEN logs each with its problem and skips it
    unknown = limit_event(state, "IMPORT_CAPACITY_LIMIT", 3.0)
    unknown["intervals"][0]["payloads"][0]["type"] = "CHOCOLATE"
    state.put_raw_event(unknown)
    state.put_raw_event({"programID": program_id(state), "intervals": [{"id": 0, "payloads": "x"}]})
    state.put_raw_event({"programID": program_id(state)})  # no intervals
    good = state.add_event(limit_event(state, "IMPORT_CAPACITY_LIMIT", 3.0))
    ven = battery_ven(server)
    with caplog.at_level(logging.WARNING, logger="batteryloop.openadr.ven"):
        result = run(ven.poll_once())
    assert result.changed == [good["id"]] and len(result.rejected) == 3
    assert {p["status"] for p in ven.problems} == {400}
    assert any("CHOCOLATE" in p["detail"] for p in ven.problems)
    assert all(p["type"] == "about:blank" and p["instance"].startswith("/events/") for p in ven.problems)
    assert sum("rejected" in r.message for r in caplog.records) >= 3
    assert np.all(ven.battery_plan.net_kW[window_steps(ven)] <= 3.0 + 1e-6)
    assert run(ven.poll_once()).rejected == []  # not re-read until the VTN changes them
    ven.close()


def test_nl_flex_dispatch_checks_run_and_name_the_rule() -> None:
    start = datetime(2025, 6, 12, 0, 0, tzinfo=UTC)
    flex = {
        "id": "e1",
        "programID": "p",
        "targets": ["group-7"],
        "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "FLEX", "units": "KW"}],
        "reportDescriptors": [{"payloadType": "ACK", "frequency": 0}, {"payloadType": "DELIVERED_FLEX"}],
        "intervalPeriod": {"start": iso(start), "duration": "P1D"},
        "intervals": [
            {
                "id": 0,
                "intervalPeriod": {"start": iso(start + timedelta(hours=16)), "duration": "PT1H"},
                "payloads": [{"type": "FLEX", "values": [0]}],
            },
            {
                "id": 1,
                "intervalPeriod": {"start": iso(start + timedelta(hours=17)), "duration": "PT2H"},
                "payloads": [{"type": "FLEX", "values": [12.5]}],
            },
        ],
    }
    signal = parse_event(flex, baseline_kW=40.0)
    assert signal.types == {"FLEX"}
    flex["intervals"][1]["payloads"][0]["values"] = [12.555]  # three decimals
    flex["intervals"][1]["intervalPeriod"]["duration"] = "PT3H"  # not 2, 4 or 6 h
    flex["targets"] = []
    with pytest.raises(EventRejectedError) as err:
        parse_event(flex, baseline_kW=40.0)
    rules = {p.rule for p in err.value.problems}
    assert rules == {"flex.power_value", "flex.interval_duration", "flex.targets"}
    assert "openadr3-client-nlflex-compliance" in err.value.problems[0].as_dict()["detail"]


def test_the_ven_retries_while_the_vtn_is_away_and_picks_up_events_when_it_returns(vtn: Any) -> None:
    state, server = vtn
    ven = battery_ven(server, poll_s=0.05, max_retry_s=0.2, http_timeout_s=1.0)

    async def until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
        """Poll (a busy machine may take seconds where a quiet one takes milliseconds)."""
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(ven.run(stop))
        await until(lambda: ven.ven_id is not None)
        assert ven.failures == 0 and ven.ven_id is not None
        await asyncio.to_thread(server.stop)
        await until(lambda: ven.failures >= 2)
        assert ven.failures >= 2 and not task.done()  # it keeps trying, it does not crash
        state.add_event(limit_event(state, "IMPORT_CAPACITY_LIMIT", 1.5))  # made while the VEN cannot see it
        await asyncio.to_thread(server.start)  # same port, same state
        await until(lambda: bool(ven.signals))
        stop.set()
        await task

    run(scenario())
    assert len(ven.signals) == 1 and len(state.reports) == 1
    assert np.all(ven.battery_plan.net_kW[window_steps(ven)] <= 1.5 + 1e-6)
    ven.close()


def hub_cars(n: int) -> list[Car]:
    arrival = NOW
    return [Car(i, arrival, arrival + timedelta(hours=8), 20.0, 11.0, 0.0, 60.0, True, i) for i in range(n)]


def test_a_capacity_limit_reaches_the_hub_and_the_profiles_the_stations_accepted_respect_it(vtn: Any) -> None:
    state, server = vtn
    n, limit = 6, 12.0

    async def scenario() -> Csms:
        csms = Csms(site_limit_kW=40.0, clock=lambda: NOW, replan_on_events=False)
        await csms.serve("127.0.0.1", 0)
        sim = HubSim(f"ws://127.0.0.1:{csms.port}", hub_cars(n), n, start=NOW)
        await sim.boot()
        for car in sim.cars:
            await sim.arrive(car)
        csms.replan_on_events = True
        await csms.replan("start")
        ven = Ven(server.url, "ven-1", "s3cret", ven_name="hub-1", csms=csms, clock=lambda: NOW)
        state.add_event(limit_event(state, "IMPORT_CAPACITY_LIMIT", limit))
        result = await ven.poll_once()
        assert result.changed and result.reports == 1
        ven.close()
        for st in sim.stations:
            if st.connection is not None:
                await st.connection.close()
        await csms.close()
        return csms

    csms = run(scenario())
    txs = list(csms.transactions.values())
    assert len(txs) == n and all(t.profile is not None for t in txs)
    # every breakpoint of every accepted profile inside the window, and the window edges
    moments = {WINDOW[0], WINDOW[1] - timedelta(seconds=1)}
    for t in txs:
        moments |= {t.profile.start + timedelta(seconds=s) for s, _ in t.profile.periods}
    inside = sorted(m for m in moments if WINDOW[0] <= m < WINDOW[1])
    assert inside
    for m in inside:
        total_kW = sum(t.profile.watts_at(m) for t in txs) / 1000.0
        assert total_kW <= limit + 1e-6, (m, total_kW)
    before = sum(t.profile.watts_at(NOW + timedelta(minutes=30)) for t in txs) / 1000.0
    assert before > limit  # outside the window the connection limit (40 kW) applies
    report = state.reports[-1]
    assert report["resources"][0]["resourceName"] == "hub"
    assert all(row["payloads"][0]["values"][0] <= limit + 1e-3 for row in report["resources"][0]["intervals"])


def test_the_ven_command_polls_reports_and_names_a_bad_option(vtn: Any) -> None:
    import json

    from typer.testing import CliRunner

    from batteryloop.commands.openadr import openadr_app

    state, server = vtn
    event = state.add_event(limit_event(state, "IMPORT_CAPACITY_LIMIT", 3.0))
    args = ["ven", "--vtn", server.url, "--client-id", "ven-1", "--client-secret", "s3cret", "--max-polls", "1"]
    result = CliRunner().invoke(openadr_app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    state_out = json.loads(result.output)
    assert state_out["events_accepted"] == [event["id"]] and state_out["reports_sent"] == 1
    bad = CliRunner().invoke(openadr_app, [*args, "--soc", "150"])
    assert bad.exit_code != 0 and "--soc" in str(bad.exception)


@pytest.mark.parametrize("v2g", [False, True])
def test_the_per_ev_plan_is_the_fleet_optimisation_read_per_ev(v2g: bool) -> None:
    from batteryloop.energy.fleet import FleetSessions, optimise_fleet, plan_per_ev

    rng = np.random.default_rng(3)
    n, T = 40, 48
    start = np.datetime64("2025-06-11T12:00:00")
    arrival = start + (rng.uniform(0, 6, n) * 3600).astype("timedelta64[s]")
    sessions = FleetSessions(
        arrival=arrival,
        departure=arrival + (rng.uniform(3, 9, n) * 3600).astype("timedelta64[s]"),
        energy_kWh=rng.uniform(5, 30, n),
        max_charge_kW=np.full(n, 11.0),
        max_discharge_kW=np.full(n, 11.0 if v2g else 0.0),
        battery_kWh=np.full(n, 60.0),
        soc_arrival_pct=rng.uniform(20, 60, n),
    )
    prices = 60 + 40 * np.sin(np.arange(T) / 8.0)
    whole = optimise_fleet(sessions, prices, start, v2g=v2g, site_limit_kW=150.0)
    per_ev = plan_per_ev(sessions, prices, start, step_minutes=15, v2g=v2g, site_limit_kW=150.0)
    assert whole.status == per_ev.status == "optimal"
    assert np.allclose(per_ev.site_kW(), whole.charge_kW - whole.discharge_kW, atol=1e-6)
    assert np.all(np.abs(per_ev.site_kW()) <= 150.0 + 1e-6)
    assert np.allclose(per_ev.guaranteed_kWh, whole.guaranteed_kWh)
    delivered = np.bincount(per_ev.ev, weights=per_ev.power_kW * 0.25, minlength=n)
    assert np.all(delivered >= per_ev.guaranteed_kWh - 1e-4)  # every EV gets its energy from its own rows


def test_a_windowed_hub_limit_binds_only_in_its_window_and_names_bad_fields() -> None:
    from batteryloop.errors import ValidationError
    from batteryloop.protocols.hub import EvNeed, WindowedLimit, plan_hub

    needs = [EvNeed(f"ev{i}", NOW + timedelta(hours=8), 30.0, 11.0) for i in range(4)]
    limit = WindowedLimit(40.0, [(WINDOW[0], WINDOW[1], 5.0)])
    plan = plan_hub(needs, PriceSignal.flat(50.0), NOW, site_limit_kW=limit)
    step = timedelta(minutes=plan.step_minutes)
    for k, kW in enumerate(plan.net_kW):
        a = plan.start if k == 0 else plan.grid_start + k * step
        b = plan.grid_start + (k + 1) * step
        bound = 5.0 if (a < WINDOW[1] and b > WINDOW[0]) else 40.0
        assert kW <= bound + 1e-6, (k, kW)
    assert max(plan.net_kW[:4]) > 5.0  # outside the window the connection limit applies
    assert float(WindowedLimit(None, [])) == float("inf")
    with pytest.raises(ValidationError) as err:
        WindowedLimit(40.0, [(WINDOW[1], WINDOW[0], 5.0)])
    assert err.value.field == "windows[0].end"
    with pytest.raises(ValidationError) as err:
        WindowedLimit(40.0, [(WINDOW[0], WINDOW[1], -1.0)])
    assert err.value.field == "windows[0].kW"


def test_the_vtn_rejects_a_report_on_an_unknown_event_with_problem_details(vtn: Any) -> None:
    state, server = vtn
    ven = battery_ven(server)
    event = state.add_event(limit_event(state, "IMPORT_CAPACITY_LIMIT", 3.0))
    run(ven.poll_once())
    good = ven.report(ven.signals[event["id"]])
    ven._post_report({**good, "eventID": "event-nope"})
    ven._post_report(
        {
            **good,
            "resources": [
                {"resourceName": "b", "intervals": [{"id": 0, "payloads": [{"type": "DEMAND", "values": ["lots"]}]}]}
            ],
        }
    )
    assert [e["status"] for e in ven.report_errors] == [404, 400]
    assert "eventID" in ven.report_errors[0]["detail"] and "values" in ven.report_errors[1]["detail"]
    assert len(state.reports) == 1  # only the VEN's own good report
    ven.close()

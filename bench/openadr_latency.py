"""OpenADR 3 -> OCPP 2.0.1: latency from a new VTN event to updated charging profiles, at 20 and 1,000 stations.

One process, real HTTP and WebSockets on loopback: the VTN stand-in (batteryloop.protocols.openadr_vtn, FastAPI on
uvicorn), the VEN (batteryloop.protocols.openadr_ven, on the openadr3 client) driving the hub's CSMS
(batteryloop.protocols.ocpp_csms), and the stations of batteryloop.protocols.ocpp_sim. Every station has a car (ElaadNL
draw, all plugged in at 17:00 local, as in bench/ocpp_latency.py); the connection limit is 40 % of the stations' power.

Each round the grid operator posts an IMPORT_CAPACITY_LIMIT event for 18:00-20:00 local (alternately 25 % and 20 % of
the stations' power, so every profile changes) to the VTN over HTTP; the clock starts before that POST and stops when
the VEN has fetched the event, re-planned the hub (fleet LP on HiGHS), every station has answered its
SetChargingProfile, and the VEN's report has been accepted by the VTN. The VEN's poll interval comes on top (a VEN
polling every ``p`` seconds sees an event ``p / 2`` later on average); the rounds call the poll at once. Printed:
the median of ``--rounds`` of the whole path, and of its parts (plan, profiles to the stations).

Run: flock /tmp/bench.lock .venv/bin/python bench/openadr_latency.py [--rounds 3] [--sizes 20 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from datetime import date, timedelta
from importlib.metadata import version

import httpx

from batteryloop.energy.elaadnl import local_midnight_utc
from batteryloop.protocols.ocpp_csms import Csms
from batteryloop.protocols.ocpp_sim import HubSim, draw_cars
from batteryloop.protocols.openadr_model import iso
from batteryloop.protocols.openadr_ven import Ven
from batteryloop.protocols.openadr_vtn import Vtn, VtnServer
from machine import describe  # bench/machine.py, beside this script

DAY = date(2025, 6, 11)
T0 = local_midnight_utc(DAY)
PLUG_IN = T0 + timedelta(hours=17)


def limit_event(program_id: str, kW: float) -> dict[str, object]:
    return {
        "programID": program_id,
        "eventName": f"congestion {kW:.0f} kW",
        "payloadDescriptors": [
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"}
        ],
        "intervalPeriod": {"start": iso(PLUG_IN + timedelta(hours=1)), "duration": "PT2H"},
        "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [round(kW, 2)]}]}],
    }


async def one_size(n: int, rounds: int) -> dict[str, float]:
    draw = draw_cars(n, DAY, hours=24, seed=7, cars_per_station_day=1.0)
    cars = draw.cars
    k = 0
    while len(cars) < n:
        k += 1
        cars += draw_cars(n, DAY, hours=24, seed=7 + k, cars_per_station_day=1.0).cars[: n - len(cars)]
    cars = cars[:n]
    for i, car in enumerate(cars):
        stay = car.departure - car.arrival
        car.arrival, car.departure, car.station, car.iso15118 = PLUG_IN, PLUG_IN + stay, i, True
    state = Vtn()
    state.add_client("ven", "ven-secret", "ven")
    state.add_client("dso", "dso-secret", "bl")
    program = state.add_program({"programName": "congestion"})["id"]
    server = VtnServer(state).start()
    csms = Csms(site_limit_kW=0.4 * n * 11.0, clock="stations", replan_on_events=False)
    await csms.serve("127.0.0.1", 0)
    sim = HubSim(f"ws://127.0.0.1:{csms.port}", cars, n, start=PLUG_IN, response_timeout_s=600.0)
    await sim.boot()
    for car in cars:
        await sim.arrive(car)
    csms.replan_on_events = True
    await csms.replan("start")
    ven = Ven(server.url, "ven", "ven-secret", ven_name="hub", csms=csms, clock=lambda: PLUG_IN, http_timeout_s=600.0)
    await ven.poll_once()  # register, fetch the token
    dso = httpx.Client(base_url=server.url, timeout=60.0)
    token = dso.post(
        "/auth/token", data={"grant_type": "client_credentials", "client_id": "dso", "client_secret": "dso-secret"}
    ).json()["access_token"]
    totals, plans, dispatches, sent, errors = [], [], [], [], 0
    for r in range(rounds):
        for old in list(state.events):
            state.delete_event(old)
        kW = n * 11.0 * (0.25 if r % 2 == 0 else 0.20)
        t = time.perf_counter()
        resp = await asyncio.to_thread(
            dso.post, "/events", json=limit_event(program, kW), headers={"Authorization": f"Bearer {token}"}
        )
        resp.raise_for_status()
        result = await ven.poll_once()
        totals.append(time.perf_counter() - t)
        record = csms.replans[-1]
        plans.append(record.plan_s)
        dispatches.append(record.dispatch_s)
        sent.append(record.profiles_sent)
        errors += len(result.rejected) + len(ven.report_errors)
    dso.close()
    ven.close()
    for st in sim.stations:
        if st.connection is not None:
            await st.connection.close()
    await csms.close()
    server.stop()
    return {
        "stations": n,
        "total_s": statistics.median(totals),
        "plan_s": statistics.median(plans),
        "dispatch_s": statistics.median(dispatches),
        "profiles": statistics.median(sent),
        "reports": len(state.reports),
        "errors": errors + len(csms.errors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 1000])
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(
        describe(
            f"openadr3 {version('openadr3')}",
            f"fastapi {version('fastapi')}",
            f"ocpp {version('ocpp')}",
            f"highspy {version('highspy')}",
        )
    )
    for n in args.sizes:
        res = asyncio.run(one_size(n, args.rounds))
        print(
            f"{res['stations']:5d} stations: VTN event -> VEN -> all {res['profiles']:.0f} profiles answered + report "
            f"in {res['total_s'] * 1000:.0f} ms (median of {args.rounds}): plan {res['plan_s'] * 1000:.0f} ms, "
            f"profiles {res['dispatch_s'] * 1000:.0f} ms, OpenADR HTTP and the rest "
            f"{(res['total_s'] - res['plan_s'] - res['dispatch_s']) * 1000:.0f} ms; "
            f"reports {res['reports']}, errors {res['errors']}"
        )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

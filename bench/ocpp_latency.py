"""OCPP 2.0.1 hub: messages per second and the latency from a new price signal to updated charging profiles.

For 20 and 1,000 stations (one process, real WebSockets on loopback, the CSMS of batteryloop.protocols.ocpp_csms and the
stations of batteryloop.protocols.ocpp_sim): every station has a car (ElaadNL draw, all plugged in at 17:00 local, the
evening peak) that told its needs (ISO 15118); the hub limit is 40 % of the stations' power.

- messages per second: every station sends ``--meter-rounds`` TransactionEvent Updated (meter values) as fast as the
  CSMS answers, all stations at once; each request is checked against the 2.0.1 schema, its meter values read;
- latency: a new day-ahead price signal (the shape flips, so every profile changes) until every station has answered
  its SetChargingProfile (TxProfile, W): the whole round trip, against the baseline in the same run, the plan alone
  (the fleet LP on HiGHS plus the per-EV limits), as a ratio (round trip / plan); the median of ``--rounds``.

Run: flock /tmp/bench.lock .venv/bin/python bench/ocpp_latency.py [--rounds 3] [--sizes 20 1000]
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

from batteryloop.energy.elaadnl import local_midnight_utc
from batteryloop.protocols.hub import PriceSignal
from batteryloop.protocols.ocpp_csms import Csms
from batteryloop.protocols.ocpp_sim import HubSim, draw_cars
from machine import describe  # bench/machine.py, beside this script

DAY = date(2025, 6, 11)
T0 = local_midnight_utc(DAY)
PLUG_IN = T0 + timedelta(hours=17)


def prices(flip: bool) -> PriceSignal:
    starts = tuple(T0 + timedelta(hours=h) for h in range(96))
    values = tuple(
        (60.0 + 40.0 * ((h % 24) >= 18)) if not flip else (100.0 - 40.0 * ((h % 24) >= 18)) for h in range(96)
    )
    return PriceSignal(starts, values)


async def one_size(n: int, rounds: int, meter_rounds: int) -> dict[str, float]:
    draw = draw_cars(n, DAY, hours=24, seed=7, cars_per_station_day=1.0)
    cars = draw.cars
    k = 0
    while len(cars) < n:  # one car per station: draw more days' worth if the first draw was short
        k += 1
        more = draw_cars(n, DAY, hours=24, seed=7 + k, cars_per_station_day=1.0).cars
        cars += more[: n - len(cars)]
    cars = cars[:n]
    for i, car in enumerate(cars):  # everyone plugs in at 17:00 (keeps stay and energy)
        stay = car.departure - car.arrival
        car.arrival, car.departure, car.station, car.iso15118 = PLUG_IN, PLUG_IN + stay, i, True
    limit = 0.4 * n * 11.0
    csms = Csms(site_limit_kW=limit, prices=prices(False), clock="stations", replan_on_events=False)
    await csms.serve("127.0.0.1", 0)
    sim = HubSim(f"ws://127.0.0.1:{csms.port}", cars, n, start=PLUG_IN, response_timeout_s=600.0)
    t = time.perf_counter()
    await sim.boot()
    boot_s = time.perf_counter() - t
    for car in cars:
        await sim.arrive(car)
    csms.replan_on_events = True
    first = await csms.replan("start")
    # messages per second: meter values from every station at once
    before = csms.messages_in
    t = time.perf_counter()

    async def meters(st_index: int) -> None:
        st = sim.stations[st_index]
        for _ in range(meter_rounds):
            await st.send(sim.event(st, "Updated", "MeterValuePeriodic", "Sample.Periodic"), queue=False)

    await asyncio.gather(*(meters(i) for i in range(n)))
    storm_s = time.perf_counter() - t
    storm_msgs = csms.messages_in - before
    # latency: price signal -> every profile answered
    totals, plans, dispatches, sent = [], [], [], []
    for r in range(rounds):
        t = time.perf_counter()
        record = await csms.set_prices(prices(flip=r % 2 == 0))
        totals.append(time.perf_counter() - t)
        plans.append(record.plan_s)
        dispatches.append(record.dispatch_s)
        sent.append(record.profiles_sent)
    for st in sim.stations:
        if st.connection is not None:
            await st.connection.close()
    await csms.close()
    total, plan = statistics.median(totals), statistics.median(plans)
    return {
        "stations": n,
        "limit_kW": limit,
        "boot_s": boot_s,
        "first_plan_s": first.plan_s,
        "msgs": storm_msgs,
        "msgs_per_s": storm_msgs / storm_s,
        "round_trip_s": total,
        "plan_s": plan,
        "dispatch_s": statistics.median(dispatches),
        "profiles": statistics.median(sent),
        "ratio": total / plan,
        "errors": len(csms.errors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 1000])
    parser.add_argument("--meter-rounds", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(describe(f"ocpp {version('ocpp')}", f"websockets {version('websockets')}", f"highspy {version('highspy')}"))
    for n in args.sizes:
        res = asyncio.run(one_size(n, args.rounds, args.meter_rounds))
        print(
            f"{res['stations']:5d} stations (limit {res['limit_kW']:.0f} kW): boot {res['boot_s']:.2f} s; "
            f"{res['msgs']:.0f} meter values at {res['msgs_per_s']:.0f} msg/s; price signal -> all "
            f"{res['profiles']:.0f} profiles answered in {res['round_trip_s'] * 1000:.0f} ms "
            f"(median of {args.rounds}): "
            f"plan {res['plan_s'] * 1000:.0f} ms + dispatch {res['dispatch_s'] * 1000:.0f} ms; "
            f"round trip / plan alone = {res['ratio']:.2f}; protocol errors {res['errors']}"
        )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

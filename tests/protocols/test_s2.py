"""S2 (EN 50491-12-2) between two batteryloop components over a real WebSocket on loopback: the CEM
(batteryloop.protocols.s2_cem) and a battery's resource manager (batteryloop.protocols.s2_rm), FRBC control."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from s2python.common import Handshake, InstructionStatusUpdate, PowerMeasurement
from s2python.frbc import FRBCStorageStatus
from s2python.version import S2_VERSION
from websockets.asyncio.client import connect

from batteryloop.energy.elaadnl import local_midnight_utc
from batteryloop.errors import ValidationError
from batteryloop.protocols.hub import PriceSignal
from batteryloop.protocols.s2_battery import BatterySpec, FrbcIds, battery_from_description, system_description
from batteryloop.protocols.s2_cem import S2Cem
from batteryloop.protocols.s2_rm import BatteryRm, SimClock

T0 = local_midnight_utc(date(2025, 6, 11))
STARTS = tuple(T0 + timedelta(hours=h) for h in range(72))
# local hours: cheap night 02-06, expensive evening 17-21
PRICES = PriceSignal(
    STARTS, tuple(20.0 if 2 <= h % 24 < 6 else 250.0 if 17 <= h % 24 < 21 else 80.0 for h in range(72))
)
PASSPORT = {"rated_energy_kWh": 15.0, "soh_capacity_pct": 90.0, "initial_round_trip_efficiency_pct": 90.25}


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 50))


def price_at(moment: datetime) -> float:
    return float(PRICES.at([moment])[0])


async def day(
    drop_at: datetime | None = None, offline: timedelta = timedelta(hours=1), prices: PriceSignal = PRICES
) -> tuple[BatteryRm, S2Cem]:
    clock = SimClock(T0)
    cem = S2Cem(prices=prices, clock=clock)
    await cem.serve()
    try:
        spec = BatterySpec.from_passport(PASSPORT, power_kW=5.0, name="home battery")
        rm = BatteryRm(f"ws://127.0.0.1:{cem.port}/s2", spec, 50.0, clock)
        await rm.connect()
        t = T0
        while t < T0 + timedelta(hours=24):
            t += timedelta(minutes=15)
            if drop_at is not None and t - timedelta(minutes=15) == drop_at:
                await rm.drop()
            back = drop_at is not None and t == drop_at + offline
            await rm.advance(t, report=t.minute == 0 and rm.connection is not None)
            if back:
                await rm.connect()
        await rm.close()
    finally:
        await cem.close()
    return rm, cem


def test_battery_passport_to_s2_description_and_back() -> None:
    spec = BatterySpec.from_passport(PASSPORT, power_kW=5.0)
    assert spec.energy_kWh == pytest.approx(13.5)  # 15 kWh x 90 %
    assert spec.efficiency == pytest.approx(0.95)  # sqrt(90.25 %)
    ids = FrbcIds.new()
    read, read_ids = battery_from_description(system_description(spec, ids, T0))
    assert read.power_kW == pytest.approx(5.0) and read.energy_kWh == pytest.approx(13.5, rel=1e-12)
    assert read.efficiency == pytest.approx(0.95, rel=1e-12)
    assert read_ids == ids


def test_passport_without_what_s2_needs_names_the_attributes() -> None:
    with pytest.raises(ValidationError) as info:
        BatterySpec.from_passport({"rated_energy_kWh": 15.0}, power_kW=5.0)
    fields = {p.field for p in info.value.problems}
    assert fields == {"soh_capacity_pct", "remaining_round_trip_efficiency_pct"}
    with pytest.raises(ValidationError) as info:
        BatterySpec.from_passport(PASSPORT | {"soh_capacity_pct": 120}, power_kW=5.0)
    assert info.value.field == "soh_capacity_pct"


def test_cem_and_battery_rm_a_day_of_fill_rate_based_control() -> None:
    rm, cem = run(day())
    session = cem.session_of(rm.resource_id)
    assert rm.control_type == "FILL_RATE_BASED_CONTROL"
    # the CEM read the battery from the description alone
    assert session.spec is not None
    assert session.spec.energy_kWh == pytest.approx(rm.spec.energy_kWh, rel=1e-9)
    assert session.spec.efficiency == pytest.approx(rm.spec.efficiency, rel=1e-9)
    assert cem.errors == [] and rm.refused == []
    # instructions were sent, accepted, executed; their status came back
    assert len(rm.executed) >= 4
    statuses = [u.status_type.value for u in session.status_updates]
    assert statuses.count("ACCEPTED") == len(session.instructions)
    assert statuses.count("SUCCEEDED") == len(rm.executed)
    assert len(session.storage_status) >= 24
    # what the battery did: charge in the cheap night, discharge in the evening peak, end where it began
    charged = [iv for iv in rm.intervals if iv.kW > 0]
    discharged = [iv for iv in rm.intervals if iv.kW < 0]
    assert charged and all(price_at(iv.start) <= 80.0 for iv in charged)
    assert any(price_at(iv.start) == 250.0 for iv in discharged)
    assert all(price_at(iv.start) >= 80.0 for iv in discharged)
    assert rm.soc_pct == pytest.approx(50.0, abs=0.01)
    revenue = sum(
        -iv.kW * (iv.end - iv.start).total_seconds() / 3600.0 * price_at(iv.start) / 1000 for iv in rm.intervals
    )
    assert revenue > 1.0  # EUR: arbitrage of a 13.5 kWh battery between 20 and 250 EUR/MWh
    # the battery followed the plan: the state the CEM expects is the state the RM reports
    end = T0 + timedelta(hours=24)
    assert cem.expected_soc(session, end) == pytest.approx(rm.soc_pct, abs=0.01)


def test_negative_prices_do_not_ask_the_battery_for_the_impossible() -> None:
    # at negative prices the LP may charge and discharge at once to burn energy; FRBC runs one mode at a time, so the
    # CEM sends the net power clipped to the battery, and the battery can follow the plan to the end
    values = tuple(-50.0 if 11 <= h % 24 < 15 else 250.0 if 18 <= h % 24 < 21 else 60.0 for h in range(72))
    rm, cem = run(day(prices=PriceSignal(STARTS, values)))
    session = cem.session_of(rm.resource_id)
    assert cem.errors == [] and rm.refused == []
    assert [r for _, _, r in cem.replans] == ["first storage status"]  # never off the plan by more than 2 %
    assert cem.expected_soc(session, T0 + timedelta(hours=24)) == pytest.approx(rm.soc_pct, abs=0.01)
    assert any(iv.kW > 0 and float(PriceSignal(STARTS, values).at([iv.start])[0]) < 0 for iv in rm.intervals)


def test_the_rm_reconnects_after_the_link_drops_and_control_resumes() -> None:
    drop = T0 + timedelta(hours=12)
    rm, cem = run(day(drop_at=drop, offline=timedelta(hours=2)))
    session = cem.session_of(rm.resource_id)
    assert cem.errors == [] and rm.refused == []
    reasons = [r for _, at, r in cem.replans]
    assert reasons.count("first storage status") == 2  # at the start and again after the reconnect
    back = drop + timedelta(hours=2)
    after = [i for i in session.instructions if i.execution_time >= back]
    assert after  # new instructions after the reconnect
    # the instructions of the first plan still pending at the reconnect were revoked, not run twice
    revoked = set(rm.revoked)
    assert revoked
    assert all(i.id not in revoked for i in rm.executed)
    last = {u.instruction_id: u.status_type.value for u in session.status_updates}
    assert all(last[i] == "REVOKED" for i in revoked)
    assert any(price_at(iv.start) == 250.0 and iv.kW < 0 for iv in rm.intervals)  # the evening peak still served
    # after the reconnect the battery followed the new plan (its horizon runs 24 h from the reconnect)
    assert cem.expected_soc(session, T0 + timedelta(hours=24)) == pytest.approx(rm.soc_pct, abs=0.01)


def test_malformed_and_misplaced_messages_get_reception_statuses_and_the_cem_keeps_serving() -> None:
    bad_id = str(uuid.uuid4())

    async def scenario() -> tuple[list[dict[str, object]], S2Cem]:
        cem = S2Cem(prices=PRICES, clock=SimClock(T0))
        await cem.serve()
        answers: list[dict[str, object]] = []
        try:
            async with connect(f"ws://127.0.0.1:{cem.port}/s2") as ws:

                async def ask(frame: str) -> dict[str, object]:
                    await ws.send(frame)
                    while True:
                        answer = json.loads(await ws.recv())
                        if answer["message_type"] == "ReceptionStatus":
                            return answer

                answers.append(await ask("{not json"))
                answers.append(await ask(json.dumps({"message_type": "Nope", "message_id": bad_id})))
                early = FRBCStorageStatus(message_id=uuid.uuid4(), present_fill_level=40.0)
                answers.append(await ask(early.to_json()))  # before the handshake
                cem_role = Handshake(message_id=uuid.uuid4(), role="CEM", supported_protocol_versions=[S2_VERSION])
                answers.append(await ask(cem_role.to_json()))  # a CEM cannot talk to a CEM
                hello = Handshake(message_id=uuid.uuid4(), role="RM", supported_protocol_versions=[S2_VERSION])
                answers.append(await ask(hello.to_json()))
                update = InstructionStatusUpdate(
                    message_id=uuid.uuid4(), instruction_id=uuid.uuid4(), status_type="STARTED", timestamp=T0
                )
                answers.append(await ask(update.to_json()))  # an instruction the CEM never sent
                answers.append(await ask(early.to_json()))  # FRBC before FRBC was selected
                power = PowerMeasurement(
                    message_id=uuid.uuid4(),
                    measurement_timestamp=T0,
                    values=[{"commodity_quantity": "ELECTRIC.POWER.3_PHASE_SYMMETRIC", "value": 10.0}],
                )
                answers.append(await ask(power.to_json()))  # still serving
        finally:
            await cem.close()
        return answers, cem

    answers, cem = run(scenario())
    assert [a["status"] for a in answers] == [
        "INVALID_DATA",
        "INVALID_MESSAGE",
        "INVALID_CONTENT",
        "INVALID_CONTENT",
        "OK",
        "INVALID_CONTENT",
        "INVALID_CONTENT",
        "OK",
    ]
    assert answers[0]["subject_message_id"] == "00000000-0000-0000-0000-000000000000"
    assert answers[1]["subject_message_id"] == bad_id  # the message id of a non-S2 message, when readable
    assert len(cem.errors) == 6


def test_the_commands_run_a_cem_and_a_battery_rm_from_its_passport(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).parent / "batteryloop")
    values = tmp_path / "battery.json"
    values.write_text(json.dumps({"data": PASSPORT | {"soh_capacity_pct": {"value": 90.0}}}), encoding="utf-8")
    prices = tmp_path / "prices.csv"
    rows = [f"{(T0 + timedelta(hours=h)).isoformat()},{PRICES.eur_per_MWh[h]}" for h in range(48)]
    prices.write_text("datetime_utc,price_eur_per_mwh\n" + "\n".join(rows) + "\n", encoding="utf-8")
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [exe, "s2", "cem", "--port", "0", "--clock", "rm", "--prices", str(prices)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split("ws://127.0.0.1:")[1].split("/")[0])
        done = subprocess.run(
            [
                exe,
                "s2",
                "rm",
                "--url",
                f"ws://127.0.0.1:{port}/",
                "--passport",
                str(values),
                "--power-kW",
                "5",
                "--hours",
                "24",
                "--speed",
                "0",
                "--start",
                T0.isoformat(),
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
    assert payload["control_type"] == "FILL_RATE_BASED_CONTROL"
    assert payload["usable_kWh"] == pytest.approx(13.5) and payload["efficiency"] == pytest.approx(0.95)
    assert payload["refused_by_cem"] == 0 and payload["instructions_executed"] >= 4
    assert payload["charged_kWh"] > 5 and payload["discharged_kWh"] > 5
    assert payload["soc_end_pct"] == pytest.approx(50.0, abs=0.01)

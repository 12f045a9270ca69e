"""The one-page dispatch report: self-contained HTML whose monthly figures add up to the dispatch result, written by
``energy dispatch --report``, and rendered by a headless Chromium where one is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from batteryloop.energy.asset import Asset
from batteryloop.energy.dispatch import FcrMarket, Horizon, dispatch
from batteryloop.energy.report import dispatch_report_html, monthly_figures, write_report

START = np.datetime64("2024-01-30T23:00", "us")  # local midnight, 31 January 2024 (Europe/Amsterdam)
DAYS = 3  # 31 Jan, 1 and 2 Feb: two months


def prices(days: int = DAYS) -> tuple[np.ndarray, np.ndarray]:
    ts = START + np.arange(24 * days) * np.timedelta64(1, "h")
    day = np.array([20.0] * 12 + [100.0] * 12)
    return ts, np.tile(day, days)


def asset() -> Asset:
    return Asset(power_kW=500, energy_kWh=1000, charge_efficiency=0.9, discharge_efficiency=0.9, soc_start=0.5)


def test_monthly_figures_add_up_to_the_dispatch_result():
    ts, p = prices()
    a = asset()
    result = dispatch(ts, p, a, step_minutes=60, horizon=Horizon.ROLLING)
    months = monthly_figures(result, a, step_minutes=60)
    assert [m.label for m in months] == ["Jan 2024", "Feb 2024"]
    # each rolling day: half the energy bought before noon and sold after (0.5 MWh drawn from the cells)
    per_day = 0.5 * (100 * 0.9 - 20 / 0.9)
    assert months[0].arbitrage_eur == pytest.approx(per_day, rel=1e-6)
    assert months[1].arbitrage_eur == pytest.approx(2 * per_day, rel=1e-6)
    assert sum(m.arbitrage_eur for m in months) == pytest.approx(result.revenue_eur["arbitrage"], rel=1e-9)
    assert sum(m.full_equivalent_cycles for m in months) == pytest.approx(result.full_equivalent_cycles, rel=1e-9)
    assert [m.full_equivalent_cycles for m in months] == pytest.approx([0.5, 1.0], rel=1e-6)


def test_fcr_revenue_by_month_adds_up():
    ts, p = prices()
    a = asset()
    market = FcrMarket(price_eur_per_MW=np.full(len(ts), 10.0), activation_minutes=15, block_hours=4, min_bid_MW=0)
    result = dispatch(ts, p, a, step_minutes=60, fcr=market)
    months = monthly_figures(result, a, step_minutes=60, fcr=market)
    assert result.revenue_eur["fcr"] > 0
    assert sum(m.fcr_eur for m in months) == pytest.approx(result.revenue_eur["fcr"], rel=1e-9)
    page = dispatch_report_html(result, a, step_minutes=60, fcr=market)
    assert "FCR EUR" in page


def test_report_is_one_self_contained_page(tmp_path):
    ts, p = prices()
    a = asset()
    result = dispatch(ts, p, a, step_minutes=60, horizon=Horizon.ROLLING)
    path = write_report(tmp_path / "report.html", result, a, step_minutes=60, title="Test <dispatch>")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 4
    for chart in ("chart-price", "chart-soc", "chart-revenue", "chart-cycles"):
        assert f'id="{chart}"' in page
    assert "<script" not in page and not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched
    assert "Test &lt;dispatch&gt;" in page  # text is escaped
    cells = re.findall(r'<td class="arbitrage">([-0-9.]+)</td>', page)
    assert sum(float(c) for c in cells) == pytest.approx(result.revenue_eur["arbitrage"], abs=0.01)


def test_dispatch_command_writes_the_report(tmp_path):
    ts, p = prices()
    csv = tmp_path / "prices.csv"
    csv.write_text(
        "datetime_utc,price_eur_per_mwh\n"
        + "".join(f"{str(t.astype('datetime64[s]')).replace('T', ' ')}+00:00,{v}\n" for t, v in zip(ts, p, strict=True))
    )
    report = tmp_path / "report.html"
    args = ["energy", "dispatch", "--prices", str(csv), "--power-kW", "500", "--energy-kWh", "1000"]
    args += ["--efficiency", "0.9", "--horizon", "rolling", "--report", str(report), "--json"]
    env = {**os.environ, "BATTERYLOOP_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "batteryloop.cli", *args], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert '"report"' in proc.stdout
    page = report.read_text(encoding="utf-8")
    assert page.count("<svg") == 4 and "Jan 2024" in page and "Feb 2024" in page


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_report_renders_with_its_charts_in_a_browser(tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium found (apt-get install chromium) to render the report")
    from PIL import Image

    ts, p = prices(40)
    a = asset()
    result = dispatch(ts, p, a, step_minutes=60, horizon=Horizon.ROLLING)
    page = write_report(tmp_path / "report.html", result, a, step_minutes=60)
    shot = tmp_path / "report.png"
    try:
        from playwright.sync_api import sync_playwright  # type: ignore[import-not-found]

        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=browser, args=["--no-sandbox"])
            tab = b.new_page(viewport={"width": 1000, "height": 1400})
            tab.goto(page.as_uri())
            tab.screenshot(path=str(shot), full_page=True)
            b.close()
    except ImportError:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        cmd += ["--window-size=1000,1400", f"--screenshot={shot}", page.as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB")).astype(np.int64)
    assert image.shape[0] >= 1000 and image.shape[1] >= 900

    def pixels(rgb: tuple[int, int, int]) -> int:
        return int(np.sum(np.all(np.abs(image - np.array(rgb)) <= 8, axis=-1)))

    assert pixels((0x1F, 0x77, 0xB4)) > 5000  # the revenue bars
    assert pixels((0x94, 0x67, 0xBD)) > 5000  # the cycle bars
    assert pixels((0x2C, 0xA0, 0x2C)) > 200  # the state-of-charge line

"""The Typer apps of the command groups, shared by the modules that add commands to them."""

from __future__ import annotations

import typer

telemetry_app = typer.Typer(
    help="Battery data: ingest BMS and cycler files into the telemetry store.", no_args_is_help=True
)
health_app = typer.Typer(
    help="State of health and expected lifetime (Annex VII) from battery data.", no_args_is_help=True
)
energy_app = typer.Typer(
    help="Energy services: dispatch a battery (day-ahead arbitrage, behind the meter, FCR).", no_args_is_help=True
)
circularity_app = typer.Typer(
    help="Circularity: collection rates, producer-responsibility register and reports, the material-flow model.",
    no_args_is_help=True,
)
sourcing_app = typer.Typer(
    help="Sourcing: due-diligence screening and report (Art. 47-52, Annex X), carbon footprint.",
    no_args_is_help=True,
)
safety_app = typer.Typer(
    help="Safety: ADR transport, PGS 37-2 storage checks, hazard flags from battery data, the incident register.",
    no_args_is_help=True,
)

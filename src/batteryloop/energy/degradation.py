"""Degradation in the dispatch objective: a throughput cost, and a convex piecewise-linear cycle-depth cost.

Both are costs per MWh of energy drawn from the cells (the battery side of the discharge efficiency), so that one full
equivalent cycle, ``energy_kWh`` drawn from the cells, costs ``cost_eur_per_MWh * energy_kWh / 1000``.

References
----------
B. Xu, J. Zhao, T. Zheng, E. Litvinov, D. S. Kirschen, "Factoring the Cycle Aging Cost of Batteries Participating in
Electricity Markets", IEEE Transactions on Power Systems 33(2), 2018, 2248-2259. DOI 10.1109/TPWRS.2017.2733339
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from batteryloop.errors import ValidationError


def throughput_cost_eur_per_MWh(
    residual_value_eur: float,
    remaining_full_cycles: float,
    energy_kWh: float,
    *,
    end_of_life_value_eur: float = 0.0,
) -> float:
    """Cost of wear per MWh drawn from the cells.

    .. math:: c = \\frac{V_\\mathrm{residual} - V_\\mathrm{end}}{N_\\mathrm{FEC,remaining} \\cdot E / 1000}

    The value the battery still has to lose (its residual value less what it is worth at the end of this life, e.g.
    its recycling value) spread evenly over the energy it can still deliver: ``remaining_full_cycles`` times the
    ``energy_kWh`` of one full equivalent cycle. The energy of a cycle is the present (remaining) capacity; a cost
    per cycle that falls with capacity is not modelled.

    Parameters
    ----------
    residual_value_eur : float
        Value of the battery today. [EUR]
    remaining_full_cycles : float
        Full equivalent cycles left until the end of this life (e.g. from the health package's lifetime
        prediction, or the warranty). [-]
    energy_kWh : float
        Energy of one full equivalent cycle (the remaining capacity). [kWh]
    end_of_life_value_eur : float
        Value left at the end of this life (second-life or recycling value). [EUR]

    Returns
    -------
    float
        Cost per MWh drawn from the cells. [EUR/MWh]
    """
    for name, value in (
        ("remaining_full_cycles", remaining_full_cycles),
        ("energy_kWh", energy_kWh),
    ):
        if not (math.isfinite(value) and value > 0):
            raise ValidationError(f"{name} must be positive, got {value!r}", field=name, expected="a number > 0")
    loss = residual_value_eur - end_of_life_value_eur
    if not math.isfinite(loss) or loss < 0:
        raise ValidationError(
            "the residual value is below the end-of-life value",
            field="residual_value_eur",
            expected=f"at least end_of_life_value_eur ({end_of_life_value_eur})",
        )
    return loss / (remaining_full_cycles * energy_kWh / 1000.0)


class RemainingCycles(Protocol):
    """What the health package's ``LifetimePrediction`` offers: full cycles left until the end-of-life threshold."""

    @property
    def remaining_cycles(self) -> float | None: ...


def throughput_cost_from_lifetime(
    prediction: RemainingCycles,
    *,
    residual_value_eur: float,
    energy_kWh: float,
    end_of_life_value_eur: float = 0.0,
) -> float:
    """:func:`throughput_cost_eur_per_MWh` with the remaining cycles of a lifetime prediction
    (``batteryloop.health.lifetime.predict_lifetime``: cycles from the last point of the history to the capacity
    threshold, e.g. 80 % or a passport's exhaustion threshold). The cycles of a cycler or BMS history are taken as full
    equivalent cycles; ``energy_kWh`` is the remaining capacity (e.g. the passport's, or the last measured one times the
    nominal voltage). [EUR/MWh]
    """
    remaining = prediction.remaining_cycles
    if remaining is None or remaining <= 0:
        raise ValidationError(
            "the lifetime prediction gives no remaining cycles",
            field="remaining_cycles",
            expected="a prediction on a cycle axis whose threshold lies ahead and within the horizon",
        )
    return throughput_cost_eur_per_MWh(
        residual_value_eur, remaining, energy_kWh, end_of_life_value_eur=end_of_life_value_eur
    )


def cycle_depth_segment_costs(
    depth_stress: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    segments: int,
    cell_cost_eur_per_MWh: float,
) -> NDArray[np.float64]:
    """Marginal cost per MWh drawn from each of ``segments`` equal state-of-charge segments (Xu et al. 2018, eq. 12).

    ``depth_stress(depth)`` is the share of life one cycle of depth ``depth`` (0..1) uses, normalised so that
    ``depth_stress(1) == 1`` (one full cycle uses one full cycle's worth of life). Segment ``j`` (1 = shallowest, the
    top of the window) costs

    .. math:: c_j = c_\\mathrm{cell} \\cdot J \\cdot (\\Phi(j/J) - \\Phi((j-1)/J))

    With a convex ``depth_stress`` the costs rise with depth, so the LP draws from the top segments first and the
    piecewise-linear cost is exact at segment boundaries. The approximation: a cycle's depth is measured from the top
    of the window (as if every cycle started full), and energy is counted per half cycle on discharge only.
    """
    if segments < 1:
        raise ValidationError("at least one segment is needed", field="segments", expected="an integer >= 1")
    edges = np.linspace(0.0, 1.0, segments + 1)
    phi = np.asarray(depth_stress(edges), dtype=np.float64)
    if abs(phi[-1] - 1.0) > 1e-9 or abs(phi[0]) > 1e-12:
        raise ValidationError(
            "the depth-stress function is not normalised", field="depth_stress", expected="phi(0) = 0 and phi(1) = 1"
        )
    costs = cell_cost_eur_per_MWh * segments * np.diff(phi)
    if np.any(np.diff(costs) < -1e-12):
        raise ValidationError(
            "the depth-stress function is not convex (segment costs fall with depth)",
            field="depth_stress",
            expected="a convex function",
        )
    return costs


def power_law_stress(exponent: float) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """``phi(d) = d ** exponent``: the usual cycle-depth stress (exponent about 1.5 to 2 for lithium-ion)."""

    def phi(depth: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(depth, dtype=np.float64) ** exponent

    return phi

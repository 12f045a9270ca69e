"""Open protocols that carry the energy package's plans to devices (see docs/protocols.md):

- OCPP 2.0.1 for charging hubs: the CSMS (:mod:`~batteryloop.protocols.ocpp_csms`), a charge-point simulator
  (:mod:`~batteryloop.protocols.ocpp_sim`) and the hub planner (:mod:`~batteryloop.protocols.hub`);
- S2 (EN 50491-12-2) for batteries: the Customer Energy Manager (:mod:`~batteryloop.protocols.s2_cem`), a battery's
  resource manager (:mod:`~batteryloop.protocols.s2_rm`) and the FRBC description of a battery
  (:mod:`~batteryloop.protocols.s2_battery`).
"""

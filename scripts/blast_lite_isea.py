"""NREL BLAST-Lite's Sanyo UR18650E model at the ISEA RWTH test conditions: the 80 % point it predicts.

Offline only, in a virtual environment of its own: ``blast-lite`` pins numpy < 2 and pulls h5pyd, nrel-rex and geopy,
so it is not a dependency of batteryloop. Used to judge whether its models would serve as priors for
``batteryloop.health.lifetime`` (docs/validation/lifetime.md: they do not, for the threshold; see the output)::

    python3 -m venv /tmp/blast && /tmp/blast/bin/pip install blast-lite
    /tmp/blast/bin/python scripts/blast_lite_isea.py

Model: ``Nmc111_Gr_Sanyo2Ah_Battery``, Schmalstieg J. et al., A holistic aging model for Li(NiMnCo)O2 based 18650
lithium-ion batteries, J. Power Sources 257 (2014) 325-334, doi:10.1016/j.jpowsour.2014.02.012 (the same cell type
as the ISEA RWTH data set; its docstring notes that the knees seen at high depth of discharge were not modelled).
Duty: the ISEA protocol as ../shared/data/battery-aging/isea_rwth/SOURCE.md states it: about 56 % depth of
discharge around mid state of charge, about 3.1 equivalent full cycles a day, 28.5 °C.
"""

from importlib.metadata import version

import numpy as np
from blast import models  # type: ignore[import-not-found]

cell = models.Nmc111_Gr_Sanyo2Ah_Battery()
t = np.arange(0, 86400 + 1, 60.0)  # one day, repeated by the simulation
period = 86400 / 5.5  # 5.5 cycles of 56 % depth a day: about 3.1 equivalent full cycles a day
phase = (t % period) / period
soc = 0.22 + 0.56 * (1 - np.abs(2 * phase - 1))
cell.simulate_battery_life({"Time_s": t, "SOC": soc, "Temperature_C": np.full_like(t, 28.5)}, threshold_time=0.6)
efc = np.asarray(cell.stressors["efc"])
q = np.asarray(cell.outputs["q"])
print(f"blast-lite {version('blast-lite')}, Nmc111_Gr_Sanyo2Ah_Battery at the ISEA duty")
for e in (50, 100, 200, 300, 400, 500):
    j = int(np.searchsorted(efc, e))
    print(f"  EFC {e}: relative capacity {q[j]:.3f}")
below = np.nonzero(q < 0.8)[0]
print("  EFC at 80 %:", f"{efc[below[0]]:.0f}" if len(below) else "not reached")

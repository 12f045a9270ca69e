#!/usr/bin/env bash
# Creates the benchmark environments for the dispatch peers, outside batteryloop's own dependencies:
#   $PEERS/pypsa   PyPSA (brings linopy) + highspy
#   $PEERS/emhass  EMHASS (CVXPY, solves with HiGHS) + highspy
# One venv per peer because their pins conflict: pypsa 1.x requires pandas >= 3.0 while emhass pins pandas 2.x.
# Usage: bench/peers/setup.sh [PEERS_DIR]   (default /tmp/dispatch-peers; PYTHON=python3.x chooses the interpreter)
set -u
PEERS="${1:-/tmp/dispatch-peers}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$PEERS"
status=0
for peer in pypsa emhass; do
    venv="$PEERS/$peer"
    if [ ! -x "$venv/bin/python" ]; then
        "$PYTHON" -m venv "$venv" || { status=1; continue; }
        "$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1
    fi
    # highspy explicitly: both peers solve with HiGHS, so the comparison is of the modelling layers, not the solvers
    if "$venv/bin/python" -m pip install --quiet "$peer" highspy >"$PEERS/install-$peer.log" 2>&1; then
        echo "installed $peer in $venv"
    else
        # the reason (e.g. pins that conflict with this Python) stays in the log and is reported by the benchmark
        echo "could not install $peer (see $PEERS/install-$peer.log):"
        tail -n 5 "$PEERS/install-$peer.log"
        status=1
    fi
    "$venv/bin/python" - "$peer" <<'PY'
import sys
from importlib import metadata

for name in (sys.argv[1], "linopy", "cvxpy", "highspy", "pandas"):
    try:
        print(f"  {name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
        pass
PY
done
exit $status

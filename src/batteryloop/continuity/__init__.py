"""Continuity of the registry (Art. 78 of Regulation (EU) 2023/1542: the passport outlives its operator).

:mod:`batteryloop.continuity.archive` defines the signed backup file, :mod:`~batteryloop.continuity.backup` writes a
consistent snapshot of the registry into one, :mod:`~batteryloop.continuity.restore` loads one into an empty database
and :mod:`~batteryloop.continuity.verify` checks the passports' hash chains afterwards.
"""

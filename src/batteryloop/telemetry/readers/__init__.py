"""Readers turn a file into the canonical frame of :mod:`batteryloop.telemetry.schema`."""

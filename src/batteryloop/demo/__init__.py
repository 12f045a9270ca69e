"""The demo landscape that ``make demo`` serves (see :mod:`batteryloop.demo.landscape`)."""

from batteryloop.demo.landscape import DemoSummary, build_demo

__all__ = ["DemoSummary", "build_demo"]

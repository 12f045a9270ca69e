"""Energy services: dispatch of a battery against day-ahead prices, behind the meter and on the FCR market.

``asset`` (the battery), ``prices`` (price and profile files), ``dispatch`` (the LP on HiGHS), ``degradation`` (wear
costs), ``fcr`` (the FCR product rules as cited data).
"""

"""Escrow: a passport mirrored to a second batteryloop registry acting as backup service provider (Art. 78 of
Regulation (EU) 2023/1542: the passport remains available when its economic operator ceases to exist).

``rules``    the mirror's rules as data (``escrow_rules.csv``, each row with its citation)
``models``   the tables on the mirror: escrow agreements and mirrored passports (the signed bundles)
``service``  on the mirror: agree, receive a deposit (verify, extend-only), list holdings, serve a mirrored passport
``versions`` on the mirror: a mirrored passport's versions, dynamic-value histories and QR code, from its bundle
``push``     on the origin: send the bundles the mirror does not hold yet
"""

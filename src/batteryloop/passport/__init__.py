"""The battery passport registry: the spine of batteryloop (Regulation (EU) 2023/1542 Art. 77-78, Annex XIII)."""

"""Supply-chain sourcing: due diligence of battery raw materials (Reg. (EU) 2023/1542 Art. 47-52, Annex X)."""

"""State of health and expected lifetime (Annex VII of Regulation (EU) 2023/1542), as pure functions."""

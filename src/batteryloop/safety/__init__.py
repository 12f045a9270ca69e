"""Safety of batteries in transport (ADR classification) and storage (PGS 37-2 checks); rules as data."""

"""Battery data in: the canonical BMS format, cycler exports, quality checks and the partitioned Parquet store."""

"""Settings, read from the environment (prefix ``BATTERYLOOP_``) with pydantic-settings.

===============================  =============================================================================
``BATTERYLOOP_DATA_DIR``         where the embedded database and other local state live (default ``./var``)
``BATTERYLOOP_DATABASE_URL``     SQLAlchemy URL; default a SQLite file in the data directory. PostgreSQL:
                                 ``postgresql+psycopg://user@host:5432/db``
``BATTERYLOOP_PUBLIC_BASE_URL``  the address QR codes and GS1 Digital Links resolve to
``BATTERYLOOP_KEY_ENCRYPTION_KEY``  optional Fernet key that wraps operators' Ed25519 private keys at rest
``BATTERYLOOP_WORKER_THREADS``   threads per server process for database work, and connections in its pool (16)
===============================  =============================================================================
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BATTERYLOOP_", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="Directory for the embedded database and local state.")
    database_url: str | None = Field(default=None, description="SQLAlchemy database URL.")
    public_base_url: str = Field(default="http://127.0.0.1:8000", description="Base URL the QR codes resolve to.")
    key_encryption_key: str | None = Field(default=None, description="Fernet key wrapping private keys at rest.")
    sql_echo: bool = False
    worker_threads: int = Field(
        default=16, ge=1, le=256, description="Threads that serve requests' database work; the pool holds as many."
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'batteryloop.db').as_posix()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

"""Settings, read from the environment (prefix ``BATTERYLOOP_``) with pydantic-settings.

===============================  =============================================================================
``BATTERYLOOP_DATA_DIR``         where the embedded database and other local state live (default ``./var``)
``BATTERYLOOP_DATABASE_URL``     SQLAlchemy URL; default a SQLite file in the data directory. PostgreSQL:
                                 ``postgresql+psycopg://user@host:5432/db``
``BATTERYLOOP_PUBLIC_BASE_URL``  the address QR codes and GS1 Digital Links resolve to
``BATTERYLOOP_KEY_ENCRYPTION_KEY``  optional Fernet key that wraps operators' Ed25519 private keys at rest
``BATTERYLOOP_WORKER_THREADS``   threads per server process for database work, and connections in its pool (16)
``BATTERYLOOP_AUTH_FAILURE_LIMIT``     failed authentications (API token, sign-in form) one client address may make
                                 within the window before it is answered 429 with Retry-After (10)
``BATTERYLOOP_AUTH_FAILURE_WINDOW_S``  length of that sliding window in seconds (300); see ``batteryloop.api.security``
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
    auth_failure_limit: int = Field(
        default=10, ge=1, le=10_000, description="Failed authentications per client address within the window."
    )
    auth_failure_window_s: float = Field(
        default=300.0, gt=0, le=86_400, description="Sliding window [s] over which failed authentications count."
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'batteryloop.db').as_posix()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

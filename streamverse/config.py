"""Settings read from STREAMVERSE_* environment variables, so one build serves every deployment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything that differs between a laptop, a notebook and a server.

    Each field can be set as an environment variable: ``data_dir`` is ``STREAMVERSE_DATA_DIR``.
    """

    model_config = SettingsConfigDict(env_prefix="STREAMVERSE_", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where the database and uploads live.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL; defaults to an SQLite file in data_dir.",
    )
    broker_url: str = Field("memory://", description="memory:// (one process) or redis://...")
    history_size: int = Field(1000, ge=1, description="Events kept per broker topic for resume.")
    snapshot_history_size: int = Field(
        50,
        ge=1,
        description="Events kept on topics whose events are full snapshots (analytics, stats):"
        " a longer gap gets a reset with a fresh snapshot, which is just as good.",
    )
    subscriber_queue_size: int = Field(
        1000, ge=1, description="Events a subscriber may lag behind before it is dropped."
    )
    recent_comments: int = Field(50, ge=0, le=1000, description="Comments replayed on connect.")
    sse_keepalive_seconds: float = Field(15.0, gt=0, description="Comment line sent when idle.")
    sse_retry_ms: int = Field(2000, ge=0, description="Reconnection delay hinted to clients.")
    analytics_interval_seconds: float = Field(
        0.25, gt=0, description="Shortest gap between two analytics events (coalescing)."
    )
    snapshot_interval_seconds: float = Field(
        10.0, gt=0, description="Periodic full snapshot on analytics streams even when idle."
    )

    def resolved_database_url(self) -> str:
        """The configured URL, or an SQLite file inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'streamverse.db').as_posix()}"

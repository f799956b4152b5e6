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

    # Videos (streamverse/videos): playback, HLS packaging
    media_page_size: int = Field(20, ge=1, le=200, description="GET /videos page size default.")
    media_hls_segment_seconds: float = Field(
        4.0, gt=0, le=60, description="Target duration of one HLS segment."
    )
    media_hls_max_height: int = Field(
        720, ge=16, le=4320, description="HLS video is scaled down to at most this height."
    )
    media_packaging_concurrency: int = Field(
        1, ge=1, le=64, description="HLS packagings run at once (each uses a CPU core)."
    )
    media_packaging_attempts: int = Field(
        3,
        ge=1,
        description="Packaging runs a video gets: one interrupted by a restart is re-run at "
        "startup until this many have started, then marked failed.",
    )
    # Logs (streamverse/logs): chunked log processing
    logs_progress_lines: int = Field(
        10_000, ge=1, description="A log job's progress event is sent every this many lines."
    )
    logs_top_errors: int = Field(10, ge=1, le=100, description="Error messages in a summary.")
    logs_max_line_bytes: int = Field(
        8192,
        ge=64,
        le=1 << 20,
        description="Longer log lines are cut to this (memory stays bounded without newlines).",
    )
    # Uploads (streamverse/uploads): multipart and tus, validation, progress
    upload_max_bytes: int = Field(
        2 * 1024**3, ge=1, description="Largest file accepted; a bigger one gets 413 at once."
    )
    upload_progress_interval_seconds: float = Field(
        0.25, gt=0, description="Shortest gap between two progress events of one upload."
    )
    upload_idle_timeout_seconds: float = Field(
        30.0, gt=0, description="An upload body that sends nothing this long is cut."
    )
    upload_lock_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a tus request waits for another one on its upload."
    )
    upload_expiry_seconds: float = Field(
        86400.0,
        gt=0,
        description="An unfinished tus upload idle this long is removed (Upload-Expires).",
    )
    # Chat (streamverse/chat): the WebSocket room, its limits and moderation
    chat_history: int = Field(50, ge=0, le=500, description="Chat messages sent on join.")
    chat_max_length: int = Field(500, ge=1, le=5000, description="Longest chat message (chars).")
    chat_max_frame_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest incoming WebSocket message; bigger closes 1009."
    )
    chat_auth_timeout_seconds: float = Field(
        5.0, gt=0, description="Send {type: auth} within this after connecting, or only read."
    )
    chat_rate_messages: int = Field(
        20, ge=1, description="Messages a viewer may send per chat_rate_seconds (token bucket)."
    )
    chat_rate_messages_moderator: int = Field(
        100, ge=1, description="The same for the stream's moderators and its owner."
    )
    chat_rate_seconds: float = Field(30.0, gt=0, description="The rate limits' window.")
    chat_commands_per_second: float = Field(
        10.0, gt=0, description="Any incoming message, per connection (twice that in a burst)."
    )
    chat_max_connections_per_user: int = Field(
        5, ge=0, description="Open chat connections one user may have (0: no limit)."
    )
    chat_max_connections_per_ip: int = Field(
        50, ge=0, description="Open chat connections from one address (0: no limit)."
    )
    chat_allowed_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed besides the page's own ('*': any), as JSON.",
    )
    chat_send_timeout_seconds: float = Field(
        10.0, gt=0, description="A client that takes no message for this long is cut (3008)."
    )
    chat_presence_interval_seconds: float = Field(
        1.0, gt=0, description="Shortest gap between two presence events of one room."
    )
    chat_coalesce_seconds: float = Field(
        0.01,
        ge=0,
        le=1,
        description="While a room is busy, its messages reach each client at most once per"
        " this window, all that arrived meanwhile in one frame; a quiet room's go out at once"
        " (0: each at once; see broker/coalesce.py).",
    )

    ws_ping_interval_seconds: float = Field(
        20.0,
        gt=0,
        description="Every WebSocket connection is pinged this often, so a dead one"
        " (a client gone without closing) does not linger.",
    )
    ws_ping_timeout_seconds: float = Field(
        20.0, gt=0, description="A connection whose pong is this late is closed (1011)."
    )

    def resolved_database_url(self) -> str:
        """The configured URL, or an SQLite file inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'streamverse.db').as_posix()}"

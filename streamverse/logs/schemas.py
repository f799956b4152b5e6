"""Log jobs on the wire: one processing of one log, its live numbers and its summary."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from ..schemas import Schema, UTCDateTime


class LogJobState(StrEnum):
    waiting = "waiting"
    """Created; its log has not started to arrive."""
    processing = "processing"
    done = "done"
    failed = "failed"


class LevelCounts(Schema):
    ERROR: int = Field(0, description="ERROR, CRITICAL and FATAL lines.")
    WARNING: int = Field(0, description="WARNING and WARN lines.")
    INFO: int = 0
    other: int = Field(0, description="DEBUG, TRACE and lines without a level.")


class ErrorCount(Schema):
    message: str = Field(examples=["connection refused"])
    count: int


class LogJob(Schema):
    id: str
    owner_id: str
    state: LogJobState
    lines: int = Field(0, description="Lines counted so far.")
    bytes: int = Field(0, description="Bytes received so far.")
    levels: LevelCounts = Field(default_factory=LevelCounts)
    top_errors: list[ErrorCount] = Field(
        default_factory=list, description="The most frequent error messages, most first."
    )
    top_errors_exact: bool = Field(
        True,
        description="False when there were too many distinct messages to count each one: "
        "counts are then lower bounds (Misra-Gries), and no message more frequent than "
        "1/(10 x top) of the errors is missing.",
    )
    truncated_lines: int = Field(0, description="Lines cut to logs_max_line_bytes.")
    reason: str | None = Field(None, description="Why it failed (state failed).")
    created_at: UTCDateTime
    finished_at: UTCDateTime | None = None
    upload_url: str = Field(description="POST the log here as the raw request body.")
    progress_url: str = Field(description="SSE: progress events, then summary or failed.")

"""The uploads table: one row per upload, from its id (before any byte) to its media.

A tus upload's ``offset`` is what resuming relies on, so it is committed after every
PATCH (the partial file may hold more, unverified bytes after a crash: the next PATCH cuts
the file back to ``offset`` first). Live byte counts of a body being received are kept in
memory (``progress``) and published, not written here per chunk.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db.base import Base, utcnow


class UploadRow(Base):
    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    protocol: Mapped[str] = mapped_column(String(16))
    """``multipart`` or ``tus``."""
    state: Mapped[str] = mapped_column(String(16), index=True)
    length: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """Bytes expected: tus Upload-Length, or the multipart body's size when declared."""
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    """Bytes received and kept (tus: the resume offset)."""
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    original_name: Mapped[str] = mapped_column(String(255), default="")
    metadata_header: Mapped[str | None] = mapped_column(Text, nullable=True)
    """tus ``Upload-Metadata`` exactly as sent (checked to be safe to send back)."""
    kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """What the first bytes are, once enough have arrived."""
    media_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    terminated: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    """The last time bytes arrived (tus expiry counts from here)."""

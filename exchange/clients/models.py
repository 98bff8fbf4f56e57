"""Client table: the HETU only encrypted, with a keyed hash for look-up."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from adapters.db import Base, UTCDateTime, utcnow


class Client(Base):
    __tablename__ = "client"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    hetu_lookup: Mapped[str] = mapped_column(String(64), unique=True)
    hetu_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Client table: the HETU only encrypted, with a keyed hash for look-up; the name (when one
was given) only inside an envelope, like packet content."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from adapters.db import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from exchange.consents.models import Consent


class Client(Base):
    __tablename__ = "client"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    hetu_lookup: Mapped[str] = mapped_column(String(64), unique=True)
    hetu_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The name under its own data key (wrapped by a versioned KEK, re-wrapped by
    # `exchange keys rewrap`); all three NULL while no name was given.
    name_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    name_wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    name_kek_version: Mapped[int | None] = mapped_column(Integer)
    # The client's consent records, never loaded behind the caller's back: a look-up that
    # decides on them right after loads them with the client, in one statement.
    consents: Mapped[list[Consent]] = relationship(viewonly=True, lazy="raise")

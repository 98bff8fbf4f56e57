"""Keyset (cursor) pagination, newest first, over a (timestamp, id) pair of columns.

The cursor is opaque to callers: the last row's timestamp and id, base64url.
Counting nothing and skipping nothing, a page never reveals rows the caller
cannot see, and stays fast however deep the caller pages.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from consent.errors import FieldError, Invalid

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


def encode_cursor(moment: dt.datetime, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{moment.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    """The position a cursor names; 422 on anything that is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, row_id = raw.split("|", 1)
        return dt.datetime.fromisoformat(moment), row_id
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid(
            "The cursor is not valid.", errors=[FieldError("cursor", "Not a cursor.")]
        ) from exc


def newest_first(
    session: Session,
    query: Select[Any],
    moment: InstrumentedAttribute[dt.datetime],
    row_id: InstrumentedAttribute[str],
    limit: int,
    cursor: str | None,
) -> Page[Any]:
    """One page of ``query`` ordered by (moment, id) descending, after ``cursor``."""
    if cursor:
        at, last_id = decode_cursor(cursor)
        query = query.where(or_(moment < at, and_(moment == at, row_id < last_id)))
    rows = list(
        session.execute(query.order_by(moment.desc(), row_id.desc()).limit(limit + 1)).scalars()
    )
    if len(rows) > limit:
        last = rows[limit - 1]
        return Page(
            rows[:limit], encode_cursor(getattr(last, moment.key), getattr(last, row_id.key))
        )
    return Page(rows, None)

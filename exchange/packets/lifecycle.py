"""The packet lifecycle as pure rules (no Flask, no SQL).

``sent → delivered`` (first read by the recipient) ``→ accepted | declined``;
before acceptance also ``withdrawn`` (by the sender), ``expired`` (past
``respond_by``) or ``blocked`` (legal basis gone). ``expired`` is computed from
``respond_by`` whenever the status is asked, so it holds without a worker.
"""

from __future__ import annotations

import datetime as dt

from consent.vocabulary import PACKET_STATUSES

SENT, DELIVERED, ACCEPTED, DECLINED, WITHDRAWN, EXPIRED, BLOCKED = PACKET_STATUSES
OPEN = (SENT, DELIVERED)


class PacketTransitionError(Exception):
    """The packet's status does not allow the change; ``code`` is stable."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def status_at(stored: str, respond_by: dt.date | None, today: dt.date) -> str:
    """The status in force on ``today``: an open packet past its deadline is expired."""
    if stored in OPEN and respond_by is not None and today > respond_by:
        return EXPIRED
    return stored


def require_open(stored: str, respond_by: dt.date | None, today: dt.date, action: str) -> None:
    """Raise unless the packet can still be accepted, declined, withdrawn or blocked."""
    current = status_at(stored, respond_by, today)
    if current not in OPEN:
        raise PacketTransitionError(
            f"Cannot {action} a packet that is {current}.", code=f"packet_{current}"
        )

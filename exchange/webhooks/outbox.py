"""Writing notifications: in the business transaction, so a change and its notification
commit or roll back together (the transactional outbox).

A notification carries ids and an event type only, never client data: the receiver
fetches what it may see through the API, where consent and audit apply.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.db import utcnow
from consent.vocabulary import WEBHOOK_EVENT_TYPES
from exchange.registry.cache import RegistryView
from exchange.registry.models import Organization
from exchange.webhooks.models import PENDING, WebhookDelivery


def notify(
    session: Session,
    organizations: Iterable[str],
    event_type: str,
    data: dict[str, Any],
    *,
    registry: RegistryView | None = None,
) -> int:
    """Queue ``event_type`` for each of ``organizations`` that has a webhook; the count. With
    ``registry``, who has a webhook is read from its snapshots instead of the rows."""
    assert event_type in WEBHOOK_EVENT_TYPES, event_type  # noqa: S101  # a programming error
    wanted = sorted(set(organizations))
    if not wanted:
        return 0
    subscribed: Iterable[str]
    if registry is not None:
        entries = [registry.organization(organization) for organization in wanted]
        subscribed = [entry.id for entry in entries if entry is not None and entry.webhook_url]
    else:
        subscribed = session.execute(
            select(Organization.id).where(
                Organization.id.in_(wanted), Organization.webhook_url.is_not(None)
            )
        ).scalars()
    now = utcnow()
    count = 0
    for organization in subscribed:
        session.add(
            WebhookDelivery(
                id=str(uuid.uuid4()),
                organization_id=organization,
                event_type=event_type,
                data=data,
                created_at=now,
                window_started_at=now,
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
            )
        )
        count += 1
    return count

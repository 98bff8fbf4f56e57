"""Imports every table module so that the metadata (and Alembic) sees the whole schema."""

from exchange.audit.models import AuditEvent, AuditHead
from exchange.clients.models import Client
from exchange.consents.models import Consent, ConsentEvent, ConsentParty
from exchange.registry.models import OAuthClient, Organization, User

__all__ = [
    "AuditEvent",
    "AuditHead",
    "Client",
    "Consent",
    "ConsentEvent",
    "ConsentParty",
    "OAuthClient",
    "Organization",
    "User",
]

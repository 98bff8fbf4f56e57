"""Imports every table module so that the metadata (and Alembic) sees the whole schema."""

from exchange.audit.models import AuditEvent, AuditHead
from exchange.clients.models import Client
from exchange.registry.models import OAuthClient, Organization, User

__all__ = ["AuditEvent", "AuditHead", "Client", "OAuthClient", "Organization", "User"]

"""Imports every table module so that the metadata (and Alembic) sees the whole schema."""

from exchange.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from exchange.clients.models import Client
from exchange.consents.models import Consent, ConsentEvent, ConsentParty
from exchange.continuity.models import Lead, LeadHistory
from exchange.packets.models import IdempotencyRecord, Packet, PacketEvent
from exchange.periods.models import ServicePeriod
from exchange.registry.models import OAuthClient, Organization, RegistryVersion, User
from exchange.webhooks.models import WebhookDelivery

__all__ = [
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "Client",
    "Consent",
    "ConsentEvent",
    "ConsentParty",
    "IdempotencyRecord",
    "Lead",
    "LeadHistory",
    "OAuthClient",
    "Organization",
    "Packet",
    "PacketEvent",
    "RegistryVersion",
    "ServicePeriod",
    "User",
    "WebhookDelivery",
]

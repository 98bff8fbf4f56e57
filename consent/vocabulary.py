"""The closed vocabularies of SPEC section 2 and of the API's enumerations; nothing else passes."""

from __future__ import annotations

ORGANIZATION_KINDS = (
    "social_services",
    "employment_services",
    "kela",
    "provider",
    "health_care",
    "education",
    "other",
    "supervisor",
)

# The service operator's or a supervisory authority's audit unit: it only reads the audit log
# (all of it), so its systems hold only these scopes and its people only these roles, and it
# is never a party to an exchange (packet sender or recipient, consent source or recipient).
SUPERVISOR = "supervisor"
SUPERVISOR_SCOPES = ("audit:read",)
SUPERVISOR_ROLES = ("auditor",)

CATEGORIES = ("assessment", "plan", "contact_persons", "service_period", "benefits", "health")

PURPOSES = (
    "service_planning",
    "employment_services",
    "rehabilitation",
    "benefit_processing",
    "service_provision",
)

# reporter: sees the outcome report across organizations (aggregates only, never a person).
ROLES = ("social_worker", "staff", "auditor", "admin", "reporter")

SCOPES = (
    "consents:read",
    "consents:write",
    "consents:approve",
    "packets:send",
    "packets:receive",
    "clients:manage",
    "audit:read",
)

# A packet's status; "expired" is never stored, it follows from the packet's respond_by.
# The packet lifecycle unpacks this into names by position, so the order matters.
PACKET_STATUSES = ("sent", "delivered", "accepted", "declined", "withdrawn", "expired", "blocked")

TRANSFER = "transfer"
PACKET_KINDS = (TRANSFER, "information")

# How the receiver met the client for the first time after an escorted transfer.
FIRST_CONTACT_MODES = ("meeting", "phone", "video", "home_visit")

# Where a client went when a service period ended: the categories of the regional survey.
PERIOD_OUTCOMES = (
    "employed",
    "subsidised_employment",
    "studies",
    "unemployed_jobseeker",
    "employment_services_measure",
    "continued_same_service",
    "social_health_services",
    "other_livelihood",
    "moved_away",
    "unknown",
)

# The continuation path after a service period: what happens next, and who owns it.
NEXT_STEPS = (
    "employment",
    "studies",
    "employment_services",
    "same_service",
    "other_service",
    "social_health_services",
    "benefits_only",
    "none_needed",
)

AUDIT_OUTCOMES = ("allowed", "denied")

# Unpacked into names by position, like the packet statuses.
WEBHOOK_DELIVERY_STATUSES = ("pending", "delivered", "dead")

WEBHOOK_EVENT_TYPES = (
    "packet.received",
    "packet.accepted",
    "packet.declined",
    "packet.expired",
    "packet.withdrawn",
    "packet.blocked",
    "packet.first_contact",
    "packet.first_contact_missing",
    "consent.withdrawn",
    "leads.moved",
    "audit.checkpoint",
)

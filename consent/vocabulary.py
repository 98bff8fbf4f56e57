"""The closed vocabularies of SPEC section 2; the API rejects anything else."""

from __future__ import annotations

ORGANIZATION_KINDS = (
    "social_services",
    "employment_services",
    "kela",
    "provider",
    "health_care",
    "education",
    "other",
)

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

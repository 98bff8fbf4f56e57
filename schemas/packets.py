"""Wire format of packets (SPEC section 4, "Packets") and of the continuity endpoints."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent.vocabulary import (
    FIRST_CONTACT_MODES,
    PACKET_KINDS,
    PACKET_STATUSES,
    PURPOSES,
    TRANSFER,
)
from schemas import StrictSchema
from schemas.consents import ORG_ID, ClientRef
from schemas.periods import PeriodOut
from schemas.sections import ACTION_ID, MAX_ACTIONS, SYNTHESIS_MAX_LENGTH, strict_text

USERNAME = validate.Regexp(r"^[a-z0-9][a-z0-9._-]{1,127}$", error="Not a username.")


class FromParty(StrictSchema):
    organization = fields.String(required=True, validate=ORG_ID)
    worker = fields.String(required=True, validate=USERNAME)


class ToParty(StrictSchema):
    organization = fields.String(required=True, validate=ORG_ID)
    worker = fields.String(validate=USERNAME)


class PacketPayload(StrictSchema):
    """The JSON inside the sender's JWS."""

    client = fields.Nested(ClientRef, required=True)
    from_ = fields.Nested(FromParty, required=True, data_key="from")
    to = fields.Nested(ToParty, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(PACKET_KINDS))
    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES))
    respond_by = fields.Date(metadata={"description": "Required for a transfer"})
    case_reference = fields.String(validate=validate.Length(min=1, max=100))
    first_contact_by = fields.Date(
        metadata={
            "description": "Transfer only: the day by which the receiver is to record the first "
            "contact with the client (not before `respond_by`); default: 14 days after "
            "acceptance (`EXCHANGE_FIRST_CONTACT_DAYS`)"
        }
    )
    sections = fields.List(fields.Raw(), required=True)

    @validates_schema
    def _transfer_needs_deadline(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("kind") == TRANSFER and "respond_by" not in data:
            raise ValidationError({"respond_by": ["A transfer needs a deadline."]})

    @validates_schema
    def _first_contact_after_the_deadline(self, data: dict[str, Any], **_kwargs: Any) -> None:
        first_contact_by = data.get("first_contact_by")
        if first_contact_by is None:
            return
        if data.get("kind") != TRANSFER:
            raise ValidationError(
                {"first_contact_by": ["Only a transfer is escorted until a first contact."]}
            )
        respond_by = data.get("respond_by")
        if respond_by is not None and first_contact_by < respond_by:
            raise ValidationError({"first_contact_by": ["Must not be before respond_by."]})


# A transfer as its sender signs it (SPEC section 4), with a first contact date of its own.
PACKET_PAYLOAD_EXAMPLE: dict[str, Any] = {
    "client": {"hetu": "010190-900P"},
    "from": {"organization": "lieto-kisalli", "worker": "kalle.valmentaja"},
    "to": {"organization": "te-vs"},
    "kind": "transfer",
    "purpose": "employment_services",
    "respond_by": "2026-12-15",
    "first_contact_by": "2027-01-08",
    "case_reference": "KIS-2026-0042",
    "sections": [
        {
            "type": "plan",
            "kind": "employment_plan",
            "goals": [{"text": "Work trial in a kitchen", "target_date": "2027-03-01"}],
            "next_step": "work trial",
        }
    ],
}


PAYLOAD_COMPONENT = "PacketPayload"


def register_payload_schema(spec: Any) -> None:
    """Add the signed payload's schema, with its example, to an apispec ``APISpec`` (the
    request body itself is the compact JWS over it)."""
    if PAYLOAD_COMPONENT not in spec.components.schemas:
        spec.components.schema(
            PAYLOAD_COMPONENT, {"example": PACKET_PAYLOAD_EXAMPLE}, schema=PacketPayload
        )


class SubmitResponse(Schema):
    id = fields.String()
    status = fields.String()
    receipt = fields.String(metadata={"description": "JWS signed by the service"})
    warnings = fields.List(fields.Dict())


class PacketListArgs(StrictSchema):
    box = fields.String(required=True, validate=validate.OneOf(["inbox", "outbox"]))
    status = fields.String(validate=validate.OneOf(PACKET_STATUSES))
    client_id = fields.String(validate=validate.Length(min=1, max=40))
    kind = fields.String(validate=validate.OneOf(PACKET_KINDS))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=200))


class PacketPartyOut(Schema):
    organization = fields.String()
    worker = fields.String(allow_none=True)


class FirstContactOut(Schema):
    date = fields.Date()
    mode = fields.String()
    recorded_by = fields.String(allow_none=True)


class PacketMeta(Schema):
    id = fields.String()
    client_id = fields.String()
    kind = fields.String()
    purpose = fields.String()
    status = fields.String()
    from_ = fields.Nested(PacketPartyOut, data_key="from")
    to = fields.Nested(PacketPartyOut)
    respond_by = fields.Date(allow_none=True)
    case_reference = fields.String(allow_none=True)
    categories = fields.List(fields.String())
    received_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)
    warnings = fields.List(fields.Dict())
    first_contact_by = fields.Date(
        allow_none=True,
        metadata={"description": "Transfer: the receiver's first contact is due by this day"},
    )
    first_contact = fields.Nested(
        FirstContactOut,
        allow_none=True,
        metadata={"description": "The receiver's recorded first contact; it ends the escort"},
    )


class PacketPage(Schema):
    items = fields.List(fields.Nested(PacketMeta))
    next_cursor = fields.String(allow_none=True)


class PacketOut(PacketMeta):
    sections = fields.List(fields.Dict())
    jws = fields.String(metadata={"description": "The sender's original signed packet"})
    basis = fields.List(fields.Dict())


class PacketEventOut(Schema):
    at = fields.DateTime()
    action = fields.String()
    status = fields.String()
    organization = fields.String(attribute="organization_id", allow_none=True)
    user = fields.String(attribute="username", allow_none=True)
    reason = fields.String(allow_none=True)
    acknowledged_actions = fields.List(
        fields.String(), metadata={"description": "On the `accepted` event: the read-back"}
    )
    synthesis = fields.String(
        allow_none=True,
        metadata={
            "description": "On the `accepted` event: the receiver's synthesis; null when none "
            "was given, or the packet's legal basis or content is gone"
        },
    )


class PacketEvents(Schema):
    items = fields.List(fields.Nested(PacketEventOut))


class AcceptBody(StrictSchema):
    """The read-back: every action id of the packet's plan sections, and no other, plus an
    optional synthesis in the receiver's own words. A packet without actions may be accepted
    with ``{}``, ``{"acknowledged_actions": []}`` or no body at all."""

    acknowledged_actions = fields.List(
        fields.String(validate=ACTION_ID),
        load_default=list,
        validate=validate.Length(max=MAX_ACTIONS),
        metadata={"description": "The id of every action in the packet's plan sections"},
    )
    synthesis = strict_text(
        SYNTHESIS_MAX_LENGTH,
        metadata={"description": "The hand-over as the receiver understood it; the sender sees it"},
    )


ACCEPT_EXAMPLE = {
    "acknowledged_actions": ["a1", "a2"],
    "synthesis": "Work trial in a kitchen from January; I call the client this week.",
}


class DeclineBody(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=1000))


class FirstContactBody(StrictSchema):
    """The receiver met the client: the escorted transfer ends."""

    date = fields.Date(required=True, metadata={"description": "Not in the future"})
    mode = fields.String(required=True, validate=validate.OneOf(FIRST_CONTACT_MODES))


FIRST_CONTACT_EXAMPLE = {"date": "2026-12-18", "mode": "meeting"}


class EscortOut(Schema):
    organization = fields.String()
    worker = fields.String(allow_none=True, metadata={"description": "null: unassigned"})
    first_contact_by = fields.Date()


class LeadOut(Schema):
    organization = fields.String(allow_none=True)
    worker = fields.String(allow_none=True)
    since = fields.DateTime(allow_none=True)
    escort = fields.Nested(
        EscortOut,
        allow_none=True,
        metadata={
            "description": "The sender of the latest accepted transfer, until the receiver "
            "records the first contact"
        },
    )


class LeadAssign(StrictSchema):
    worker = fields.String(required=True, validate=USERNAME)


class DeactivateBody(StrictSchema):
    successor = fields.String(required=True, allow_none=True, validate=USERNAME)


class DeactivateOut(Schema):
    username = fields.String()
    successor = fields.String(allow_none=True)
    leads_moved = fields.Integer()
    packets_moved = fields.Integer()
    escorts_moved = fields.Integer(
        metadata={"description": "Accepted transfers the leaver escorted (as the sender)"}
    )
    first_contacts_moved = fields.Integer(
        metadata={"description": "Accepted transfers whose first contact the leaver was to make"}
    )


class ActivateOut(Schema):
    username = fields.String()
    active = fields.Boolean()


class UnassignedClient(Schema):
    client_id = fields.String()
    former_worker = fields.String(allow_none=True, attribute="worker")
    since = fields.DateTime()


class UnassignedOut(Schema):
    items = fields.List(fields.Nested(UnassignedClient))


class ReviewNeeded(Schema):
    client_id = fields.String()
    periods = fields.Integer(metadata={"description": "Periods in a row in the same service"})
    last_ended_on = fields.Date()


class EscortPartyOut(Schema):
    organization = fields.String()
    worker = fields.String(allow_none=True)


class FirstContactMissing(PacketMeta):
    escort = fields.Nested(EscortPartyOut)
    first_contact_worker = fields.String(
        allow_none=True, metadata={"description": "The receiver's worker; null: unassigned"}
    )
    escalated_at = fields.DateTime(
        allow_none=True,
        metadata={"description": "When the worker raised the escalation and told the sender"},
    )


class EscalationsOut(Schema):
    expired_transfers = fields.List(fields.Nested(PacketMeta))
    due_soon = fields.List(fields.Nested(PacketMeta))
    unassigned_clients = fields.List(fields.Nested(UnassignedClient))
    periods_ending_without_next_step = fields.List(
        fields.Nested(PeriodOut),
        metadata={"description": "Your open service periods ending within 30 days, no next step"},
    )
    review_needed = fields.List(
        fields.Nested(ReviewNeeded),
        metadata={
            "description": "Clients whose last three periods each ended continued_same_service: "
            "a multi-professional review is due"
        },
    )
    first_contact_missing = fields.List(
        fields.Nested(FirstContactMissing),
        metadata={
            "description": "Accepted transfers (sent or received) without a first contact "
            "past their first_contact_by"
        },
    )

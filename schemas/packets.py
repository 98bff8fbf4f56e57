"""Wire format of packets (SPEC section 4, "Packets") and of the continuity endpoints."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent.vocabulary import PACKET_KINDS, PACKET_STATUSES, PURPOSES, TRANSFER
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
    sections = fields.List(fields.Raw(), required=True)

    @validates_schema
    def _transfer_needs_deadline(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("kind") == TRANSFER and "respond_by" not in data:
            raise ValidationError({"respond_by": ["A transfer needs a deadline."]})


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


class LeadOut(Schema):
    organization = fields.String(allow_none=True)
    worker = fields.String(allow_none=True)
    since = fields.DateTime(allow_none=True)


class LeadAssign(StrictSchema):
    worker = fields.String(required=True, validate=USERNAME)


class DeactivateBody(StrictSchema):
    successor = fields.String(required=True, allow_none=True, validate=USERNAME)


class DeactivateOut(Schema):
    username = fields.String()
    successor = fields.String(allow_none=True)
    leads_moved = fields.Integer()
    packets_moved = fields.Integer()


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

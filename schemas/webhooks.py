"""Notification deliveries as an organization sees its own."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from consent.vocabulary import WEBHOOK_DELIVERY_STATUSES, WEBHOOK_EVENT_TYPES
from schemas import StrictSchema


class DeliveryListArgs(StrictSchema):
    status = fields.String(validate=validate.OneOf(WEBHOOK_DELIVERY_STATUSES))
    event_type = fields.String(validate=validate.OneOf(WEBHOOK_EVENT_TYPES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=200))


class DeliveryOut(Schema):
    id = fields.String(metadata={"description": "The event id; receivers de-duplicate by it."})
    event_type = fields.String(metadata={"enum": list(WEBHOOK_EVENT_TYPES)})
    data = fields.Dict(metadata={"description": "Ids only, never client data."})
    created_at = fields.DateTime()
    status = fields.String(metadata={"enum": list(WEBHOOK_DELIVERY_STATUSES)})
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(
        allow_none=True, metadata={"description": "When pending: the next attempt."}
    )
    last_attempt_at = fields.DateTime(allow_none=True)
    last_status = fields.Integer(
        allow_none=True, metadata={"description": "Receiver's HTTP status"}
    )
    last_error = fields.String(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)


class DeliveryPage(Schema):
    items = fields.List(fields.Nested(DeliveryOut))
    next_cursor = fields.String(allow_none=True)

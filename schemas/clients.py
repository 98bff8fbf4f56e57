"""Wire format of client (person) endpoints."""

from __future__ import annotations

from marshmallow import Schema, fields

from schemas import StrictSchema
from schemas.common import Hetu


class ClientLookupRequest(StrictSchema):
    hetu = Hetu(
        required=True,
        metadata={"description": "Finnish personal identity code", "example": "010190-900P"},
    )


class ClientLookupResponse(Schema):
    id = fields.String(required=True, metadata={"description": "Opaque client id"})
    created = fields.Boolean(
        required=True, metadata={"description": "True when this call created the client"}
    )

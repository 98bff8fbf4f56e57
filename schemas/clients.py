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
    # Deliberately no "created" flag: it would tell any caller whether someone else had
    # already registered this person.

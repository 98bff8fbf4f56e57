"""Wire format of client (person) endpoints."""

from __future__ import annotations

import unicodedata
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from schemas import StrictSchema
from schemas.common import Hetu

NAME_MAX = 200
# Control and format characters (NUL, newlines, tabs, bidirectional overrides, zero-width
# characters), line and paragraph separators and lone surrogates: none belongs in a name,
# and several would let a name pretend to be something else on a printed page or in a log.
NOT_IN_A_NAME = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

# The documented request body (README and the OpenAPI document); a test loads it.
LOOKUP_EXAMPLE = {"hetu": "010190-900P", "name": "Aada Esimerkki"}


class ClientName(fields.String):
    """A person's name as free text: 1-200 characters once surrounding spaces are trimmed,
    without control or format characters."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Length(min=1, max=NAME_MAX), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if any(unicodedata.category(char) in NOT_IN_A_NAME for char in text):
            raise ValidationError("Contains a control or format character.")
        return text


class ClientLookupRequest(StrictSchema):
    hetu = Hetu(
        required=True,
        metadata={"description": "Finnish personal identity code", "example": "010190-900P"},
    )
    name = ClientName(
        metadata={
            "description": "The client's name (free text, 1-200 characters), stored "
            "encrypted; replaces a name stored before",
            "example": "Aada Esimerkki",
        },
    )


class ClientLookupResponse(Schema):
    id = fields.String(required=True, metadata={"description": "Opaque client id"})
    # Deliberately no "created" flag: it would tell any caller whether someone else had
    # already registered this person.


class ClientOut(Schema):
    id = fields.String(required=True, metadata={"description": "Opaque client id"})
    name = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The client's name; null when none was given"},
    )
    hetu_masked = fields.String(
        required=True,
        metadata={
            "description": "The identity code with only its date part shown",
            "example": "010190-9***",
        },
    )


class ClientRevealOut(Schema):
    id = fields.String(required=True, metadata={"description": "Opaque client id"})
    hetu = fields.String(
        required=True,
        metadata={"description": "The full personal identity code", "example": "010190-900P"},
    )

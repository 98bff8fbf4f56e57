"""Wire format of the consent endpoints (SPEC section 4, "Consents")."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent.model import DECISIONS, GRANTOR_TYPES, LANGUAGES, METHODS, STATUSES
from consent.vocabulary import CATEGORIES, PURPOSES
from schemas import StrictSchema
from schemas.common import Hetu

ORG_ID = validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,62}$", error="Not an organization id.")


def _unique(values: list[Any]) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("Each value may appear only once.")


def _org_list(**kwargs: Any) -> fields.List[Any]:
    return fields.List(
        fields.String(validate=ORG_ID),
        validate=[validate.Length(min=1, max=50), _unique],
        **kwargs,
    )


class ClientRef(StrictSchema):
    """A client named by the opaque id or by the identity code (exactly one)."""

    id = fields.String(validate=validate.Length(min=1, max=40))
    hetu = Hetu(metadata={"description": "Finnish personal identity code"})

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if ("id" in data) == ("hetu" in data):
            raise ValidationError("Give either 'id' or 'hetu'.")


class Grantor(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(GRANTOR_TYPES))
    name = fields.String(validate=validate.Length(min=2, max=200))

    @validates_schema
    def _name_for_representatives(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("type") in ("guardian", "legal_representative") and not data.get("name"):
            raise ValidationError({"name": ["A guardian or legal representative must be named."]})
        if data.get("type") == "self" and data.get("name"):
            raise ValidationError(
                {"name": ["Give a name only for a guardian or legal representative."]}
            )


class Evidence(StrictSchema):
    reference = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Document or case reference (required for signed_paper)"},
    )
    witness_name = fields.String(
        validate=validate.Length(min=2, max=200),
        metadata={"description": "The witness (required for verbal_witnessed)"},
    )
    transaction_id = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Strong authentication transaction id"},
    )


class ConsentCreate(StrictSchema):
    client = fields.Nested(ClientRef, required=True)
    grantor = fields.Nested(Grantor, load_default=lambda: {"type": "self"})
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    sources = _org_list(required=True)
    recipients = _org_list(required=True)
    categories = fields.List(
        fields.String(validate=validate.OneOf(CATEGORIES)),
        required=True,
        validate=[validate.Length(min=1), _unique],
    )
    purposes = fields.List(
        fields.String(validate=validate.OneOf(PURPOSES)),
        required=True,
        validate=[validate.Length(min=1), _unique],
    )
    valid_from = fields.Date(metadata={"description": "Default: today (Finnish time)"})
    valid_until = fields.Date(required=True)
    method = fields.String(required=True, validate=validate.OneOf(METHODS))
    evidence = fields.Nested(Evidence, load_default=dict)
    language = fields.String(load_default="fi", validate=validate.OneOf(LANGUAGES))
    supersedes = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Id of an earlier consent this one replaces once in force"},
    )
    approver_organization = fields.String(
        validate=ORG_ID,
        metadata={
            "description": "The organization whose social worker approves or rejects a "
            "permit (a registered organization). Default: the recorder's own"
        },
    )


# The consent body of the API documents (SPEC section 4): a provider records, the client's
# own social services approves. The organization ids are the demo registry's.
CONSENT_EXAMPLE: dict[str, Any] = {
    "client": {"hetu": "010190-900P"},
    "grantor": {"type": "self"},
    "decision": "permit",
    "sources": ["lieto-kisalli"],
    "recipients": ["te-vs"],
    "categories": ["assessment", "plan", "contact_persons"],
    "purposes": ["employment_services"],
    "valid_from": "2026-12-01",
    "valid_until": "2027-11-30",
    "method": "signed_paper",
    "evidence": {"reference": "paper form 2026/114"},
    "language": "fi",
    "approver_organization": "varha-aikuissosiaalityo",
}


class Reason(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=1000))


class ConsentListArgs(StrictSchema):
    client_id = fields.String(validate=validate.Length(min=1, max=40))
    status = fields.String(validate=validate.OneOf(STATUSES))
    expiring_within = fields.Integer(
        validate=validate.Range(min=0, max=366),
        metadata={"description": "Active consents ending within this many days"},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=200))


class ReceiptArgs(StrictSchema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "html"]))


class PartyOut(Schema):
    organization = fields.String()
    user = fields.String(allow_none=True)
    at = fields.DateTime(allow_none=True)


class ConsentEventOut(Schema):
    at = fields.DateTime()
    action = fields.String()
    status = fields.String()
    organization = fields.String(attribute="organization_id")
    user = fields.String(attribute="username")
    reason = fields.String(allow_none=True)


class ConsentTextOut(Schema):
    version = fields.String()
    sha256 = fields.String()
    language = fields.String()
    text = fields.String()


class ConsentOut(Schema):
    id = fields.String()
    client_id = fields.String()
    decision = fields.String()
    status = fields.String(
        metadata={"description": "Status now; `expired` is computed from valid_until"}
    )
    grantor = fields.Dict()
    sources = fields.List(fields.String())
    recipients = fields.List(fields.String())
    categories = fields.List(fields.String())
    purposes = fields.List(fields.String())
    valid_from = fields.Date()
    valid_until = fields.Date()
    method = fields.String()
    evidence = fields.Dict()
    language = fields.String()
    consent_text = fields.Nested(ConsentTextOut)
    supersedes = fields.String(allow_none=True)
    approver_organization = fields.String(
        metadata={"description": "Whose social worker approves or rejects the permit"}
    )
    recorded = fields.Nested(PartyOut)
    decided = fields.Nested(PartyOut, allow_none=True)
    withdrawn = fields.Nested(PartyOut, allow_none=True)
    events = fields.List(fields.Nested(ConsentEventOut))


class ConsentPage(Schema):
    items = fields.List(fields.Nested(ConsentOut))
    next_cursor = fields.String(allow_none=True)


class ConsentCheckRequest(StrictSchema):
    client = fields.Nested(ClientRef, required=True)
    source = fields.String(required=True, validate=ORG_ID)
    recipient = fields.String(required=True, validate=ORG_ID)
    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES))
    categories = fields.List(
        fields.String(validate=validate.OneOf(CATEGORIES)),
        required=True,
        validate=[validate.Length(min=1), _unique],
    )
    language = fields.String(load_default="fi", validate=validate.OneOf(LANGUAGES))


class CategoryDecisionOut(Schema):
    category = fields.String()
    allowed = fields.Boolean()
    basis = fields.String(allow_none=True, metadata={"description": "`consent`, `statute` or null"})
    consent_id = fields.String(allow_none=True)
    statute = fields.String(allow_none=True)
    reason = fields.String()


class ConsentCheckOut(Schema):
    allowed = fields.Boolean()
    decisions = fields.List(fields.Nested(CategoryDecisionOut))


class ReceiptOut(Schema):
    receipt = fields.Dict()
    jws = fields.String()

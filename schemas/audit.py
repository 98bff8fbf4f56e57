"""Wire format of the audit endpoints (SPEC section 4, "Audit") and the access report."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent.vocabulary import AUDIT_OUTCOMES
from schemas import MAX_INTEGER, StrictSchema

# The forms of the CSV export besides the default one (comma, no byte order mark, field names).
CSV_DIALECTS = ("excel",)


class AuditQueryArgs(StrictSchema):
    client_id = fields.String(validate=validate.Length(min=1, max=64))
    organization = fields.String(validate=validate.Length(min=1, max=64))
    actor = fields.String(
        validate=validate.Length(min=1, max=128),
        metadata={"description": "A username or OAuth client id"},
    )
    action = fields.String(validate=validate.Length(min=1, max=64))
    outcome = fields.String(validate=validate.OneOf(AUDIT_OUTCOMES))
    from_ = fields.DateTime(data_key="from", metadata={"description": "RFC 3339, inclusive"})
    to = fields.DateTime(metadata={"description": "RFC 3339, exclusive"})
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "jsonl"]))
    dialect = fields.String(
        validate=validate.OneOf(CSV_DIALECTS),
        metadata={
            "description": "With `format=csv` only. `excel`: for a spreadsheet: UTF-8 with a "
            "byte order mark, `;`-separated, the header row in the language of "
            "`Accept-Language` (`fi`, `sv` or `en`; English by default). Without it: "
            "comma-separated, no byte order mark, the field names as headers."
        },
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    # 18 digits: every cursor fits a BIGINT (19 could overflow it).
    cursor = fields.String(validate=validate.Regexp(r"^[0-9]{1,18}$", error="Not a cursor."))

    @validates_schema
    def _dialect_is_for_csv(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if "dialect" in data and data.get("format") != "csv":
            raise ValidationError("Only with format=csv.", field_name="dialect")


class AuditEventOut(Schema):
    seq = fields.Integer()
    occurred_at = fields.String()
    request_id = fields.String(allow_none=True)
    actor_organization = fields.String(allow_none=True)
    actor_client = fields.String(allow_none=True)
    actor_user = fields.String(allow_none=True)
    action = fields.String()
    outcome = fields.String()
    resource_type = fields.String(allow_none=True)
    resource_id = fields.String(allow_none=True)
    client_ref = fields.String(allow_none=True)
    basis_type = fields.String(allow_none=True)
    basis_ref = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    leaf_hash = fields.String()


class AuditPage(Schema):
    items = fields.List(fields.Nested(AuditEventOut))
    next_cursor = fields.String(allow_none=True)


class VerifyArgs(StrictSchema):
    checkpoint = fields.String(
        validate=validate.Length(min=1, max=4000),
        metadata={
            "description": "A checkpoint JWS you kept: the log must still contain its tree, "
            "so a later wipe or truncation is found"
        },
    )


class VerifyOut(Schema):
    ok = fields.Boolean()
    verified_through = fields.Integer()
    first_bad_seq = fields.Integer(allow_none=True)
    events = fields.Integer()
    checkpoints = fields.Integer()
    unsealed = fields.Integer()
    problem = fields.String(allow_none=True)


class CheckpointOut(Schema):
    tree_size = fields.Integer()
    root_hash = fields.String()
    chain_hash = fields.String()
    created_at = fields.DateTime()
    jws = fields.String(
        metadata={"description": "Signed by the service; verify with /.well-known/jwks.json"}
    )


class CheckpointList(Schema):
    items = fields.List(fields.Nested(CheckpointOut))


class ProofArgs(StrictSchema):
    tree_size = fields.Integer(
        validate=validate.Range(min=1, max=MAX_INTEGER),
        metadata={"description": "Default: latest checkpoint"},
    )


class InclusionOut(Schema):
    seq = fields.Integer()
    leaf_index = fields.Integer()
    leaf_hash = fields.String()
    tree_size = fields.Integer()
    root_hash = fields.String()
    proof = fields.List(fields.String())
    checkpoint = fields.String(allow_none=True)


class ConsistencyArgs(StrictSchema):
    from_ = fields.Integer(
        required=True, data_key="from", validate=validate.Range(min=1, max=MAX_INTEGER)
    )
    to = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_INTEGER))


class ConsistencyOut(Schema):
    from_ = fields.Integer(data_key="from")
    to = fields.Integer()
    from_root = fields.String()
    to_root = fields.String()
    proof = fields.List(fields.String())


class AccessReportArgs(StrictSchema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "html"]))
    lang = fields.String(
        load_default="fi",
        validate=validate.OneOf(["fi", "sv", "en"]),
        metadata={
            "description": "The report's language: the page's, and the organizations' names "
            "(`organization_name`), in Swedish or English where the registry has them."
        },
    )


class AccessEntry(Schema):
    at = fields.String()
    organization = fields.String(allow_none=True)
    organization_name = fields.String(allow_none=True)
    person = fields.String(allow_none=True)
    role = fields.String(allow_none=True)
    what = fields.String()
    categories = fields.List(fields.String())
    basis = fields.String(allow_none=True)
    basis_ref = fields.String(allow_none=True)


class AccessReportOut(Schema):
    client_id = fields.String()
    generated_at = fields.String()
    entries = fields.List(fields.Nested(AccessEntry))

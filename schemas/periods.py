"""Service periods, their next step and outcome (``/v1/service-periods``)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent.vocabulary import NEXT_STEPS, PERIOD_OUTCOMES
from schemas import StrictSchema
from schemas.consents import ORG_ID, ClientRef
from schemas.sections import SERVICES, JsonInteger, JsonNumber, ServicePeriodSection

STATUSES = ("open", "closed")
# The section's own names for the fields a period shares with it.
SECTION_NAMES = {"planned_end": "end"}


class NextStep(StrictSchema):
    path = fields.String(required=True, validate=validate.OneOf(NEXT_STEPS))
    owner = fields.String(
        required=True,
        validate=ORG_ID,
        metadata={"description": "The organization that owns the next step"},
    )


class PeriodCreate(StrictSchema):
    client = fields.Nested(ClientRef, required=True)
    service = fields.String(required=True, validate=validate.OneOf(SERVICES))
    start = fields.Date(required=True)
    planned_end = fields.Date(required=True, metadata={"description": "Last day, included"})
    days_per_week = JsonInteger(required=True, validate=validate.Range(min=1, max=7))
    hours_per_day = JsonNumber(required=True, validate=validate.Range(min=0.5, max=12))
    guidance_hours_per_month = JsonNumber(validate=validate.Range(min=0, max=200))
    next_step = fields.Nested(NextStep)

    @validates_schema(skip_on_field_errors=True)
    def _service_rules(self, data: dict[str, Any], **_kwargs: Any) -> None:
        """The same rules as a ``service_period`` packet section (the kuty limits included)."""
        section = {
            "type": "service_period",
            "service": data["service"],
            "start": data["start"].isoformat(),
            "end": data["planned_end"].isoformat(),
            "days_per_week": data["days_per_week"],
            "hours_per_day": data["hours_per_day"],
        }
        if data.get("guidance_hours_per_month") is not None:
            section["guidance_hours_per_month"] = data["guidance_hours_per_month"]
        errors = ServicePeriodSection().validate(section)
        if errors:
            names = {value: key for key, value in SECTION_NAMES.items()}
            raise ValidationError(
                {names.get(name, name): messages for name, messages in errors.items()}
            )


class PeriodClose(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(PERIOD_OUTCOMES))
    ended_on = fields.Date(required=True, metadata={"description": "The last day in the service"})
    next_step = fields.Nested(NextStep)


class PeriodListArgs(StrictSchema):
    client_id = fields.String(validate=validate.Length(min=1, max=40))
    status = fields.String(validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=200))


class PeriodOut(Schema):
    id = fields.String()
    client_id = fields.String()
    organization = fields.String(attribute="organization_id")
    service = fields.String()
    start = fields.Date()
    planned_end = fields.Date()
    days_per_week = fields.Integer()
    hours_per_day = fields.Float()
    guidance_hours_per_month = fields.Float(allow_none=True)
    status = fields.String(metadata={"enum": list(STATUSES)})
    next_step = fields.Method("_next_step", allow_none=True)
    ended_on = fields.Date(allow_none=True)
    outcome = fields.String(allow_none=True, metadata={"enum": list(PERIOD_OUTCOMES)})
    recorded_by_user = fields.String()
    recorded_at = fields.DateTime()
    closed_by_user = fields.String(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)

    def _next_step(self, row: Any) -> dict[str, str] | None:
        if row.next_step is None:
            return None
        return {"path": row.next_step, "owner": row.next_step_owner}


class PeriodPage(Schema):
    items = fields.List(fields.Nested(PeriodOut))
    next_cursor = fields.String(allow_none=True)


MONTH = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="Not a month (YYYY-MM).")


class OutcomeReportArgs(StrictSchema):
    from_ = fields.String(data_key="from", required=True, validate=MONTH)
    to = fields.String(required=True, validate=MONTH)
    organization = fields.String(validate=ORG_ID)
    service = fields.String(validate=validate.OneOf(SERVICES))
    group_by = fields.String(
        load_default="none", validate=validate.OneOf(["none", "organization", "service"])
    )
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class OutcomeCellOut(Schema):
    outcome = fields.String(metadata={"enum": list(PERIOD_OUTCOMES)})
    count = fields.Raw(metadata={"description": 'A multiple of 5, 0, or "<5"'})
    percent = fields.Float(allow_none=True)


class OutcomeGroupOut(Schema):
    key = fields.String()
    total = fields.Integer(metadata={"description": "Rounded to a multiple of 5"})
    suppressed = fields.Boolean()
    cells = fields.List(fields.Nested(OutcomeCellOut))


class OutcomeReportOut(Schema):
    window = fields.Dict()
    group_by = fields.String()
    total = fields.Integer(metadata={"description": "Rounded to a multiple of 5"})
    groups = fields.List(fields.Nested(OutcomeGroupOut))

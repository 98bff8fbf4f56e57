"""Handover packet sections (SPEC section 3, "Handover packets"): one schema per type.

A section's ``type`` is also its data category, the unit a consent or statute
covers. ``load_sections`` validates a packet's whole ``sections`` list, applies
the domain rules that span sections, and returns JSON-ready dicts plus warnings.

The kuty limits below are those of SPEC section 3, which match the regional
survey in ``background/`` (Varsinais-Suomi, 2021): 1-4 days a week, 4-8 hours a
day, contracts of 3-12 months at a time; the survey calls 24 months the legal
maximum, the SPEC makes going over it a warning rather than an error.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent.model import FINLAND
from schemas import StrictSchema

ORG_ID = validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,62}$", error="Not an organization id.")
SCORE_DOMAIN = validate.Regexp(
    r"^[a-z_]{2,40}$", error="Use 2-40 lowercase letters or '_' for a score domain."
)
PHONE = re.compile(r"^[0-9 +()-]{5,20}$")
MAX_SCORES = 20

KUTY = "kuntouttava_tyotoiminta"
KUTY_DAYS_PER_WEEK = (1, 4)
KUTY_HOURS_PER_DAY = (4.0, 8.0)
KUTY_CONTRACT_MONTHS = (3, 12)
KUTY_TOTAL_MONTHS_WARNING = 24
# The survey calls 2 hours of individual guidance a month an indicative minimum.
KUTY_GUIDANCE_HOURS_GUIDELINE = 2.0

MAX_SECTIONS = 20
# Read-back (SPEC "Responsibility never lapses"): the plan's actions, acknowledged by id.
ACTION_OWNERS = ("sender", "receiver")
MAX_ACTIONS = 50
SYNTHESIS_MAX_LENGTH = 2000
ACTION_ID = validate.Regexp(
    r"^[A-Za-z0-9_-]{1,40}\Z", error="Use 1-40 letters, digits, '-' or '_' for an action id."
)
# Several assessments (say, Kykyviisari and a doctor's statement) may travel together.
REPEATABLE_TYPES = frozenset({"assessment"})


# --- small building blocks --------------------------------------------------------------


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("May not be blank.")


def _text(max_length: int, **kwargs: Any) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=max_length), _not_blank], **kwargs)


def strict_text(max_length: int, **kwargs: Any) -> fields.String:
    """Text of 1 to ``max_length`` characters, not only whitespace (as the sections' text)."""
    return _text(max_length, **kwargs)


def _text_list(*, max_items: int = 50, max_length: int = 1000, **kwargs: Any) -> fields.List[Any]:
    return fields.List(_text(max_length), validate=validate.Length(max=max_items), **kwargs)


def _phone(value: str) -> None:
    # Loose on purpose: senders write numbers many ways; at least five digits rules out junk.
    if not PHONE.match(value) or sum(char.isdigit() for char in value) < 5:
        raise ValidationError(
            "Use 5-20 characters: at least 5 digits, and spaces, '+', '-', '(' or ')'."
        )


def _max_scores(value: dict[str, Any]) -> None:
    if len(value) > MAX_SCORES:
        raise ValidationError(f"At most {MAX_SCORES} score domains.")


class JsonInteger(fields.Integer):
    """A JSON integer: no strings, no booleans, no fractions (``3``, not ``"3"`` or ``3.5``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return int(value)


class JsonNumber(fields.Float):
    """A JSON number: no strings, no booleans, no NaN or infinity."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        result: float = super()._deserialize(value, attr, data, **kwargs)
        return result


class ScoresField(fields.Dict):
    """Domain to score; errors are reported per domain (``scores.health``), not per key/value."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> dict[str, Any]:
        try:
            result: dict[str, Any] = super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as exc:
            if not isinstance(exc.messages, dict):
                raise
            raise ValidationError(
                {
                    domain: [text for part in problem.values() for text in part]
                    if isinstance(problem, dict)
                    else problem
                    for domain, problem in exc.messages.items()
                }
            ) from exc
        return result


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole calendar months, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def whole_months(start: dt.date, end: dt.date) -> int:
    """Whole calendar months in ``start..end``, both days included (1 Jun-31 Aug is 3)."""
    after = end + dt.timedelta(days=1)
    months = (after.year - start.year) * 12 + after.month - start.month
    if add_months(start, months) > after:
        months -= 1
    return max(months, 0)


def _longer_than(start: dt.date, end: dt.date, months: int) -> bool:
    """True when ``start..end`` (end included) is longer than ``months`` calendar months."""
    return end + dt.timedelta(days=1) > add_months(start, months)


def _shorter_than(start: dt.date, end: dt.date, months: int) -> bool:
    return end + dt.timedelta(days=1) < add_months(start, months)


def _add(errors: dict[str, list[str]], field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _check_order(
    errors: dict[str, list[str]],
    data: Mapping[str, Any],
    first: str,
    last: str,
) -> None:
    if data.get(first) is not None and data.get(last) is not None and data[last] < data[first]:
        _add(errors, last, f"Must be on or after {first}.")


# --- nested objects ---------------------------------------------------------------------


class AssessmentAssessor(StrictSchema):
    """Who made the assessment."""

    name = _text(200, required=True)
    organization = _text(200)
    role = _text(200)


class PlanGoal(StrictSchema):
    text = _text(1000, required=True)
    target_date = fields.Date()
    status = fields.String(
        load_default="open",
        validate=validate.OneOf(["open", "in_progress", "achieved", "dropped"]),
    )


class PlanAction(StrictSchema):
    """Something to be done after the hand-over: by whom (``owner``) and by when (``due``).

    The receiver acknowledges every action by ``id`` when accepting (the read-back).
    """

    id = fields.String(
        required=True,
        validate=ACTION_ID,
        metadata={"description": "Unique within the packet; 1-40 letters, digits, '-' or '_'"},
    )
    text = _text(1000, required=True)
    owner = fields.String(required=True, validate=validate.OneOf(ACTION_OWNERS))
    due = fields.Date(required=True)


class PlanService(StrictSchema):
    """A service the plan relies on; dates are optional for a service not yet scheduled."""

    service = _text(200, required=True)
    provider = fields.String(validate=ORG_ID, metadata={"description": "Organization id"})
    start = fields.Date()
    end = fields.Date(metadata={"description": "Last day, included"})

    @validates_schema(skip_on_field_errors=False)
    def _dates(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        _check_order(errors, data, "start", "end")
        if errors:
            raise ValidationError(errors)


CONTACT_ROLES = (
    "responsible_worker",
    "social_worker",
    "coach",
    "te_expert",
    "kela_contact",
    "physician",
    "psychologist",
    "occupational_therapist",
    "physiotherapist",
    "family_member",
    "guardian",
    "support_person",
    "interpreter",
    "teacher",
)
CONTACT_LANGUAGES = ("fi", "sv", "en", "se", "ru", "et", "so", "ar", "other")


class ContactPerson(StrictSchema):
    name = _text(200, required=True)
    role = fields.String(required=True, validate=validate.OneOf(CONTACT_ROLES))
    organization = _text(200)
    phone = fields.String(validate=_phone, metadata={"example": "+358 40 123 4567"})
    email = fields.Email(validate=validate.Length(max=254))
    language = fields.String(
        validate=validate.OneOf(CONTACT_LANGUAGES),
        metadata={"description": "Language to use with this person"},
    )
    deputy = _text(200, metadata={"description": "Name of the deputy during absences"})
    valid_from = fields.Date()
    valid_until = fields.Date()

    @validates_schema(skip_on_field_errors=False)
    def _dates(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        _check_order(errors, data, "valid_from", "valid_until")
        if errors:
            raise ValidationError(errors)


class BenefitEntry(StrictSchema):
    benefit = _text(100, required=True, metadata={"example": "työmarkkinatuki"})
    decision_date = fields.Date()
    valid_from = fields.Date()
    valid_until = fields.Date()
    note = _text(1000)

    @validates_schema(skip_on_field_errors=False)
    def _dates(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        _check_order(errors, data, "valid_from", "valid_until")
        if errors:
            raise ValidationError(errors)


# --- sections ---------------------------------------------------------------------------


def _type_field(section_type: str) -> fields.String:
    return fields.String(
        required=True,
        validate=validate.Equal(section_type),
        metadata={"description": "The section type, which is also its data category"},
    )


class SectionSchema(StrictSchema):
    """Base of the section schemas; ``today`` bounds dates that record the past."""

    section_type: ClassVar[str]
    past_dates: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, today: dt.date | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.today = today if today is not None else dt.datetime.now(FINLAND).date()

    @validates_schema(skip_on_field_errors=False)
    def _not_in_future(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        for name in self.past_dates:
            if data.get(name) is not None and data[name] > self.today:
                _add(errors, name, "May not be in the future.")
        if errors:
            raise ValidationError(errors)


class AssessmentSection(SectionSchema):
    """An assessment of work and functional capacity (*työ- ja toimintakyvyn arviointi*).

    Instruments: ``kykyviisari`` (Kykyviisari, a self-assessment of work and
    functional capacity); ``vat`` (*valmennuksen arvioinnin tukijärjestelmä*, a
    support system for assessing coaching; the survey names it and Kykyviisari
    as the tools used in kuty); ``doctor_statement_summary`` (a summary of a
    physician's statement, *lääkärinlausunto*); ``other``. ``scores`` maps a
    domain to 0-10.
    """

    section_type = "assessment"
    past_dates = ("date",)

    type = _type_field(section_type)
    instrument = fields.String(
        required=True,
        validate=validate.OneOf(["kykyviisari", "vat", "doctor_statement_summary", "other"]),
    )
    date = fields.Date(required=True, metadata={"description": "Not in the future"})
    assessor = fields.Nested(AssessmentAssessor)
    scores = ScoresField(
        keys=fields.String(validate=SCORE_DOMAIN),
        values=JsonInteger(validate=validate.Range(min=0, max=10)),
        validate=_max_scores,
        metadata={
            "description": "Domain (2-40 lowercase letters or '_') to a score 0-10",
            "maxProperties": MAX_SCORES,
        },
    )
    summary = _text(4000)
    strengths = _text_list()
    support_needs = _text_list()


class PlanSection(SectionSchema):
    """A plan agreed with the client.

    Kinds: ``activation_plan`` (*aktivointisuunnitelma*, Act 189/2001, in which
    kuty is agreed); ``rehabilitation_service_plan``; ``employment_plan``
    (*työllistymissuunnitelma*, employment services); ``client_plan``
    (*asiakassuunnitelma*, Social Welfare Act 1301/2014). ``next_step`` is the
    continuation path (*jatkopolku*): what follows when the current service ends.
    """

    section_type = "plan"

    type = _type_field(section_type)
    kind = fields.String(
        required=True,
        validate=validate.OneOf(
            ["activation_plan", "rehabilitation_service_plan", "employment_plan", "client_plan"]
        ),
    )
    goals = fields.List(fields.Nested(PlanGoal), validate=validate.Length(max=50))
    services = fields.List(fields.Nested(PlanService), validate=validate.Length(max=50))
    follow_up_date = fields.Date()
    actions = fields.List(
        fields.Nested(PlanAction),
        validate=validate.Length(max=MAX_ACTIONS),
        metadata={
            "description": "Actions the receiver acknowledges by id when accepting (read-back)"
        },
    )
    next_step = _text(
        1000,
        metadata={
            "description": "The continuation path; required when a service period in the "
            "packet ends soon"
        },
    )


class ContactPersonsSection(SectionSchema):
    """The people working with the client.

    Roles include ``responsible_worker`` (the client's named worker,
    *omatyöntekijä*), ``coach`` (job coach, *työvalmentaja*), ``te_expert``
    (employment services expert), ``kela_contact`` (Kela, the Social Insurance
    Institution) and ``support_person`` (*tukihenkilö*). Language ``se`` is
    Northern Sámi.
    """

    section_type = "contact_persons"

    type = _type_field(section_type)
    persons = fields.List(
        fields.Nested(ContactPerson), required=True, validate=validate.Length(min=1, max=50)
    )


SERVICES = (
    KUTY,
    "vammaisten_tyotoiminta",
    "kehitysvammaisten_tyotoiminta",
    "tyohonvalmennus",
    "tyollistymista_tukeva_toiminta",
)


class ServicePeriodSection(SectionSchema):
    """One period of a work-activity service; ``end`` is the last day, included.

    Services: ``kuntouttava_tyotoiminta`` (rehabilitative work activity, "kuty",
    Act 189/2001 on rehabilitative work activity); ``vammaisten_tyotoiminta``
    (work activity for disabled people); ``kehitysvammaisten_tyotoiminta`` (work
    activity for people with intellectual disabilities); ``tyohonvalmennus``
    (job coaching); ``tyollistymista_tukeva_toiminta`` (activity supporting the
    employment of disabled people). Only kuty has the day, hour and contract
    limits of this module; ``load_sections`` adds its warnings.
    """

    section_type = "service_period"

    type = _type_field(section_type)
    service = fields.String(required=True, validate=validate.OneOf(SERVICES))
    start = fields.Date(required=True)
    end = fields.Date(required=True, metadata={"description": "Last day, included"})
    days_per_week = JsonInteger(required=True, validate=validate.Range(min=1, max=7))
    hours_per_day = JsonNumber(required=True, validate=validate.Range(min=0.5, max=12))
    guidance_hours_per_month = JsonNumber(
        validate=validate.Range(min=0, max=200),
        metadata={"description": "Individual guidance, hours a month"},
    )
    total_months_in_service = JsonInteger(
        validate=validate.Range(min=0, max=600),
        metadata={"description": "Months in this service in total, this period included"},
    )
    period_id = _text(64, metadata={"description": "Reference to a recorded period"})

    @validates_schema(skip_on_field_errors=False)
    def _period_rules(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        _check_order(errors, data, "start", "end")
        start: dt.date | None = data.get("start")
        end: dt.date | None = data.get("end")
        period = (start, end) if start is not None and end is not None and end >= start else None
        total = data.get("total_months_in_service")
        if period is not None and total is not None and total < whole_months(*period):
            _add(
                errors,
                "total_months_in_service",
                f"Must include this period ({whole_months(*period)} whole months).",
            )
        if data.get("service") == KUTY:
            self._kuty_rules(errors, data, period)
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def _kuty_rules(
        errors: dict[str, list[str]],
        data: dict[str, Any],
        period: tuple[dt.date, dt.date] | None,
    ) -> None:
        low, high = KUTY_DAYS_PER_WEEK
        days = data.get("days_per_week")
        if days is not None and not low <= days <= high:
            _add(errors, "days_per_week", f"Kuty is arranged {low} to {high} days a week.")
        low_h, high_h = KUTY_HOURS_PER_DAY
        hours = data.get("hours_per_day")
        if hours is not None and not low_h <= hours <= high_h:
            _add(errors, "hours_per_day", f"Kuty is arranged {low_h:g} to {high_h:g} hours a day.")
        shortest, longest = KUTY_CONTRACT_MONTHS
        if period is not None and (
            _shorter_than(*period, shortest) or _longer_than(*period, longest)
        ):
            _add(
                errors,
                "end",
                f"A kuty contract lasts {shortest} to {longest} months "
                f"(start to end, both days included).",
            )


class BenefitsSection(SectionSchema):
    """Benefits the client receives, e.g. *työmarkkinatuki* (labour market subsidy),
    *kuntoutusraha* (rehabilitation allowance) or *toimeentulotuki* (social assistance).
    """

    section_type = "benefits"

    type = _type_field(section_type)
    benefits = fields.List(
        fields.Nested(BenefitEntry), required=True, validate=validate.Length(min=1, max=20)
    )
    summary = _text(4000)

    @validates_schema(skip_on_field_errors=False)
    def _decisions_not_in_future(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[int, dict[str, list[str]]] = {}
        for index, entry in enumerate(data.get("benefits") or []):
            decided = entry.get("decision_date")
            if decided is not None and decided > self.today:
                errors[index] = {"decision_date": ["May not be in the future."]}
        if errors:
            raise ValidationError({"benefits": errors})


class HealthSection(SectionSchema):
    """Health information relevant to work and functional capacity.

    Sensitive: sending it needs an explicit consent covering the category
    ``health`` or a statute that lists it; this schema checks the shape only.
    """

    section_type = "health"
    past_dates = ("date",)

    type = _type_field(section_type)
    summary = _text(4000, required=True)
    restrictions = _text_list(metadata={"description": "Restrictions on work or activity"})
    date = fields.Date(metadata={"description": "Date of the information; not in the future"})


_SCHEMAS: dict[str, type[SectionSchema]] = {
    schema.section_type: schema
    for schema in (
        AssessmentSection,
        PlanSection,
        ContactPersonsSection,
        ServicePeriodSection,
        BenefitsSection,
        HealthSection,
    )
}
SECTION_SCHEMAS: dict[str, type[Schema]] = dict(_SCHEMAS)
SECTION_TYPES = tuple(_SCHEMAS)

# OpenAPI component names, and the union of them all.
SECTION_COMPONENTS = {
    "assessment": "AssessmentSection",
    "plan": "PlanSection",
    "contact_persons": "ContactPersonsSection",
    "service_period": "ServicePeriodSection",
    "benefits": "BenefitsSection",
    "health": "HealthSection",
}
SECTION_UNION_COMPONENT = "PacketSection"
# The OpenAPI example of a plan section: a plan with actions the receiver reads back.
PLAN_EXAMPLE: dict[str, Any] = {
    "type": "plan",
    "kind": "employment_plan",
    "goals": [{"text": "Work trial in a kitchen", "target_date": "2027-03-01"}],
    "next_step": "work trial",
    "actions": [
        {
            "id": "a1",
            "text": "Book the first meeting with the client",
            "owner": "receiver",
            "due": "2026-12-20",
        },
        {
            "id": "a2",
            "text": "Send the work trial agreement to the employer",
            "owner": "sender",
            "due": "2026-12-15",
        },
    ],
}
COMPONENT_EXAMPLES = {"plan": PLAN_EXAMPLE}


# --- the whole list ---------------------------------------------------------------------


def _kuty_warnings(index: int, section: Mapping[str, Any]) -> list[dict[str, str]]:
    if section["service"] != KUTY:
        return []
    warnings = []
    total = section.get("total_months_in_service")
    over = (
        total > KUTY_TOTAL_MONTHS_WARNING
        if total is not None
        else _longer_than(section["start"], section["end"], KUTY_TOTAL_MONTHS_WARNING)
    )
    if over:
        warnings.append(
            {
                "field": f"sections[{index}].total_months_in_service",
                "code": "kuty_over_24_months",
                "message": f"The client has been in kuty for more than "
                f"{KUTY_TOTAL_MONTHS_WARNING} months in total; plan the next step.",
            }
        )
    guidance = section.get("guidance_hours_per_month")
    if guidance is not None and guidance < KUTY_GUIDANCE_HOURS_GUIDELINE:
        warnings.append(
            {
                "field": f"sections[{index}].guidance_hours_per_month",
                "code": "kuty_guidance_below_guideline",
                "message": f"Individual guidance in kuty is normally at least "
                f"{KUTY_GUIDANCE_HOURS_GUIDELINE:g} hours a month.",
            }
        )
    return warnings


@functools.lru_cache(maxsize=2 * len(_SCHEMAS))
def _schema(section_type: str, today: dt.date) -> SectionSchema:
    """The schema of ``section_type`` for ``today``, built once (a schema holds no state
    between loads; building one costs more than loading a section)."""
    return _SCHEMAS[section_type](today=today)


def load_sections(
    raw: Any, *, today: dt.date, next_step_horizon_days: int = 60
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Validate a packet's sections; return them JSON-ready (ISO dates) and the warnings."""
    sections, warnings = check_sections(
        raw, today=today, next_step_horizon_days=next_step_horizon_days
    )
    return [_schema(section["type"], today).dump(section) for section in sections], warnings


def check_sections(
    raw: Any, *, today: dt.date, next_step_horizon_days: int = 60
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Validate a packet's sections; return them as loaded (dates as dates) and the warnings.

    Raises ``ValidationError`` with ``{"sections": {index: {field: [...]}}}`` for
    section errors and ``{"sections": [...]}`` for list-level ones, so that
    ``schemas.flatten_errors`` gives paths such as ``sections[3].days_per_week``.
    """
    if not isinstance(raw, list):
        raise ValidationError({"sections": ["Not a valid list."]})
    if not 1 <= len(raw) <= MAX_SECTIONS:
        raise ValidationError({"sections": [f"A packet has 1 to {MAX_SECTIONS} sections."]})

    errors: dict[int, dict[str, Any]] = {}
    loaded: dict[int, dict[str, Any]] = {}
    first_of_type: dict[str, int] = {}
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            errors[index] = {"_schema": ["A section must be a JSON object."]}
            continue
        section_type = item.get("type")
        if "type" not in item:
            errors[index] = {"type": ["Missing data for required field."]}
            continue
        if not isinstance(section_type, str) or section_type not in _SCHEMAS:
            errors[index] = {
                "type": [f"Unknown section type; use one of: {', '.join(SECTION_TYPES)}."]
            }
            continue
        if section_type not in REPEATABLE_TYPES and section_type in first_of_type:
            errors[index] = {
                "type": [
                    f"Only one '{section_type}' section is allowed "
                    f"(the first is sections[{first_of_type[section_type]}])."
                ]
            }
        first_of_type.setdefault(section_type, index)
        try:
            loaded[index] = _schema(section_type, today).load(item)
        except ValidationError as exc:
            section_errors = errors.setdefault(index, {})
            for field, messages in dict(exc.normalized_messages()).items():
                if isinstance(messages, list) and isinstance(section_errors.get(field), list):
                    section_errors[field].extend(messages)
                else:
                    section_errors[field] = messages

    _check_next_step(loaded, errors, raw, today, next_step_horizon_days)
    _check_action_ids(loaded, errors)
    if errors:
        raise ValidationError({"sections": dict(sorted(errors.items()))})

    sections = [loaded[index] for index in range(len(raw))]
    warnings: list[dict[str, str]] = []
    for index, section in enumerate(sections):
        if section["type"] == "service_period":
            warnings.extend(_kuty_warnings(index, section))
    return sections, warnings


def _check_next_step(
    loaded: Mapping[int, Mapping[str, Any]],
    errors: dict[int, dict[str, Any]],
    raw: list[Any],
    today: dt.date,
    horizon_days: int,
) -> None:
    """A plan must name the next step when a service period in the packet ends soon.

    "Soon" is on or before ``today + horizon_days``; a period that has already
    ended counts too, since that client is waiting for the next step right now.
    """
    horizon = today + dt.timedelta(days=horizon_days)
    ending = [
        (index, section["end"])
        for index, section in loaded.items()
        if section["type"] == "service_period" and section["end"] <= horizon
    ]
    if not ending:
        return
    period_index, end = ending[0]
    for index, section in loaded.items():
        if section["type"] == "plan" and not section.get("next_step"):
            errors.setdefault(index, {}).setdefault("next_step", []).append(
                f"The service period at sections[{period_index}] ends on {end.isoformat()}; "
                f"give the next step (the continuation path)."
            )


def _check_action_ids(
    loaded: Mapping[int, Mapping[str, Any]], errors: dict[int, dict[str, Any]]
) -> None:
    """An action id names one action in the whole packet: the read-back acknowledges by id."""
    first: dict[str, str] = {}
    for index in sorted(loaded):
        section = loaded[index]
        if section["type"] != "plan":
            continue
        for position, action in enumerate(section.get("actions") or []):
            path = f"sections[{index}].actions[{position}]"
            if action["id"] in first:
                problems = errors.setdefault(index, {}).setdefault("actions", {})
                problems.setdefault(position, {}).setdefault("id", []).append(
                    f"The id '{action['id']}' is used already (at {first[action['id']]})."
                )
            else:
                first[action["id"]] = path


def plan_actions(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The actions of a packet's plan sections, in order (as loaded or as stored)."""
    return [
        action
        for section in sections
        if section.get("type") == "plan"
        for action in section.get("actions") or []
    ]


def register_section_schemas(spec: Any) -> None:
    """Add the section schemas, and their union ``PacketSection``, to an apispec ``APISpec``."""
    known = spec.components.schemas
    for section_type, schema in SECTION_SCHEMAS.items():
        name = SECTION_COMPONENTS[section_type]
        if name not in known:
            example = COMPONENT_EXAMPLES.get(section_type)
            spec.components.schema(name, {"example": example} if example else None, schema=schema)
    if SECTION_UNION_COMPONENT not in known:
        refs = {
            section_type: f"#/components/schemas/{name}"
            for section_type, name in SECTION_COMPONENTS.items()
        }
        spec.components.schema(
            SECTION_UNION_COMPONENT,
            {
                "description": "One handover packet section, by its type.",
                "oneOf": [{"$ref": ref} for ref in refs.values()],
                "discriminator": {"propertyName": "type", "mapping": refs},
            },
        )

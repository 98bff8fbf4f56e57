"""Packet sections: per-type schemas, the kuty rules, cross-section rules, error paths."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import ValidationError

from consent.vocabulary import CATEGORIES
from schemas import flatten_errors
from schemas.sections import (
    SECTION_SCHEMAS,
    add_months,
    load_sections,
    register_section_schemas,
    whole_months,
)

# A fixed "today": the tests never read the clock.
TODAY = dt.date(2026, 11, 25)
DAY = dt.timedelta(days=1)


def kuty(**overrides: Any) -> dict[str, Any]:
    """A valid kuty period, far enough ahead that the next-step rule does not apply."""
    section = {
        "type": "service_period",
        "service": "kuntouttava_tyotoiminta",
        "start": "2027-03-01",
        "end": "2027-08-31",
        "days_per_week": 3,
        "hours_per_day": 6,
    }
    section.update(overrides)
    return section


def valid_sections() -> list[dict[str, Any]]:
    """One section of every type, all valid (the SPEC's example, filled out)."""
    return copy.deepcopy(
        [
            {
                "type": "assessment",
                "instrument": "kykyviisari",
                "date": "2026-11-20",
                "assessor": {"name": "Kalle Valmentaja", "organization": "lieto-kisalli"},
                "scores": {"health": 6, "competence": 7},
                "summary": "Itsearvio tehty yhdessä valmentajan kanssa.",
                "strengths": ["täsmällisyys"],
                "support_needs": ["vuorokausirytmi"],
            },
            {
                "type": "plan",
                "kind": "employment_plan",
                "goals": [{"text": "Työkokeilu keväällä", "target_date": "2027-03-01"}],
                "services": [
                    {
                        "service": "työkokeilu",
                        "provider": "te-vs",
                        "start": "2027-01-10",
                        "end": "2027-03-31",
                    }
                ],
                "follow_up_date": "2027-01-31",
                "next_step": "work trial",
            },
            {
                "type": "contact_persons",
                "persons": [
                    {
                        "name": "Kalle Valmentaja",
                        "role": "coach",
                        "organization": "lieto-kisalli",
                        "phone": "+358 40 123 4567",
                        "email": "kalle.valmentaja@example.fi",
                        "language": "fi",
                        "valid_from": "2026-06-01",
                        "valid_until": "2026-12-31",
                    }
                ],
            },
            kuty(),
            {
                "type": "benefits",
                "benefits": [
                    {
                        "benefit": "työmarkkinatuki",
                        "decision_date": "2026-05-15",
                        "valid_from": "2026-06-01",
                    }
                ],
            },
            {"type": "health", "summary": "Ei rajoitteita kevyeen työhön.", "date": "2026-10-01"},
        ]
    )


def load(sections: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    return load_sections(sections, today=TODAY, **kwargs)


def errors_of(sections: Any, **kwargs: Any) -> dict[str, list[str]]:
    """The flattened errors of an invalid list: field path to messages."""
    with pytest.raises(ValidationError) as caught:
        load(sections, **kwargs)
    flat: dict[str, list[str]] = {}
    for error in flatten_errors(caught.value.messages):
        flat.setdefault(error.field, []).append(error.message)
    return flat


def assert_only_error(sections: Any, field: str, **kwargs: Any) -> list[str]:
    errors = errors_of(sections, **kwargs)
    assert list(errors) == [field]
    return errors[field]


# --- the whole list ---------------------------------------------------------------------


def test_every_data_category_has_a_section_schema() -> None:
    assert set(SECTION_SCHEMAS) == set(CATEGORIES)


def test_valid_sections_load_as_json_ready_dicts_with_iso_dates() -> None:
    sections, warnings = load(valid_sections())

    assert warnings == []
    assert [section["type"] for section in sections] == [
        "assessment",
        "plan",
        "contact_persons",
        "service_period",
        "benefits",
        "health",
    ]
    assert sections[0]["date"] == "2026-11-20"
    assert sections[1]["goals"] == [
        {"text": "Työkokeilu keväällä", "target_date": "2027-03-01", "status": "open"}
    ]
    assert sections[1]["services"][0]["end"] == "2027-03-31"
    assert sections[2]["persons"][0]["valid_until"] == "2026-12-31"
    assert sections[3]["start"] == "2027-03-01"
    assert sections[3]["end"] == "2027-08-31"
    assert sections[4]["benefits"][0]["decision_date"] == "2026-05-15"


def test_output_round_trips_through_json_and_loads_again() -> None:
    sections, _ = load(valid_sections())

    text = json.dumps(sections, ensure_ascii=False)

    assert json.loads(text) == sections
    assert load(json.loads(text)) == (sections, [])


def test_the_input_is_not_modified() -> None:
    raw = valid_sections()
    load(raw)
    assert raw == valid_sections()


def test_empty_list_is_an_error_on_sections() -> None:
    assert_only_error([], "sections")


def test_not_a_list_is_an_error_on_sections() -> None:
    assert_only_error({"type": "health", "summary": "x"}, "sections")


def test_twenty_sections_are_allowed_twenty_one_are_not() -> None:
    assessment = valid_sections()[0]

    sections, _ = load([assessment] * 20)
    assert len(sections) == 20

    messages = assert_only_error([assessment] * 21, "sections")
    assert "20" in messages[0]


def test_unknown_section_type_is_an_error_on_its_type() -> None:
    sections = valid_sections()
    sections.append({"type": "criminal_record", "summary": "x"})
    messages = assert_only_error(sections, "sections[6].type")
    assert "assessment" in messages[0]


@pytest.mark.parametrize("section", [{"summary": "x"}, {"type": 5}, {"type": None}])
def test_missing_or_non_string_type_is_an_error_on_type(section: dict[str, Any]) -> None:
    assert_only_error([section], "sections[0].type")


@pytest.mark.parametrize("item", ["health", 3, None, ["health"]])
def test_a_section_that_is_not_an_object_is_an_error_on_the_section(item: Any) -> None:
    assert_only_error([valid_sections()[0], item], "sections[1]")


def test_unknown_fields_are_rejected_at_their_path() -> None:
    sections = valid_sections()
    sections[0]["colour"] = "blue"
    sections[1]["goals"][0]["colour"] = "blue"
    sections[2]["persons"][0]["colour"] = "blue"
    sections[4]["benefits"][0]["colour"] = "blue"

    errors = errors_of(sections)

    assert set(errors) == {
        "sections[0].colour",
        "sections[1].goals[0].colour",
        "sections[2].persons[0].colour",
        "sections[4].benefits[0].colour",
    }


def test_errors_of_several_sections_are_reported_together() -> None:
    sections = valid_sections()
    del sections[0]["instrument"]
    sections[3]["days_per_week"] = 5

    assert set(errors_of(sections)) == {"sections[0].instrument", "sections[3].days_per_week"}


def test_duplicate_sections_are_an_error_on_the_later_type() -> None:
    sections = valid_sections()
    sections.append(copy.deepcopy(sections[1]))
    messages = assert_only_error(sections, "sections[6].type")
    assert "sections[1]" in messages[0]


@pytest.mark.parametrize("index", [1, 2, 3, 4, 5])
def test_every_type_but_assessment_may_appear_once(index: int) -> None:
    sections = valid_sections()
    sections.append(copy.deepcopy(sections[index]))
    assert_only_error(sections, "sections[6].type")


def test_several_assessments_are_allowed() -> None:
    sections = valid_sections()
    sections.append(
        {"type": "assessment", "instrument": "vat", "date": "2026-11-01", "summary": "VAT"}
    )
    loaded, _ = load(sections)
    assert [s["instrument"] for s in loaded if s["type"] == "assessment"] == ["kykyviisari", "vat"]


# --- kuty (kuntouttava työtoiminta) -----------------------------------------------------


@pytest.mark.parametrize(("days", "ok"), [(0, False), (1, True), (4, True), (5, False)])
def test_kuty_days_per_week_are_1_to_4(days: int, ok: bool) -> None:
    section = kuty(days_per_week=days)
    if ok:
        loaded, _ = load([section])
        assert loaded[0]["days_per_week"] == days
    else:
        assert_only_error([section], "sections[0].days_per_week")


@pytest.mark.parametrize(("hours", "ok"), [(3.5, False), (4, True), (8, True), (8.5, False)])
def test_kuty_hours_per_day_are_4_to_8(hours: float, ok: bool) -> None:
    section = kuty(hours_per_day=hours)
    if ok:
        loaded, _ = load([section])
        assert loaded[0]["hours_per_day"] == hours
    else:
        messages = assert_only_error([section], "sections[0].hours_per_day")
        assert "4 to 8 hours" in messages[0]


@pytest.mark.parametrize(
    ("start", "end", "ok"),
    [
        ("2027-03-01", "2027-05-31", True),  # exactly 3 months, both days included
        ("2027-03-01", "2027-05-30", False),  # a day short of 3 months
        ("2027-03-01", "2028-02-29", True),  # exactly 12 months (leap day at the end)
        ("2027-03-01", "2028-03-01", False),  # a day over 12 months
        ("2027-01-15", "2027-04-14", True),
        ("2027-01-15", "2027-04-13", False),
        ("2027-01-15", "2028-01-14", True),
        ("2027-01-15", "2028-01-15", False),
    ],
)
def test_kuty_contract_is_3_to_12_months(start: str, end: str, ok: bool) -> None:
    section = kuty(start=start, end=end)
    if ok:
        load([section])
    else:
        messages = assert_only_error([section], "sections[0].end")
        assert "3 to 12 months" in messages[0]


def test_all_kuty_violations_are_reported_at_once() -> None:
    section = kuty(days_per_week=5, hours_per_day=9, end="2027-03-31")
    assert set(errors_of([section])) == {
        "sections[0].days_per_week",
        "sections[0].hours_per_day",
        "sections[0].end",
    }


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 12, 31)))
def test_kuty_contract_bounds_hold_for_any_start(start: dt.date) -> None:
    shortest = add_months(start, 3) - DAY
    longest = add_months(start, 12) - DAY

    for end in (shortest, longest):
        load_sections(
            [kuty(start=start.isoformat(), end=end.isoformat())], today=dt.date(2000, 1, 1)
        )
    for end in (shortest - DAY, longest + DAY):
        with pytest.raises(ValidationError) as caught:
            load_sections(
                [kuty(start=start.isoformat(), end=end.isoformat())], today=dt.date(2000, 1, 1)
            )
        assert [e.field for e in flatten_errors(caught.value.messages)] == ["sections[0].end"]


def test_more_than_24_months_of_kuty_is_a_warning_not_an_error() -> None:
    sections, warnings = load([kuty(total_months_in_service=25)])

    assert sections[0]["total_months_in_service"] == 25
    assert len(warnings) == 1
    assert warnings[0]["field"] == "sections[0].total_months_in_service"
    assert warnings[0]["code"] == "kuty_over_24_months"
    assert "24 months" in warnings[0]["message"]


def test_24_months_of_kuty_in_total_is_no_warning() -> None:
    assert load([kuty(total_months_in_service=24)])[1] == []


def test_the_warning_names_the_section_index() -> None:
    sections = valid_sections()
    sections[3]["total_months_in_service"] = 40
    _, warnings = load(sections)
    assert [w["field"] for w in warnings] == ["sections[3].total_months_in_service"]


def test_total_months_may_not_be_less_than_the_period_itself() -> None:
    # 2027-03-01..2027-08-31 is six whole months.
    load([kuty(total_months_in_service=6)])
    assert_only_error([kuty(total_months_in_service=5)], "sections[0].total_months_in_service")


@pytest.mark.parametrize(("guidance", "warned"), [(1.5, True), (2, False), (10, False)])
def test_kuty_guidance_under_two_hours_a_month_is_a_warning(guidance: float, warned: bool) -> None:
    _, warnings = load([kuty(guidance_hours_per_month=guidance)])
    assert [w["code"] for w in warnings] == (["kuty_guidance_below_guideline"] if warned else [])


@pytest.mark.parametrize(
    "service",
    [
        "vammaisten_tyotoiminta",
        "kehitysvammaisten_tyotoiminta",
        "tyohonvalmennus",
        "tyollistymista_tukeva_toiminta",
    ],
)
def test_other_services_are_not_bound_by_the_kuty_rules(service: str) -> None:
    section = kuty(
        service=service,
        days_per_week=5,
        hours_per_day=10,
        start="2027-01-01",
        end="2028-12-31",
        total_months_in_service=60,
        guidance_hours_per_month=0,
    )
    sections, warnings = load([section])
    assert sections[0]["service"] == service
    assert warnings == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("days_per_week", 8),
        ("days_per_week", 2.5),
        ("days_per_week", "3"),
        ("days_per_week", True),
        ("hours_per_day", 0.25),
        ("hours_per_day", 12.5),
        ("hours_per_day", "6"),
        ("guidance_hours_per_month", -1),
        ("guidance_hours_per_month", 201),
        ("total_months_in_service", -1),
        ("start", "1.3.2027"),
        ("service", "kuty"),
    ],
)
def test_service_period_field_limits_apply_to_every_service(field: str, value: Any) -> None:
    section = kuty(**{"service": "tyohonvalmennus", field: value})
    assert_only_error([section], f"sections[0].{field}")


def test_service_period_end_before_start_is_an_error_on_end() -> None:
    section = kuty(service="tyohonvalmennus", start="2027-03-01", end="2027-02-28")
    assert_only_error([section], "sections[0].end")


@pytest.mark.parametrize("field", ["service", "start", "end", "days_per_week", "hours_per_day"])
def test_service_period_required_fields(field: str) -> None:
    section = kuty()
    del section[field]
    assert_only_error([section], f"sections[0].{field}")


# --- the next step ----------------------------------------------------------------------


def plan_and_period(period_end: dt.date, **plan: Any) -> list[dict[str, Any]]:
    start = add_months(period_end + DAY, -6)
    return [
        {"type": "plan", "kind": "activation_plan", **plan},
        kuty(start=start.isoformat(), end=period_end.isoformat()),
    ]


def test_plan_needs_a_next_step_when_the_period_ends_within_60_days() -> None:
    messages = assert_only_error(
        plan_and_period(TODAY + dt.timedelta(days=60)), "sections[0].next_step"
    )
    assert "sections[1]" in messages[0]


def test_plan_needs_no_next_step_when_the_period_ends_later() -> None:
    load(plan_and_period(TODAY + dt.timedelta(days=61)))


def test_a_period_that_has_already_ended_needs_a_next_step_too() -> None:
    assert_only_error(plan_and_period(TODAY - dt.timedelta(days=30)), "sections[0].next_step")


def test_a_plan_with_a_next_step_satisfies_the_rule() -> None:
    sections, _ = load(plan_and_period(TODAY + DAY, next_step="työkokeilu"))
    assert sections[0]["next_step"] == "työkokeilu"


def test_a_blank_next_step_is_no_next_step() -> None:
    errors = errors_of(plan_and_period(TODAY + DAY, next_step="   "))
    assert list(errors) == ["sections[0].next_step"]


def test_a_period_ending_soon_without_any_plan_is_fine() -> None:
    load(plan_and_period(TODAY + DAY)[1:])


def test_the_horizon_is_configurable() -> None:
    sections = plan_and_period(TODAY + dt.timedelta(days=20))
    load(sections, next_step_horizon_days=10)
    assert_only_error(sections, "sections[0].next_step", next_step_horizon_days=30)


# --- the other section types ------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "path", "field"),
    [
        (0, [], "instrument"),
        (0, [], "date"),
        (0, ["assessor"], "name"),
        (1, [], "kind"),
        (1, ["goals", 0], "text"),
        (1, ["services", 0], "service"),
        (2, [], "persons"),
        (2, ["persons", 0], "name"),
        (2, ["persons", 0], "role"),
        (4, [], "benefits"),
        (4, ["benefits", 0], "benefit"),
        (5, [], "summary"),
    ],
)
def test_required_fields(index: int, path: list[Any], field: str) -> None:
    sections = valid_sections()
    target = sections[index]
    for step in path:
        target = target[step]
    del target[field]
    where = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)

    messages = assert_only_error(sections, f"sections[{index}]{where}.{field}")
    assert messages == ["Missing data for required field."]


@pytest.mark.parametrize(
    ("index", "path", "field", "value"),
    [
        (0, [], "instrument", "kyky"),
        (1, [], "kind", "plan"),
        (1, ["goals", 0], "status", "done"),
        (1, ["services", 0], "provider", "TE Office"),
        (2, ["persons", 0], "role", "boss"),
        (2, ["persons", 0], "language", "de"),
        (3, [], "service", "palkkatuki"),
    ],
)
def test_vocabularies(index: int, path: list[Any], field: str, value: str) -> None:
    sections = valid_sections()
    target = sections[index]
    for step in path:
        target = target[step]
    target[field] = value
    where = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)

    assert_only_error(sections, f"sections[{index}]{where}.{field}")


@pytest.mark.parametrize("status", ["open", "in_progress", "achieved", "dropped"])
def test_goal_statuses(status: str) -> None:
    sections = valid_sections()
    sections[1]["goals"][0]["status"] = status
    assert load(sections)[0][1]["goals"][0]["status"] == status


def test_a_wrong_role_is_reported_at_the_person() -> None:
    sections = valid_sections()
    sections[2]["persons"].append({"name": "Outi Ohjaaja", "role": "manager"})
    messages = assert_only_error(sections, "sections[2].persons[1].role")
    assert "responsible_worker" in messages[0]


def test_contact_persons_needs_1_to_50_persons() -> None:
    sections = valid_sections()
    sections[2]["persons"] = []
    assert_only_error(sections, "sections[2].persons")

    person = {"name": "Outi Ohjaaja", "role": "social_worker"}
    sections[2]["persons"] = [person] * 50
    load(sections)
    sections[2]["persons"] = [person] * 51
    assert_only_error(sections, "sections[2].persons")


@pytest.mark.parametrize(
    ("phone", "ok"),
    [
        ("+358 40 123 4567", True),
        ("(02) 123-4567", True),
        ("12345", True),
        ("1234", False),
        ("((((((", False),
        ("040 123 4567 ext", False),
        ("+358 40 123 4567 8901", False),
    ],
)
def test_phone_numbers_are_checked_loosely(phone: str, ok: bool) -> None:
    sections = valid_sections()
    sections[2]["persons"][0]["phone"] = phone
    if ok:
        assert load(sections)[0][2]["persons"][0]["phone"] == phone
    else:
        assert_only_error(sections, "sections[2].persons[0].phone")


@pytest.mark.parametrize("email", ["kalle", "kalle@", "@example.fi", "kalle example.fi"])
def test_email_must_be_an_address(email: str) -> None:
    sections = valid_sections()
    sections[2]["persons"][0]["email"] = email
    assert_only_error(sections, "sections[2].persons[0].email")


@pytest.mark.parametrize(
    ("index", "path", "first", "last"),
    [
        (1, ["services", 0], "start", "end"),
        (2, ["persons", 0], "valid_from", "valid_until"),
        (4, ["benefits", 0], "valid_from", "valid_until"),
    ],
)
def test_end_dates_may_not_precede_start_dates(
    index: int, path: list[Any], first: str, last: str
) -> None:
    sections = valid_sections()
    target = sections[index]
    for step in path:
        target = target[step]
    target[first], target[last] = "2027-02-01", "2027-01-31"
    where = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)
    assert_only_error(sections, f"sections[{index}]{where}.{last}")

    target[last] = "2027-02-01"
    load(sections)


@pytest.mark.parametrize(
    ("index", "path", "field"),
    [(0, [], "date"), (5, [], "date"), (4, ["benefits", 0], "decision_date")],
)
def test_dates_of_past_events_may_not_be_in_the_future(
    index: int, path: list[Any], field: str
) -> None:
    sections = valid_sections()
    target = sections[index]
    for step in path:
        target = target[step]
    where = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)

    target[field] = TODAY.isoformat()
    load(sections)
    target[field] = (TODAY + DAY).isoformat()
    messages = assert_only_error(sections, f"sections[{index}]{where}.{field}")
    assert messages == ["May not be in the future."]


@pytest.mark.parametrize("score", [-1, 11, 6.5, "6", True, None])
def test_scores_are_integers_0_to_10(score: Any) -> None:
    sections = valid_sections()
    sections[0]["scores"]["health"] = score
    assert_only_error(sections, "sections[0].scores.health")


@pytest.mark.parametrize("score", [0, 10])
def test_score_bounds_are_allowed(score: int) -> None:
    sections = valid_sections()
    sections[0]["scores"]["health"] = score
    assert load(sections)[0][0]["scores"]["health"] == score


@pytest.mark.parametrize("domain", ["Health", "h", "work-ability", "työkyky", "x" * 41])
def test_score_domains_are_lowercase_identifiers(domain: str) -> None:
    sections = valid_sections()
    sections[0]["scores"][domain] = 5
    assert_only_error(sections, f"sections[0].scores.{domain}")


def test_at_most_20_score_domains() -> None:
    sections = valid_sections()
    sections[0]["scores"] = {f"domain_{chr(97 + i)}": 5 for i in range(20)}
    load(sections)
    sections[0]["scores"]["domain_z"] = 5
    assert_only_error(sections, "sections[0].scores")


@pytest.mark.parametrize(
    ("index", "field", "limit"),
    [(0, "summary", 4000), (5, "summary", 4000), (1, "next_step", 1000)],
)
def test_text_length_limits(index: int, field: str, limit: int) -> None:
    sections = valid_sections()
    sections[index][field] = "a" * limit
    load(sections)
    sections[index][field] = "a" * (limit + 1)
    assert_only_error(sections, f"sections[{index}].{field}")


def test_goal_text_may_not_be_blank_or_too_long() -> None:
    sections = valid_sections()
    sections[1]["goals"][0]["text"] = " "
    assert_only_error(sections, "sections[1].goals[0].text")
    sections[1]["goals"][0]["text"] = "a" * 1001
    assert_only_error(sections, "sections[1].goals[0].text")


def test_benefits_needs_1_to_20_entries() -> None:
    sections = valid_sections()
    sections[4]["benefits"] = []
    assert_only_error(sections, "sections[4].benefits")
    sections[4]["benefits"] = [{"benefit": "kuntoutusraha"}] * 21
    assert_only_error(sections, "sections[4].benefits")


def test_health_restrictions_are_a_list_of_text() -> None:
    sections = valid_sections()
    sections[5]["restrictions"] = ["ei raskaita nostoja"]
    assert load(sections)[0][5]["restrictions"] == ["ei raskaita nostoja"]
    sections[5]["restrictions"] = "ei raskaita nostoja"
    assert_only_error(sections, "sections[5].restrictions")


# --- helpers and OpenAPI ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (dt.date(2026, 6, 1), dt.date(2026, 11, 30), 6),
        (dt.date(2026, 6, 1), dt.date(2026, 11, 29), 5),
        (dt.date(2026, 6, 15), dt.date(2026, 6, 14), 0),
        (dt.date(2026, 1, 1), dt.date(2027, 12, 31), 24),
    ],
)
def test_whole_months_counts_both_days(start: dt.date, end: dt.date, months: int) -> None:
    assert whole_months(start, end) == months


def test_add_months_clamps_to_the_end_of_the_month() -> None:
    assert add_months(dt.date(2027, 1, 31), 1) == dt.date(2027, 2, 28)
    assert add_months(dt.date(2027, 11, 30), 3) == dt.date(2028, 2, 29)
    assert add_months(dt.date(2027, 3, 31), -1) == dt.date(2027, 2, 28)


def test_section_schemas_appear_in_the_openapi_document() -> None:
    spec = APISpec("test", "1", "3.1.0", plugins=[MarshmallowPlugin()])

    register_section_schemas(spec)
    register_section_schemas(spec)  # a second call changes nothing

    schemas = spec.to_dict()["components"]["schemas"]
    for name in (
        "AssessmentSection",
        "PlanSection",
        "ContactPersonsSection",
        "ServicePeriodSection",
        "BenefitsSection",
        "HealthSection",
    ):
        assert schemas[name]["additionalProperties"] is False
        assert "type" in schemas[name]["required"]
    period = schemas["ServicePeriodSection"]
    assert period["properties"]["type"]["enum"] == ["service_period"]
    assert period["properties"]["days_per_week"]["maximum"] == 7
    assert schemas["PacketSection"]["discriminator"]["mapping"]["health"] == (
        "#/components/schemas/HealthSection"
    )

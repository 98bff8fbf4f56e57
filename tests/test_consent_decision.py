"""The consent decision function: unit tests per rule, then properties over random records."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from consent.decision import Decision, DisclosureRequest, decide
from consent.model import (
    ACTIVE,
    DENY,
    PENDING,
    PERMIT,
    REJECTED,
    WITHDRAWN,
    ConsentRecord,
    approve,
    withdraw,
)
from consent.statutes import StatuteRule, StatuteTable, default_statutes
from consent.vocabulary import CATEGORIES, ORGANIZATION_KINDS, PURPOSES

UTC = dt.UTC
HELSINKI = ZoneInfo("Europe/Helsinki")
NOW = dt.datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
TODAY = dt.date(2026, 12, 31)
NO_STATUTES = StatuteTable(rules=())

ORGS = ("org-a", "org-b", "org-c")
CATS = ("assessment", "benefits", "service_period")
PURPS = ("benefit_processing", "rehabilitation")
KINDS = ("kela", "provider")


def make_record(
    id: str = "c1",
    *,
    decision: str = PERMIT,
    status: str = ACTIVE,
    sources: Iterable[str] = ("org-a",),
    recipients: Iterable[str] = ("org-b",),
    categories: Iterable[str] = ("assessment", "plan"),
    purposes: Iterable[str] = ("rehabilitation",),
    valid_from: dt.date = dt.date(2026, 12, 1),
    valid_until: dt.date = dt.date(2027, 5, 31),
    recorded_at: dt.datetime = dt.datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
    client_id: str = "client-1",
    recorded_by_user: str | None = "kalle",
    approved_at: dt.datetime | None = None,
) -> ConsentRecord:
    return ConsentRecord(
        id=id,
        client_id=client_id,
        decision=decision,
        status=status,
        sources=frozenset(sources),
        recipients=frozenset(recipients),
        categories=frozenset(categories),
        purposes=frozenset(purposes),
        valid_from=valid_from,
        valid_until=valid_until,
        recorded_at=recorded_at,
        recorded_by_user=recorded_by_user,
        approved_at=approved_at,
    )


def make_request(
    categories: Sequence[str] = ("assessment",),
    *,
    at: dt.datetime = NOW,
    source: str = "org-a",
    recipient: str = "org-b",
    recipient_kind: str = "provider",
    purpose: str = "rehabilitation",
) -> DisclosureRequest:
    return DisclosureRequest(
        source=source,
        source_kind="social_services",
        recipient=recipient,
        recipient_kind=recipient_kind,
        purpose=purpose,
        categories=tuple(categories),
        at=at,
    )


def allowed_set(decision: Decision) -> set[str]:
    return {item.category for item in decision.decisions if item.allowed}


def only(decision: Decision) -> Any:
    assert len(decision.decisions) == 1
    return decision.decisions[0]


# --- rule 1: statute -------------------------------------------------------------------

KELA_RULE = StatuteRule(
    recipient_kind="kela",
    purpose="benefit_processing",
    category="benefits",
    statute="Testilaki (1/2000) 1 §",
    description={"fi": "Lause.", "sv": "Mening.", "en": "Sentence."},
)
KELA_TABLE = StatuteTable(rules=(KELA_RULE,))


def kela_request(*categories: str) -> DisclosureRequest:
    return make_request(categories, recipient_kind="kela", purpose="benefit_processing")


def test_statute_allows_without_consent_and_cites_the_statute() -> None:
    result = only(decide([], KELA_TABLE, kela_request("benefits")))
    assert result.allowed
    assert result.basis == "statute"
    assert result.statute == "Testilaki (1/2000) 1 §"
    assert result.consent_id is None
    assert result.reason_code == "statute"
    for language in ("fi", "sv", "en"):
        assert "Testilaki (1/2000) 1 §" in result.reason_in(language)


def test_statute_is_not_blocked_by_a_ban() -> None:
    ban = make_record(
        "ban",
        decision=DENY,
        categories=CATEGORIES,
        purposes=PURPOSES,
        recipients=ORGS,
        sources=ORGS,
    )
    result = decide([ban], KELA_TABLE, kela_request("benefits", "plan"))
    benefits, plan = result.decisions
    assert (benefits.allowed, benefits.basis) == (True, "statute")
    assert (plan.allowed, plan.reason_code, plan.consent_id) == (False, "ban", "ban")


def test_statute_needs_the_recipient_kind_and_purpose() -> None:
    assert not decide(
        [], KELA_TABLE, make_request(["benefits"], purpose="benefit_processing")
    ).allowed
    assert not decide([], KELA_TABLE, make_request(["benefits"], recipient_kind="kela")).allowed


def test_packaged_statutes_open_kela_benefits_but_not_health() -> None:
    result = decide([], default_statutes(), kela_request("benefits", "health"))
    assert [item.allowed for item in result.decisions] == [True, False]
    assert "568/2007" in (result.decisions[0].statute or "")


# --- rule 2: ban -----------------------------------------------------------------------


def test_ban_refuses_and_names_the_ban_even_with_a_permit() -> None:
    permit = make_record("permit")
    ban = make_record("ban", decision=DENY, categories=("assessment",))
    result = decide([permit, ban], NO_STATUTES, make_request(["assessment", "plan"]))
    assessment, plan = result.decisions
    assert not assessment.allowed
    assert (assessment.basis, assessment.consent_id, assessment.reason_code) == (None, "ban", "ban")
    assert "kieltänyt" in assessment.reason["fi"]
    assert (plan.allowed, plan.consent_id) == (True, "permit")
    assert not result.allowed


def test_ban_cites_the_newest_ban() -> None:
    older = make_record("b-old", decision=DENY, recorded_at=dt.datetime(2026, 1, 1, tzinfo=UTC))
    newer = make_record("b-new", decision=DENY, recorded_at=dt.datetime(2026, 2, 1, tzinfo=UTC))
    for records in ([older, newer], [newer, older]):
        assert only(decide(records, NO_STATUTES, make_request())).consent_id == "b-new"


def test_withdrawn_or_expired_ban_no_longer_blocks() -> None:
    permit = make_record("permit")
    ban = make_record("ban", decision=DENY)
    withdrawn = withdraw(ban, NOW - dt.timedelta(hours=1))
    expired = make_record("ban", decision=DENY, valid_until=TODAY - dt.timedelta(days=1))
    for gone in (withdrawn, expired):
        assert only(decide([permit, gone], NO_STATUTES, make_request())).consent_id == "permit"


# A permit and a ban both dated for the Finnish day 31 December only, the ban recorded at
# noon (UTC) that day. At midnight in Helsinki the day has begun but the ban does not
# exist yet: it is in force from its recording, not from the start of its first date.
HELSINKI_MIDNIGHT = dt.datetime(2026, 12, 30, 22, 0, tzinfo=UTC)  # 00:00 on 31 December
SAME_DAY_PERMIT = make_record(
    "c6", sources=["org-a"], recipients=["org-a"], valid_from=TODAY, valid_until=TODAY
)
SAME_DAY_BAN = dataclasses.replace(SAME_DAY_PERMIT, id="c0", decision=DENY, recorded_at=NOW)


@pytest.mark.parametrize(
    ("at", "consent_id", "reason_code"),
    [
        (HELSINKI_MIDNIGHT - dt.timedelta(microseconds=1), None, "no_consent"),  # 30 December
        (HELSINKI_MIDNIGHT, "c6", "consent"),
        (NOW - dt.timedelta(microseconds=1), "c6", "consent"),
        (NOW, "c0", "ban"),
    ],
)
def test_ban_blocks_from_its_recording_not_from_the_start_of_its_first_date(
    at: dt.datetime, consent_id: str | None, reason_code: str
) -> None:
    request = make_request(at=at, source="org-a", recipient="org-a")
    for records in ([SAME_DAY_BAN, SAME_DAY_PERMIT], [SAME_DAY_PERMIT, SAME_DAY_BAN]):
        result = only(decide(records, NO_STATUTES, request))
        assert (result.consent_id, result.reason_code) == (consent_id, reason_code)


def test_permit_allows_from_its_approval() -> None:
    approved = approve(make_record(status=PENDING), "sanna.sosiaalityontekija", NOW)
    before = make_request(at=NOW - dt.timedelta(microseconds=1))
    assert only(decide([approved], NO_STATUTES, before)).reason_code == "no_consent"
    assert only(decide([approved], NO_STATUTES, make_request(at=NOW))).consent_id == "c1"


# --- rule 3: consent -------------------------------------------------------------------


def test_permit_allows_and_names_the_consent() -> None:
    result = only(decide([make_record("c7")], NO_STATUTES, make_request()))
    assert (result.allowed, result.basis, result.consent_id, result.statute) == (
        True,
        "consent",
        "c7",
        None,
    )
    assert result.reason_code == "consent"
    assert result.reason["fi"] == "Asiakas on antanut suostumuksen. Tieto saa siirtyä."


def test_permit_must_cover_source_recipient_purpose_and_category() -> None:
    record = make_record()
    assert decide([record], NO_STATUTES, make_request()).allowed
    for request in (
        make_request(source="org-c"),
        make_request(recipient="org-c"),
        make_request(purpose="service_planning"),
        make_request(["health"]),
    ):
        assert only(decide([record], NO_STATUTES, request)).reason_code == "no_consent"


def test_permit_cited_is_the_longest_lasting_then_newest_then_greatest_id() -> None:
    base = dt.datetime(2026, 11, 1, tzinfo=UTC)
    short = make_record("a-short", valid_until=dt.date(2027, 1, 31), recorded_at=base)
    long_old = make_record("b-long", valid_until=dt.date(2027, 6, 30), recorded_at=base)
    long_new = make_record(
        "a-long", valid_until=dt.date(2027, 6, 30), recorded_at=base + dt.timedelta(days=1)
    )
    long_new_twin = dataclasses.replace(long_new, id="c-long")
    assert only(decide([short, long_old], NO_STATUTES, make_request())).consent_id == "b-long"
    assert (
        only(decide([long_new, short, long_old], NO_STATUTES, make_request())).consent_id
        == "a-long"
    )
    assert (
        only(decide([long_new_twin, long_new], NO_STATUTES, make_request())).consent_id == "c-long"
    )


def test_pending_and_rejected_permits_allow_nothing_until_approved() -> None:
    pending = make_record(status=PENDING)
    assert not decide([pending], NO_STATUTES, make_request()).allowed
    assert not decide(
        [dataclasses.replace(pending, status=REJECTED)], NO_STATUTES, make_request()
    ).allowed
    approved = approve(pending, "sanna.sosiaalityontekija", NOW)
    assert decide([approved], NO_STATUTES, make_request()).allowed


def test_withdrawal_takes_effect_at_once() -> None:
    record = make_record()
    assert decide([record], NO_STATUTES, make_request()).allowed
    withdrawn = withdraw(record, NOW)
    assert only(decide([withdrawn], NO_STATUTES, make_request())).reason_code == "no_consent"


def test_records_are_not_filtered_by_client() -> None:
    # Choosing the client's records is the caller's job; the function trusts its input.
    record = make_record(client_id="someone-else")
    assert decide([record], NO_STATUTES, make_request()).allowed


def test_records_may_be_a_one_shot_iterator() -> None:
    records = (record for record in [make_record("c1"), make_record("c2", decision=DENY)])
    assert only(decide(records, NO_STATUTES, make_request())).reason_code == "ban"


# --- rule 4 and the decision as a whole -------------------------------------------------


def test_no_consent_is_refused_with_a_plain_reason() -> None:
    result = only(decide([], NO_STATUTES, make_request()))
    assert (result.allowed, result.basis, result.consent_id, result.statute) == (
        False,
        None,
        None,
        None,
    )
    assert result.reason_code == "no_consent"
    assert result.reason_in("en") == "The client has no valid consent for this."
    assert result.reason_in("sv").startswith("Klienten har inget giltigt samtycke")
    assert result.reason_in("de") == result.reason["fi"]


def test_categories_keep_order_and_lose_duplicates() -> None:
    request = make_request(["plan", "health", "plan", "assessment"])
    result = decide([make_record()], NO_STATUTES, request)
    assert [item.category for item in result.decisions] == ["plan", "health", "assessment"]
    assert [item.allowed for item in result.decisions] == [True, False, True]
    assert result.refused == (result.decisions[1],)


def test_decision_is_allowed_only_when_every_category_is() -> None:
    record = make_record()
    assert decide([record], NO_STATUTES, make_request(["plan", "assessment"])).allowed
    assert not decide([record], NO_STATUTES, make_request(["plan", "health"])).allowed
    assert not decide([record], NO_STATUTES, make_request([])).allowed


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide([], NO_STATUTES, make_request(at=dt.datetime(2026, 12, 31, 12, 0)))


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        (dt.datetime(2026, 12, 31, 21, 59, tzinfo=UTC), True),  # 23:59 in Helsinki
        (dt.datetime(2026, 12, 31, 21, 59, 59, 999999, tzinfo=UTC), True),
        (dt.datetime(2026, 12, 31, 22, 0, 0, tzinfo=UTC), False),  # 00:00 on 1 January
        (dt.datetime(2026, 12, 31, 22, 0, 1, tzinfo=UTC), False),
    ],
)
def test_valid_until_is_a_finnish_date_winter(at: dt.datetime, allowed: bool) -> None:
    record = make_record(valid_until=dt.date(2026, 12, 31))
    assert decide([record], NO_STATUTES, make_request(at=at)).allowed is allowed


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        (dt.datetime(2026, 6, 30, 20, 59, tzinfo=UTC), True),  # 23:59 summer time
        (dt.datetime(2026, 6, 30, 21, 0, 1, tzinfo=UTC), False),
    ],
)
def test_valid_until_is_a_finnish_date_summer(at: dt.datetime, allowed: bool) -> None:
    record = make_record(valid_from=dt.date(2026, 6, 1), valid_until=dt.date(2026, 6, 30))
    assert decide([record], NO_STATUTES, make_request(at=at)).allowed is allowed


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        (dt.datetime(2026, 12, 31, 21, 59, 59, tzinfo=UTC), False),
        (dt.datetime(2026, 12, 31, 22, 0, 0, tzinfo=UTC), True),  # midnight in Helsinki
    ],
)
def test_valid_from_is_a_finnish_date(at: dt.datetime, allowed: bool) -> None:
    record = make_record(valid_from=dt.date(2027, 1, 1))
    assert decide([record], NO_STATUTES, make_request(at=at)).allowed is allowed


# --- properties ------------------------------------------------------------------------


def subsets(items: Sequence[str]) -> st.SearchStrategy[frozenset[str]]:
    """Non-empty subsets in one draw, half of the time the full set.

    One draw is much cheaper to generate than ``st.sets``, and the bias towards the full
    set makes records cover the request often enough for bans and permits to meet.
    """
    every = [
        frozenset(item for bit, item in enumerate(items) if mask >> bit & 1)
        for mask in range(1, 2 ** len(items))
    ]
    return st.sampled_from(every + [frozenset(items)] * len(every))


# Fewer organizations than in the unit tests, so that records often cover the request.
PROPERTY_ORGS = ORGS[:2]
ORG_SETS, CAT_SETS, PURP_SETS = subsets(PROPERTY_ORGS), subsets(CATS), subsets(PURPS)


@st.composite
def record_fields(
    draw: st.DrawFn,
    decisions: Sequence[str] = (PERMIT, PERMIT, DENY),
    statuses: Sequence[str] = (ACTIVE, PENDING, ACTIVE, REJECTED, ACTIVE, WITHDRAWN),
) -> ConsentRecord:
    valid_from = TODAY + dt.timedelta(days=draw(st.integers(-2, 1)))
    decision = draw(st.sampled_from(decisions))
    status = draw(st.sampled_from(statuses))
    # Few distinct values, so that ties in the citation order do occur.
    recorded_at = NOW - dt.timedelta(days=draw(st.integers(0, 2)))
    # An approved permit's approval time: not kept (approved before such times were), or up
    # to two days after its recording, so that requests fall on both sides of it.
    approved_at = None
    if decision == PERMIT and status in (ACTIVE, WITHDRAWN) and draw(st.booleans()):
        approved_at = recorded_at + dt.timedelta(hours=draw(st.integers(0, 48)))
    return make_record(
        "unnumbered",
        decision=decision,
        status=status,
        sources=draw(ORG_SETS),
        recipients=draw(ORG_SETS),
        categories=draw(CAT_SETS),
        purposes=draw(PURP_SETS),
        valid_from=valid_from,
        valid_until=valid_from + dt.timedelta(days=draw(st.integers(0, 3))),
        recorded_at=recorded_at,
        approved_at=approved_at,
    )


def numbered(records: list[ConsentRecord], prefix: str = "c") -> list[ConsentRecord]:
    return [dataclasses.replace(record, id=f"{prefix}{i}") for i, record in enumerate(records)]


def record_lists(**kwargs: Any) -> st.SearchStrategy[list[ConsentRecord]]:
    return st.lists(record_fields(**kwargs), min_size=1, max_size=8).map(numbered)


# Helsinki midnights around NOW: where a Finnish date and a UTC date disagree.
MIDNIGHTS = [
    dt.datetime.combine(TODAY + dt.timedelta(days=days), dt.time(), HELSINKI).astimezone(UTC)
    for days in range(-1, 3)
]
moments = st.one_of(
    st.builds(
        lambda midnight, seconds: midnight + dt.timedelta(seconds=seconds),
        st.sampled_from(MIDNIGHTS),
        st.sampled_from([-3600, -1, 0, 1, 3600]),
    ),
    st.integers(-36 * 60, 36 * 60).map(lambda minutes: NOW + dt.timedelta(minutes=minutes)),
)
requests = st.builds(
    make_request,
    categories=st.lists(st.sampled_from(CATS), min_size=1, max_size=4),
    at=moments,
    source=st.sampled_from(PROPERTY_ORGS),
    recipient=st.sampled_from(PROPERTY_ORGS),
    recipient_kind=st.sampled_from(KINDS),
    purpose=st.sampled_from(PURPS),
)
statute_tables = st.sampled_from([NO_STATUTES, KELA_TABLE, default_statutes()])

PROPERTY = settings(max_examples=200, deadline=None)


def in_force_by_hand(record: ConsentRecord, at: dt.datetime) -> bool:
    """Stored active, already started at ``at`` (a ban from its recording, a permit from its
    approval where that time is kept), and the Finnish date of ``at`` within its dates."""
    day = at.astimezone(HELSINKI).date()
    start = record.recorded_at if record.decision == DENY else record.approved_at
    return (
        record.status == ACTIVE
        and (start is None or start <= at)
        and record.valid_from <= day <= record.valid_until
    )


def expected_by_consent(
    records: list[ConsentRecord], request: DisclosureRequest, category: str
) -> bool:
    """An independent statement of the rule, with the times and dates compared by hand."""
    live = [
        record
        for record in records
        if in_force_by_hand(record, request.at)
        and request.source in record.sources
        and request.recipient in record.recipients
        and request.purpose in record.purposes
        and category in record.categories
    ]
    if any(record.decision == DENY for record in live):
        return False
    return any(record.decision == PERMIT for record in live)


@PROPERTY
@given(records=record_lists(), request=requests)
@example(  # a ban recorded later the same Finnish day does not block at its midnight
    records=[SAME_DAY_BAN, SAME_DAY_PERMIT],
    request=make_request(at=HELSINKI_MIDNIGHT, source="org-a", recipient="org-a"),
)
@example(
    records=[SAME_DAY_BAN, SAME_DAY_PERMIT],
    request=make_request(at=NOW, source="org-a", recipient="org-a"),
)
def test_consent_decisions_match_the_rule_and_the_validity_dates(
    records: list[ConsentRecord], request: DisclosureRequest
) -> None:
    by_id = {record.id: record for record in records}
    for item in decide(records, NO_STATUTES, request).decisions:
        assert item.allowed == expected_by_consent(records, request, item.category)
        if item.allowed:
            cited = by_id[item.consent_id or ""]
            assert cited.decision == PERMIT
            assert in_force_by_hand(cited, request.at)
            assert cited.covers(request.source, request.recipient, request.purpose, item.category)


@PROPERTY
@given(records=record_lists(), request=requests, data=st.data())
def test_an_in_force_ban_always_wins_over_permits(
    records: list[ConsentRecord], request: DisclosureRequest, data: st.DataObject
) -> None:
    day = request.at.astimezone(HELSINKI).date()
    banned = data.draw(st.sampled_from(request.categories))
    ban = make_record(
        "ban",
        decision=DENY,
        sources=[request.source],
        recipients=[request.recipient],
        purposes=[request.purpose],
        categories=[banned],
        valid_from=day - dt.timedelta(days=data.draw(st.integers(0, 2))),
        valid_until=day + dt.timedelta(days=data.draw(st.integers(0, 2))),
    )
    # Every other record a permit covering everything: the ban must still win.
    permits = [
        dataclasses.replace(
            record, decision=PERMIT, status=ACTIVE, categories=frozenset(CATEGORIES)
        )
        for record in records
    ]
    result = decide([*permits, ban], NO_STATUTES, request)
    (item,) = [item for item in result.decisions if item.category == banned]
    assert not item.allowed
    assert (item.reason_code, item.consent_id, item.basis) == ("ban", "ban", None)


@PROPERTY
@given(records=record_lists(), request=requests, statutes=statute_tables)
def test_withdrawing_a_permit_never_widens_and_withdrawing_a_ban_never_narrows(
    records: list[ConsentRecord], request: DisclosureRequest, statutes: StatuteTable
) -> None:
    # Withdrawing a ban is meant to widen what is allowed, so the two are mirror images.
    before = allowed_set(decide(records, statutes, request))
    moment = NOW - dt.timedelta(days=30)
    for index, record in enumerate(records):
        if record.status_at(moment) != ACTIVE:
            continue
        changed = [*records[:index], withdraw(record, moment), *records[index + 1 :]]
        after = allowed_set(decide(changed, statutes, request))
        if record.decision == PERMIT:
            assert after <= before
        else:
            assert after >= before


@PROPERTY
@given(
    records=record_lists(),
    extra=record_fields(decisions=(PERMIT,)),
    request=requests,
    statutes=statute_tables,
)
def test_adding_a_permit_never_narrows(
    records: list[ConsentRecord],
    extra: ConsentRecord,
    request: DisclosureRequest,
    statutes: StatuteTable,
) -> None:
    before = allowed_set(decide(records, statutes, request))
    added = dataclasses.replace(extra, id="extra")
    assert allowed_set(decide([*records, added], statutes, request)) >= before


blanket_ban = make_record(
    "blanket-ban",
    decision=DENY,
    sources=ORGS,
    recipients=ORGS,
    categories=CATEGORIES,
    purposes=PURPOSES,
    valid_from=TODAY - dt.timedelta(days=10),
    valid_until=TODAY + dt.timedelta(days=10),
)


@PROPERTY
@given(
    rule_kind=st.sampled_from(ORGANIZATION_KINDS),
    rule_purpose=st.sampled_from(PURPOSES),
    rule_category=st.sampled_from(CATEGORIES),
    kind=st.sampled_from(ORGANIZATION_KINDS),
    purpose=st.sampled_from(PURPOSES),
    categories=st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=6),
    banned=st.booleans(),
)
def test_a_statute_opens_only_its_own_triple(
    rule_kind: str,
    rule_purpose: str,
    rule_category: str,
    kind: str,
    purpose: str,
    categories: list[str],
    banned: bool,
) -> None:
    table = StatuteTable(
        rules=(
            dataclasses.replace(
                KELA_RULE, recipient_kind=rule_kind, purpose=rule_purpose, category=rule_category
            ),
        )
    )
    request = make_request(categories, recipient_kind=kind, purpose=purpose)
    records = [blanket_ban] if banned else []
    for item in decide(records, table, request).decisions:
        opened = (kind, purpose, item.category) == (rule_kind, rule_purpose, rule_category)
        assert item.allowed is opened
        assert (item.basis == "statute") is opened
        if not opened:
            assert item.reason_code == ("ban" if banned else "no_consent")


@PROPERTY
@given(
    records=record_lists(statuses=(PENDING, REJECTED, WITHDRAWN)),
    request=requests,
)
def test_pending_rejected_or_withdrawn_records_allow_nothing(
    records: list[ConsentRecord], request: DisclosureRequest
) -> None:
    result = decide(records, NO_STATUTES, request)
    assert allowed_set(result) == set()
    assert {item.reason_code for item in result.decisions} == {"no_consent"}


@PROPERTY
@given(records=record_lists(), request=requests, statutes=statute_tables, data=st.data())
def test_the_result_does_not_depend_on_record_order(
    records: list[ConsentRecord],
    request: DisclosureRequest,
    statutes: StatuteTable,
    data: st.DataObject,
) -> None:
    shuffled = data.draw(st.permutations(records))
    assert decide(shuffled, statutes, request) == decide(records, statutes, request)

"""The consent lifecycle and the rules on new consents (pure domain)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent import model
from consent.errors import TransitionNotAllowed

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
TODAY = model.local_date(NOW)


def record(**changes):
    base = {
        "id": "c1",
        "client_id": "k1",
        "decision": model.PERMIT,
        "status": model.PENDING,
        "sources": frozenset({"a"}),
        "recipients": frozenset({"b"}),
        "categories": frozenset({"plan"}),
        "purposes": frozenset({"service_planning"}),
        "valid_from": TODAY,
        "valid_until": TODAY + dt.timedelta(days=90),
        "recorded_at": NOW,
        "recorded_by_user": "kalle",
    }
    base.update(changes)
    return model.ConsentRecord(**base)


def terms(**changes):
    base = {
        "decision": model.PERMIT,
        "grantor_type": "self",
        "method": "electronic_strong_auth",
        "evidence": {},
        "valid_from": TODAY,
        "valid_until": TODAY + dt.timedelta(days=30),
    }
    base.update(changes)
    return model.Terms(**base)


def test_lifecycle_of_a_permit():
    active = model.approve(record(), "sanna", NOW)
    assert active.status == model.ACTIVE
    assert active.in_force_at(NOW)
    withdrawn = model.withdraw(active, NOW)
    assert withdrawn.status == model.WITHDRAWN
    assert not withdrawn.in_force_at(NOW)
    assert model.reject(record(), NOW).status == model.REJECTED


def test_a_ban_starts_active_and_a_permit_pending():
    assert model.initial_status(model.DENY) == model.ACTIVE
    assert model.initial_status(model.PERMIT) == model.PENDING


@pytest.mark.parametrize("recorder", ["sanna", None])
def test_four_eyes_fails_closed(recorder):
    with pytest.raises(TransitionNotAllowed) as refused:
        model.approve(record(recorded_by_user=recorder), "sanna", NOW)
    assert refused.value.code == "four_eyes_required"


def test_a_lapsed_pending_consent_cannot_be_approved():
    lapsed = record(
        valid_from=TODAY - dt.timedelta(days=40), valid_until=TODAY - dt.timedelta(days=1)
    )
    with pytest.raises(TransitionNotAllowed) as refused:
        model.approve(lapsed, "sanna", NOW)
    assert refused.value.code == "consent_lapsed"


def test_expired_is_computed_not_stored():
    active = model.approve(record(valid_until=TODAY), "sanna", NOW)
    assert active.status_at(NOW) == model.ACTIVE
    assert active.status_at(NOW + dt.timedelta(days=1)) == model.EXPIRED
    assert active.status == model.ACTIVE
    with pytest.raises(TransitionNotAllowed) as refused:
        model.withdraw(active, NOW + dt.timedelta(days=1))
    assert refused.value.code == "consent_expired"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"valid_until": TODAY - dt.timedelta(days=1)}, "valid_until"),
        (
            {
                "valid_from": TODAY + dt.timedelta(days=10),
                "valid_until": TODAY + dt.timedelta(days=5),
            },
            "valid_until",
        ),
        ({"valid_until": model.months_after(TODAY, 24) + dt.timedelta(days=1)}, "valid_until"),
        (
            {
                "valid_from": model.months_after(TODAY, 13),
                "valid_until": model.months_after(TODAY, 14),
            },
            "valid_from",
        ),
        ({"decision": model.DENY, "grantor_type": "guardian"}, "grantor.type"),
        ({"decision": model.DENY, "grantor_type": "legal_representative"}, "grantor.type"),
        ({"method": "signed_paper"}, "evidence.reference"),
        ({"method": "verbal_witnessed", "evidence": {"reference": "r"}}, "evidence.witness_name"),
    ],
)
def test_term_violations_name_the_field(changes, field):
    problems = model.term_violations(terms(**changes), TODAY, 24)
    assert field in [problem.field for problem in problems]


def test_valid_terms_have_no_violations():
    assert model.term_violations(terms(), TODAY, 24) == []
    assert model.term_violations(terms(valid_until=model.months_after(TODAY, 24)), TODAY, 24) == []
    guardian_permit = terms(
        grantor_type="guardian", method="signed_paper", evidence={"reference": "r"}
    )
    assert model.term_violations(guardian_permit, TODAY, 24) == []


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (dt.date(2026, 1, 31), 1, dt.date(2026, 2, 28)),
        (dt.date(2028, 1, 31), 1, dt.date(2028, 2, 29)),
        (dt.date(2026, 12, 1), 24, dt.date(2028, 12, 1)),
        (dt.date(2026, 8, 31), 6, dt.date(2027, 2, 28)),
    ],
)
def test_months_after(start, months, end):
    assert model.months_after(start, months) == end


# --- the past, rebuilt ------------------------------------------------------------------


@given(
    decision=st.sampled_from([model.PERMIT, model.DENY]),
    outcome=st.sampled_from(["approve", "reject", "stay"]),
    withdraw=st.booleans(),
    gaps=st.lists(st.integers(min_value=1, max_value=10_000), min_size=3, max_size=3),
    probes=st.lists(st.integers(min_value=-5, max_value=40_000), min_size=1, max_size=12),
)
def test_the_status_at_any_moment_is_the_one_it_had_then(decision, outcome, withdraw, gaps, probes):
    """Replay a consent's life at known times; at every probed moment ``status_at`` says the
    status it really had then, however long ago."""
    recorded = NOW
    current = record(decision=decision, status=model.initial_status(decision), recorded_at=NOW)
    timeline = [(recorded, current.status)]  # (from this moment, this status)
    moment = recorded
    if decision == model.PERMIT and outcome != "stay":
        moment += dt.timedelta(seconds=gaps[0])
        if outcome == "approve":
            current = model.approve(current, "sanna", moment)
        else:
            current = model.reject(current, moment)
        timeline.append((moment, current.status))
    if withdraw and current.status == model.ACTIVE:
        moment += dt.timedelta(seconds=gaps[1])
        current = model.withdraw(current, moment)
        timeline.append((moment, current.status))
    for offset in probes:
        probe = recorded + dt.timedelta(seconds=offset)
        expected = model.PENDING  # before it was recorded it was in force for nobody
        for since, status in timeline:
            if probe >= since:
                expected = status
        assert current.status_at(probe) == expected, (timeline, probe)
        assert current.in_force_at(probe) == (expected == model.ACTIVE)


def test_a_record_without_transition_times_keeps_its_stored_status():
    legacy = record(status=model.ACTIVE)  # approved before approval times were kept
    assert legacy.status_at(NOW - dt.timedelta(days=30)) == model.ACTIVE
    assert record(status=model.WITHDRAWN).status_at(NOW) == model.WITHDRAWN

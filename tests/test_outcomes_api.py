"""The outcome report over HTTP: who may see what, whole-month windows, one count per client,
suppression and rounding, refusal of small reports, CSV, and the audit of every report."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from consent.identifiers import hetu_check_char
from exchange.clients.service import ClientService
from exchange.periods.models import CLOSED, ServicePeriod
from exchange.periods.report import Cell, Group, Report
from exchange.policy import Identity
from exchange.unit import UnitOfWork
from tests.conftest import audit_rows


def synthetic_hetus() -> Iterator[str]:
    """Identity codes of made-up people: individual numbers 900-999 only."""
    day = dt.date(1980, 1, 1)
    while True:
        for individual in range(900, 1000):
            digits = f"{day:%d%m%y}{individual}"
            yield f"{day:%d%m%y}-{individual}{hetu_check_char(digits)}"
        day += dt.timedelta(days=1)


@pytest.fixture
def world(make_org):
    return {
        "kisalli": make_org(
            "kisalli",
            kind="provider",
            users=[("kalle.valmentaja", ["staff"]), ("raisa.raportoija", ["reporter"])],
        ),
        "paja": make_org("paja", kind="provider", users=[("pekka.paja", ["staff"])]),
    }


@pytest.fixture
def seed(rt, session):
    hetus = synthetic_hetus()
    clients = ClientService(UnitOfWork(lambda: session), rt.keys)

    def add(organization: str, outcome: str, ended: dt.date, client_id: str | None = None) -> str:
        if client_id is None:
            registrar = Identity(organization=organization)
            client_id = clients.lookup(registrar, next(hetus))[0].id
        session.add(
            ServicePeriod(
                id=str(uuid.uuid4()),
                client_id=client_id,
                organization_id=organization,
                service="kuntouttava_tyotoiminta",
                start=ended - dt.timedelta(days=120),
                planned_end=ended,
                days_per_week=3,
                hours_per_day=5,
                status=CLOSED,
                ended_on=ended,
                outcome=outcome,
                recorded_by_user="kalle.valmentaja",
            )
        )
        session.commit()
        return client_id

    return add


def report(http, world, org="kisalli", user="kalle.valmentaja", **query):
    params = {"from": "2026-01", "to": "2026-06"} | query
    return http.get(
        "/v1/reports/outcomes",
        query_string=params,
        headers=world[org].client.headers(user),
    )


def cells(answer) -> dict[str, object]:
    (group,) = answer.get_json()["groups"]
    return {cell["outcome"]: cell["count"] for cell in group["cells"]}


def test_the_report_counts_suppresses_rounds_and_is_audited(http, world, seed, rt):
    for n in range(12):
        seed("kisalli", "continued_same_service", dt.date(2026, 3, 1 + n))
    for n in range(7):
        seed("kisalli", "employed", dt.date(2026, 4, 1 + n))
    for n in range(2):
        seed("kisalli", "studies", dt.date(2026, 5, 1 + n))
    seed("paja", "employed", dt.date(2026, 4, 1))  # another organization's
    seed("kisalli", "employed", dt.date(2026, 7, 1))  # after the window
    answer = report(http, world)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["total"] == 20  # 21 clients, rounded to a multiple of 5
    counted = cells(answer)
    assert counted["continued_same_service"] == 10  # 12
    assert counted["employed"] == 5  # 7
    assert counted["studies"] == "<5"  # 2
    assert counted["moved_away"] == 0
    assert body["groups"][0]["suppressed"] is True
    assert audit_rows(rt, action="report.outcomes")


def test_a_client_counts_once_by_their_last_period(http, world, seed):
    client = seed("kisalli", "continued_same_service", dt.date(2026, 2, 1))
    seed("kisalli", "continued_same_service", dt.date(2026, 4, 1), client_id=client)
    seed("kisalli", "employed", dt.date(2026, 6, 1), client_id=client)
    for n in range(10):
        seed("kisalli", "studies", dt.date(2026, 3, 1 + n))
    answer = report(http, world)
    assert answer.status_code == 200
    counted = cells(answer)
    assert counted["employed"] == "<5"  # one client, by the latest outcome
    assert counted["continued_same_service"] == 0  # not counted again for earlier periods
    assert counted["studies"] == 10


def test_a_report_over_fewer_than_ten_clients_is_refused(http, world, seed, rt):
    for n in range(9):
        seed("kisalli", "employed", dt.date(2026, 2, 1 + n))
    refused = report(http, world)
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "report_too_small"
    assert audit_rows(rt, action="report.outcomes", outcome="denied")
    seed("kisalli", "studies", dt.date(2026, 2, 20))
    assert report(http, world).status_code == 200


def test_other_organizations_only_with_the_reporting_role(http, world, seed):
    for n in range(10):
        seed("kisalli", "employed", dt.date(2026, 2, 1 + n))
        seed("paja", "studies", dt.date(2026, 2, 1 + n))
    staff = report(http, world, organization="paja")
    assert staff.status_code == 403
    assert staff.get_json()["code"] == "role_required"
    own = report(http, world)  # a staff member's report is their own organization's
    assert cells(own)["studies"] == 0
    everyone = report(http, world, user="raisa.raportoija", group_by="organization")
    assert everyone.status_code == 200
    groups = {group["key"]: group["total"] for group in everyone.get_json()["groups"]}
    assert groups == {"kisalli": 10, "paja": 10}
    assert everyone.get_json()["total"] == 20


def test_the_subtraction_attack_across_two_overlapping_reports(http, world, seed):
    """January-June has 7 employed; January-July adds two more. The difference of the two
    published reports must not say "2"."""
    for n in range(7):
        seed("kisalli", "employed", dt.date(2026, 3, 1 + n))
    for n in range(10):
        seed("kisalli", "continued_same_service", dt.date(2026, 4, 1 + n))
    seed("kisalli", "employed", dt.date(2026, 7, 2))
    seed("kisalli", "employed", dt.date(2026, 7, 3))
    first = report(http, world, to="2026-06")
    second = report(http, world, to="2026-07")
    difference = cells(second)["employed"] - cells(first)["employed"]
    assert difference != 2
    assert second.get_json()["total"] - first.get_json()["total"] != 2


def test_csv_and_bad_windows(http, world, seed):
    for n in range(10):
        seed("kisalli", "employed", dt.date(2026, 2, 1 + n))
    exported = report(http, world, format="csv")
    assert exported.status_code == 200
    assert exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert {row["outcome"] for row in rows} >= {"employed", "unknown"}
    assert next(row for row in rows if row["outcome"] == "employed")["count"] == "10"
    assert report(http, world, **{"from": "2026-13"}).status_code == 422
    backwards = report(http, world, **{"from": "2026-06", "to": "2026-01"})
    assert backwards.status_code == 422
    assert report(http, world, group_by="colour").status_code == 422


def test_the_report_page_in_finnish_with_csv(app, world, seed, session, make_org, rt):
    from tests.webtools import give_passwords, sign_in

    make_org("valvonta", kind="other", users=[("aino.auditoija", ["auditor"])])
    for n in range(12):
        seed("kisalli", "employed", dt.date(2026, 2, 1 + n))
    give_passwords(session, rt, ("kalle.valmentaja", "aino.auditoija"))
    browser = app.test_client()
    assert sign_in(browser, "kalle.valmentaja").status_code == 302
    page = browser.get("/ui/reports/outcomes?from=2026-01&to=2026-06")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Palvelujaksojen tulokset" in text
    assert '<th scope="row">Työllistyi</th><td>10</td><td>100,0</td>' in text
    assert 'name="organization"' not in text  # only a reporter chooses organizations
    exported = browser.get("/ui/reports/outcomes.csv?from=2026-01&to=2026-06")
    assert exported.mimetype == "text/csv"
    assert "employed,10" in exported.get_data(as_text=True)
    small = browser.get("/ui/reports/outcomes?from=2025-01&to=2025-02")
    assert "alle 10 asiakasta" in small.get_data(as_text=True)
    # The page answers the refusal itself; it is audited as the API's is.
    [refused] = audit_rows(rt, action="report.outcomes", outcome="denied")
    assert (refused.actor_client, refused.actor_user, refused.reason) == (
        "web",
        "kalle.valmentaja",
        "too_few_clients",
    )
    bad = browser.get("/ui/reports/outcomes?from=2026-13&to=2026-06")
    assert bad.status_code == 422
    auditor = app.test_client()
    assert sign_in(auditor, "aino.auditoija").status_code == 302
    assert auditor.get("/ui/reports/outcomes").status_code == 403


def _signed_in_browser(app, session, rt, username="kalle.valmentaja"):
    from exchange.registry.models import User
    from tests.webtools import PASSWORD, sign_in

    session.get(User, username).password_hash = rt.passwords.hash(PASSWORD)
    session.commit()
    browser = app.test_client()
    assert sign_in(browser, username).status_code == 302
    return browser


def test_the_report_page_draws_the_table_as_an_accessible_chart(app, world, seed, session, rt):
    for n in range(12):
        seed("kisalli", "employed", dt.date(2026, 2, 1 + n))
    for n in range(7):
        seed("kisalli", "studies", dt.date(2026, 3, 1 + n))
    for n in range(2):
        seed("kisalli", "moved_away", dt.date(2026, 4, 1 + n))
    browser = _signed_in_browser(app, session, rt)

    text = browser.get("/ui/reports/outcomes?from=2026-01&to=2026-06").get_data(as_text=True)

    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td>([^<]+)</td>', text)
    (svg,) = re.findall(r"<svg.*?</svg>", text, re.S)
    assert 'role="img"' in svg
    assert 'aria-labelledby="chart-1-title chart-1-desc"' in svg
    assert '<title id="chart-1-title">Mihin asiakkaat siirtyivät: Kaikki</title>' in svg
    (desc,) = re.findall(r'<desc id="chart-1-desc">(.*?)</desc>', svg, re.S)
    assert "Työllistyi: 10 asiakasta" in desc
    assert "Opiskelu: 5 asiakasta" in desc
    assert "Muutti pois: alle 5 asiakasta" in desc
    # One labelled bar per table row, in the table's order, its number written beside it.
    bars = re.findall(
        r'<g class="bar" data-outcome-count="([^"]+)">\s*<text[^>]*>([^<]+)</text>', svg
    )
    assert [(label, count) for count, label in bars] == rows
    assert len(rows) == 10
    # Bar lengths in proportion to the counts; no bar for a zero or a suppressed count.
    widths = [float(w) for w in re.findall(r'<rect x="\d+" y="\d+" width="([\d.]+)"', svg)]
    drawn = [int(count) for count, _ in bars if count not in ("0", "&lt;5")]
    assert drawn == [10, 5]
    assert widths[0] / widths[1] == pytest.approx(drawn[0] / drawn[1])


@pytest.mark.parametrize(
    ("groups", "sentence"),
    [
        ((), "Yksikään palvelujakso ei päättynyt valittuina kuukausina."),
        (
            (Group("all", 10, (Cell("employed", "<5", None), Cell("studies", 0, 0.0)), True),),
            "Millään tuloksella ei ole tässä vähintään viittä asiakasta",
        ),
    ],
)
def test_a_report_without_bars_says_so_instead_of_a_chart(
    app, world, session, rt, monkeypatch, groups, sentence
):
    class Answer:
        registry = SimpleNamespace(parties=list)  # the form's organizations: none here

        def outcome_report(self, identity, args):
            return Report(groups, 10)

    monkeypatch.setattr("exchange.web.pages_reports.services", Answer)
    browser = _signed_in_browser(app, session, rt)

    text = browser.get("/ui/reports/outcomes?from=2026-01&to=2026-06").get_data(as_text=True)

    assert "<svg" not in text
    assert sentence in text

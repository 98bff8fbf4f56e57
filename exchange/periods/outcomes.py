"""The outcome report's query: where clients went after their service periods, counted
per group, then published through ``report.publish`` (suppression and rounding)."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from exchange import audit
from exchange.errors import Denial, FieldError, Forbidden, Invalid
from exchange.periods.models import CLOSED, ServicePeriod
from exchange.periods.report import OTHER, TOO_FEW_CLIENTS, Report, ReportRefused, publish
from exchange.policy import Identity
from exchange.unit import UnitOfWork

GROUPINGS = ("none", "organization", "service")
REPORTING_ROLE = "reporter"


@dataclass(frozen=True)
class Window:
    """Whole months, first day to last day: finer windows would make differencing easier."""

    first: dt.date
    last: dt.date

    @classmethod
    def months(cls, start: str, end: str) -> Window:
        first = _month(start, "from")
        last_month = _month(end, "to")
        last = last_month.replace(day=calendar.monthrange(last_month.year, last_month.month)[1])
        if last < first:
            raise Invalid(
                "The window ends before it starts.",
                errors=[FieldError("to", "Must be the same month as 'from' or later.")],
            )
        return cls(first, last)


def _month(text: str, field: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError as exc:
        raise Invalid(
            "Months are written YYYY-MM.", errors=[FieldError(field, "Not a month (YYYY-MM).")]
        ) from exc


def outcome_report(uow: UnitOfWork, identity: Identity, args: dict[str, Any]) -> Report:
    """Count each client once, by the outcome (and in the group) of their last period ending
    in the window; refuse what the caller may not see or what would be unsafe to publish."""
    session = uow.session
    window = Window.months(args["from"], args["to"])
    wanted = args.get("organization")
    reporter = REPORTING_ROLE in identity.roles
    if not reporter and wanted not in (None, identity.organization):
        raise uow.refuse(
            Forbidden(
                "Only a user with the reporting role sees other organizations' outcomes.",
                code="role_required",
            ),
            Denial("report.outcomes", reason="role_required"),
        )
    if not reporter:
        wanted = identity.organization
    query = select(
        ServicePeriod.client_id,
        ServicePeriod.organization_id,
        ServicePeriod.service,
        ServicePeriod.outcome,
        ServicePeriod.ended_on,
        ServicePeriod.id,
    ).where(
        ServicePeriod.status == CLOSED,
        ServicePeriod.ended_on >= window.first,
        ServicePeriod.ended_on <= window.last,
    )
    if wanted:
        query = query.where(ServicePeriod.organization_id == wanted)
    if args.get("service"):
        query = query.where(ServicePeriod.service == args["service"])
    grouping = args.get("group_by", "none")
    # One count per client, in one group only: their last period in the window decides both.
    latest: dict[str, tuple[Any, str, str, Any]] = {}
    for client, org, service, outcome, ended, period_id in session.execute(query):
        group = {"none": "all", "organization": org, "service": service}[grouping]
        if group == OTHER:  # the name publish() gives merged small groups
            group = f"{OTHER} ({grouping})"
        if client not in latest or (ended, period_id) > latest[client][:2]:
            latest[client] = (ended, period_id, group, outcome)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for _ended, _id, group, outcome in latest.values():
        counts[group][outcome] += 1
    reason = (
        f"from={window.first} to={window.last} organization={wanted or '*'} "
        f"service={args.get('service') or '*'} group_by={grouping}"
    )
    try:
        report = publish(counts)
    except ReportRefused as refused:
        too_small = refused.reason == TOO_FEW_CLIENTS
        raise uow.refuse(
            Forbidden(
                "The report would cover fewer than 10 clients; it is not shown, so that nobody "
                "can be recognised."
                if too_small
                else "The report's numbers would let someone work out a count under 5; it is "
                "not shown. Choose a longer window or another grouping.",
                code="report_too_small" if too_small else "report_not_publishable",
            ),
            Denial("report.outcomes", reason=refused.reason),
        ) from refused
    audit.record(session, identity, "report.outcomes", resource_type="report", reason=reason)
    return report

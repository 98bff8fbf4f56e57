"""The outcome report page: the API's query and publication rules, readably, with CSV."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, redirect, render_template, request, url_for
from marshmallow import ValidationError

from adapters.db import utcnow
from consent.model import local_date
from exchange.acting import current_identity
from exchange.errors import Forbidden
from exchange.labels import VOCABULARIES
from exchange.periods.report import Report, report_csv
from exchange.services import services
from exchange.web import blp, organization_choices, signed_in
from exchange.web.auth import page
from exchange.web.charts import outcome_chart
from schemas import flatten_errors
from schemas.periods import OutcomeReportArgs
from schemas.sections import SERVICES

OUTCOME_LABELS = VOCABULARIES["period_outcome"]
FIELDS = ("from", "to", "organization", "service", "group_by")


def _given() -> dict[str, str]:
    today = local_date(utcnow())
    year_ago = (today.replace(day=1) - dt.timedelta(days=335)).replace(day=1)
    given = {"from": f"{year_ago:%Y-%m}", "to": f"{today:%Y-%m}", "group_by": "none"}
    given.update({name: request.args[name].strip() for name in FIELDS if request.args.get(name)})
    return given


def _report(given: dict[str, str]) -> tuple[Report | None, dict[str, list[str]], Any]:
    try:
        args: dict[str, Any] = OutcomeReportArgs().load(given)
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for error in flatten_errors(exc.messages):
            errors.setdefault(error.field, []).append(error.message)
        return None, errors, None
    args["from"] = args.pop("from_")
    try:
        report = services().outcome_report(current_identity(), args)
    except Forbidden as refused:
        if refused.code not in ("report_too_small", "report_not_publishable"):
            raise
        return None, {}, refused
    return report, {}, None


@blp.get("/reports/outcomes")
@page("report.outcomes")
def outcomes() -> tuple[str, int]:
    """Where clients went after their service periods."""
    user = signed_in()
    given = _given()
    report, errors, refused = _report(given)
    status = 422 if errors else 200
    return render_template(
        "web/outcomes.html",
        user=user,
        given=given,
        report=report,
        errors=errors,
        refused=refused,
        labels=OUTCOME_LABELS,
        charts=[outcome_chart(group, OUTCOME_LABELS) for group in report.groups] if report else [],
        services=SERVICES,
        organizations=organization_choices(services().registry.parties()),
        reporter="reporter" in user.roles,
    ), status


@blp.get("/reports/outcomes.csv")
@page("report.outcomes")
def outcomes_csv() -> Response:
    given = _given()
    report = _report(given)[0]
    if report is None:  # the page says why
        target: dict[str, Any] = dict(given)
        return redirect(url_for("web.outcomes", **target))  # type: ignore[return-value]
    return Response(
        report_csv(report),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="outcomes.csv"'},
    )

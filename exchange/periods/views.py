"""``/v1/service-periods`` and ``/v1/reports/outcomes``."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from exchange.acting import current_identity
from exchange.http import ApiBlueprint
from exchange.periods.report import report_csv
from exchange.services import services
from schemas.periods import (
    NextStep,
    OutcomeReportArgs,
    OutcomeReportOut,
    PeriodClose,
    PeriodCreate,
    PeriodListArgs,
    PeriodOut,
    PeriodPage,
)

blp = ApiBlueprint("periods", __name__, url_prefix="/v1", description="Service periods")


@blp.route("/service-periods")
class Periods(MethodView):
    @blp.action("period.record", errors=(422,))
    @blp.arguments(PeriodCreate)
    @blp.response(201, PeriodOut)
    def post(self, body: dict[str, Any]) -> Any:
        """Record a period of a service your organization provides.

        The kuty rules of the `service_period` section apply (days a week, hours a day,
        contract length). A `next_step` (path and owning organization) may be given now
        or later; a period ending within 30 days without one is escalated."""
        return services().periods.record(current_identity(), body)

    @blp.action("period.list", errors=(422,))
    @blp.arguments(PeriodListArgs, location="query")
    @blp.response(200, PeriodPage)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Periods your organization provides or owns the next step of, newest first."""
        page = services().periods.list_visible(current_identity(), args)
        return {"items": list(page.items), "next_cursor": page.next_cursor}


@blp.route("/service-periods/<string:period_id>")
class PeriodItem(MethodView):
    @blp.action("period.read", errors=(404,))
    @blp.response(200, PeriodOut)
    def get(self, period_id: str) -> Any:
        """One period (the provider's, or the next step owner's)."""
        return services().periods.read(current_identity(), period_id)


@blp.route("/service-periods/<string:period_id>/next-step")
class PeriodNextStep(MethodView):
    @blp.action("period.next_step", errors=(404, 422))
    @blp.arguments(NextStep)
    @blp.response(200, PeriodOut)
    def post(self, body: dict[str, str], period_id: str) -> Any:
        """Set the continuation path after the period and the organization that owns it."""
        return services().periods.set_next_step(current_identity(), period_id, body)


@blp.route("/service-periods/<string:period_id>/close")
class PeriodClose_(MethodView):
    @blp.action("period.close", errors=(404, 409, 422))
    @blp.arguments(PeriodClose)
    @blp.response(200, PeriodOut)
    def post(self, body: dict[str, Any], period_id: str) -> Any:
        """Close the period with its outcome (where the client went) and last day."""
        return services().periods.close(current_identity(), period_id, body)


@blp.route("/reports/outcomes")
class OutcomeReport(MethodView):
    @blp.action("report.outcomes", errors=(422,))
    @blp.arguments(OutcomeReportArgs, location="query")
    @blp.response(200, OutcomeReportOut)
    @blp.also_returns(text_csv="`format=csv`: one row per group and outcome")
    def get(self, args: dict[str, Any]) -> Any:
        """Where clients went after their service periods: counts and percentages per outcome.

        Each client counts once, by their last period ending in the window (whole
        months, `from` and `to` as `YYYY-MM`). Counts under 5 are shown as `"<5"`; every
        other count and every total is rounded to a multiple of 5, so that no subtraction,
        within a report or between two, gives a small group's exact count. A report over
        fewer than 10 clients is refused (403 `report_too_small`), and so is one whose
        totals would pin a "<5" to one value (403 `report_not_publishable`). Your own organization;
        others and all together with the `reporter` role. `format=csv` for a spreadsheet."""
        args["from"] = args.pop("from_")
        report = services().outcome_report(current_identity(), args)
        window = {"from": args["from"], "to": args["to"]}
        if args["format"] == "csv":
            return Response(
                report_csv(report),
                mimetype="text/csv",
                headers={"Content-Disposition": 'attachment; filename="outcomes.csv"'},
            )
        return {
            "window": window,
            "group_by": args["group_by"],
            "total": report.total,
            "groups": [
                {
                    "key": group.key,
                    "total": group.total,
                    "suppressed": group.suppressed,
                    "cells": [
                        {"outcome": c.outcome, "count": c.count, "percent": c.percent}
                        for c in group.cells
                    ],
                }
                for group in report.groups
            ],
        }

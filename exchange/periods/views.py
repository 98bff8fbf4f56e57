"""``/v1/service-periods`` and ``/v1/reports/outcomes``."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from exchange.acting import acting_user, optional_acting_user
from exchange.http import ApiBlueprint
from exchange.oauth import authenticate, require_scopes
from exchange.periods.service import PeriodService
from exchange.runtime import current_actor, db_session, runtime
from schemas.periods import (
    NextStep,
    PeriodClose,
    PeriodCreate,
    PeriodListArgs,
    PeriodOut,
    PeriodPage,
)

blp = ApiBlueprint("periods", __name__, url_prefix="/v1", description="Service periods")


def service() -> PeriodService:
    return PeriodService(db_session(), runtime().keys)


@blp.route("/service-periods")
class Periods(MethodView):
    @blp.protected("clients:manage", acting_user=True, errors=(422,))
    @require_scopes("clients:manage")
    @blp.arguments(PeriodCreate)
    @blp.response(201, PeriodOut)
    def post(self, body: dict[str, Any]) -> Any:
        """Record a period of a service your organization provides.

        The kuty rules of the `service_period` section apply (days a week, hours a day,
        contract length). A `next_step` (path and owning organization) may be given now
        or later; a period ending within 30 days without one is escalated."""
        principal = authenticate()
        user = acting_user(principal)
        return service().record(body, principal.organization, user.username, current_actor())

    @blp.protected("clients:manage", errors=(422,))
    @require_scopes("clients:manage")
    @blp.arguments(PeriodListArgs, location="query")
    @blp.response(200, PeriodPage)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Periods your organization provides or owns the next step of, newest first."""
        principal = authenticate()
        optional_acting_user(principal)
        page = service().list_visible(principal.organization, args, current_actor())
        return {"items": list(page.items), "next_cursor": page.next_cursor}


@blp.route("/service-periods/<string:period_id>")
class PeriodItem(MethodView):
    @blp.protected("clients:manage", errors=(404,))
    @require_scopes("clients:manage")
    @blp.response(200, PeriodOut)
    def get(self, period_id: str) -> Any:
        """One period (the provider's, or the next step owner's)."""
        principal = authenticate()
        optional_acting_user(principal)
        return service().read(period_id, principal.organization, current_actor())


@blp.route("/service-periods/<string:period_id>/next-step")
class PeriodNextStep(MethodView):
    @blp.protected("clients:manage", acting_user=True, errors=(404, 422))
    @require_scopes("clients:manage")
    @blp.arguments(NextStep)
    @blp.response(200, PeriodOut)
    def post(self, body: dict[str, str], period_id: str) -> Any:
        """Set the continuation path after the period and the organization that owns it."""
        principal = authenticate()
        acting_user(principal)
        return service().set_next_step(period_id, principal.organization, body, current_actor())


@blp.route("/service-periods/<string:period_id>/close")
class PeriodClose_(MethodView):
    @blp.protected("clients:manage", acting_user=True, errors=(404, 409, 422))
    @require_scopes("clients:manage")
    @blp.arguments(PeriodClose)
    @blp.response(200, PeriodOut)
    def post(self, body: dict[str, Any], period_id: str) -> Any:
        """Close the period with its outcome (where the client went) and last day."""
        principal = authenticate()
        user = acting_user(principal)
        return service().close(
            period_id, principal.organization, user.username, body, current_actor()
        )

"""Auditor endpoints (SPEC section 4, "Audit") and the client's access report."""

from __future__ import annotations

from typing import Any

from flask import Response, render_template, request, stream_with_context
from flask.views import MethodView

from exchange.acting import current_identity
from exchange.audit.export import HEADER_LANGUAGES, PLAIN, excel_form
from exchange.audit.report import report_page
from exchange.http import ApiBlueprint
from exchange.services import services
from exchange.streams import guarded
from schemas.audit import (
    AccessReportArgs,
    AccessReportOut,
    AuditPage,
    AuditQueryArgs,
    CheckpointList,
    CheckpointOut,
    ConsistencyArgs,
    ConsistencyOut,
    InclusionOut,
    ProofArgs,
    VerifyArgs,
    VerifyOut,
)

blp = ApiBlueprint("audit", __name__, url_prefix="/v1", description="Audit log")


@blp.route("/audit/events")
class AuditEvents(MethodView):
    @blp.action("audit.search", errors=(422,))
    @blp.arguments(AuditQueryArgs, location="query")
    @blp.response(200, AuditPage)
    @blp.also_returns(
        text_csv="`format=csv`: every match, streamed (`dialect=excel`: for a spreadsheet)",
        application_x_ndjson="`format=jsonl`: every match, streamed",
    )
    def get(self, args: dict[str, Any]) -> Any:
        """Search the events you may see (stable order: sequence number): those of your
        organization's people and systems, and every event about a packet or consent your
        organization is party to (sender, recipient; recorder, approver, source, recipient),
        whoever acted; a `supervisor` organization's auditor sees every event.
        `organization` filters by the organization that acted.

        `format=csv` or `jsonl` streams every match without paging; `format=csv&dialect=excel`
        is for a spreadsheet (UTF-8 with a byte order mark, `;`-separated, headers in the
        language of `Accept-Language`). Your own searches are audited (`audit.read`)."""
        identity = current_identity()
        found = services()
        found.audit.audit_search(identity, args)
        if args["format"] == "json":
            return found.audit.page(identity, args)
        # The search itself is committed before the export streams, so it is in the log.
        found.uow.commit()
        form = PLAIN
        if args.get("dialect") == "excel":
            language = request.accept_languages.best_match(HEADER_LANGUAGES, default="en")
            form = excel_form(language or "en")
        body, mimetype = found.audit.export(identity, args, form)
        return Response(
            stream_with_context(guarded(body, mimetype, form.delimiter)), mimetype=mimetype
        )


@blp.route("/audit/verify")
class AuditVerify(MethodView):
    @blp.action("audit.verify", errors=(422,))
    @blp.arguments(VerifyArgs, location="query")
    @blp.response(200, VerifyOut)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Recompute the whole log: leaves, chain and every signed checkpoint, and the
        checkpoint you kept (`checkpoint`), which the log must still contain."""
        report = services().audit.verify(current_identity(), args.get("checkpoint"))
        return report.as_dict()


@blp.route("/audit/checkpoints")
class AuditCheckpoints(MethodView):
    @blp.action("audit.checkpoints")
    @blp.response(200, CheckpointList)
    def get(self) -> dict[str, Any]:
        """The signed checkpoints (tree size, root, chain head, time), newest first."""
        return {"items": services().audit.checkpoints(current_identity())}

    @blp.action("audit.checkpoint")
    @blp.response(201, CheckpointOut)
    def post(self) -> Any:
        """Seal what is pending and sign a checkpoint now."""
        return services().audit.checkpoint_now(current_identity())


@blp.route("/audit/events/<int:seq>/proof")
class AuditInclusion(MethodView):
    @blp.action("audit.proof", errors=(404, 422))
    @blp.arguments(ProofArgs, location="query")
    @blp.response(200, InclusionOut)
    def get(self, args: dict[str, Any], seq: int) -> dict[str, Any]:
        """Proof that event `seq` is in the tree of a signed checkpoint (RFC 9162 §2.1.3)."""
        return services().audit.inclusion(current_identity(), seq, args.get("tree_size"))


@blp.route("/audit/consistency")
class AuditConsistency(MethodView):
    @blp.action("audit.consistency", errors=(404, 422))
    @blp.arguments(ConsistencyArgs, location="query")
    @blp.response(200, ConsistencyOut)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Proof that the checkpoint of size `to` extends that of size `from` (RFC 9162 §2.1.4)."""
        return services().audit.consistency(current_identity(), args["from_"], args["to"])


@blp.route("/clients/<string:client_id>/access-report")
class AccessReport(MethodView):
    @blp.action("client.access_report", errors=(404, 422))
    @blp.arguments(AccessReportArgs, location="query")
    @blp.response(200, AccessReportOut)
    @blp.also_returns(text_html="Printable page (`format=html`)")
    def get(self, args: dict[str, Any], client_id: str) -> Any:
        """Who saw or received the client's data, when, on which basis ("who has seen my data").

        For social workers of organizations involved with the client."""
        report = services().access_report(current_identity(), client_id, args["lang"])
        if args["format"] == "html":
            person = services().clients.for_printout(client_id)
            page = report_page(report, args["lang"], person)
            return Response(render_template("access_report.html", **page), mimetype="text/html")
        return report

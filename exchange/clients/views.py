"""Client endpoints."""

from __future__ import annotations

from typing import Any

from flask.blueprints import BlueprintSetupState
from flask.views import MethodView
from werkzeug.routing import BaseConverter

from exchange.acting import current_identity
from exchange.http import ApiBlueprint
from exchange.services import services
from schemas.clients import (
    LOOKUP_EXAMPLE,
    ClientLookupRequest,
    ClientLookupResponse,
    ClientOut,
    ClientRevealOut,
)

blp = ApiBlueprint("clients", __name__, url_prefix="/v1/clients", description="Clients (persons)")


class RecordIdConverter(BaseConverter):
    """A client id in ``/v1/clients/<id>``: any path part but ``lookup``, so that a GET of
    ``/v1/clients/lookup`` stays 405 (POST only) instead of reading a client named "lookup"."""

    regex = r"(?!lookup$)[^/]+"


@blp.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    # Recorded before the routes below, so it is in place when they are added.
    state.app.url_map.converters["client_record_id"] = RecordIdConverter


@blp.route("/lookup")
class ClientLookup(MethodView):
    @blp.action("client.lookup", errors=(413, 415, 422))
    @blp.arguments(ClientLookupRequest, example=LOOKUP_EXAMPLE)
    @blp.response(200, ClientLookupResponse)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Find a client by identity code, creating the record if new.

        Needs `X-Acting-User`. The identity code is stored only encrypted; so is the
        `name` when one is given (it replaces a name stored before). The answer is the
        opaque id used everywhere else."""
        client, _created = services().clients.lookup(
            current_identity(), body["hetu"], body.get("name")
        )
        return {"id": client.id}


@blp.route("/<client_record_id:client_id>")
class ClientRead(MethodView):
    @blp.action("client.read", errors=(404,))
    @blp.response(200, ClientOut)
    def get(self, client_id: str) -> dict[str, Any]:
        """The client's name (null when none was given) and identity code masked to its
        date part, for organizations involved with the client."""
        record = services().clients.read(current_identity(), client_id)
        return {"id": record.id, "name": record.name, "hetu_masked": record.hetu_masked}


@blp.route("/<string:client_id>/reveal")
class ClientReveal(MethodView):
    @blp.action("client.reveal", errors=(404,))
    @blp.response(200, ClientRevealOut, headers={"Cache-Control": {"schema": {"type": "string"}}})
    def post(self, client_id: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        """The client's full identity code, for a person of an involved organization;
        audited as `client.reveal`. Never cached (`Cache-Control: no-store`)."""
        hetu = services().clients.reveal(current_identity(), client_id)
        return {"id": client_id, "hetu": hetu}, 200, {"Cache-Control": "no-store"}

"""Client endpoints."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from exchange.acting import current_identity
from exchange.http import ApiBlueprint
from exchange.services import services
from schemas.clients import ClientLookupRequest, ClientLookupResponse

blp = ApiBlueprint("clients", __name__, url_prefix="/v1/clients", description="Clients (persons)")


@blp.route("/lookup")
class ClientLookup(MethodView):
    @blp.action("client.lookup", errors=(413, 415, 422))
    @blp.arguments(ClientLookupRequest)
    @blp.response(200, ClientLookupResponse)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Find a client by identity code, creating the record if new.

        Needs `X-Acting-User`. The identity code is stored only encrypted;
        the answer is the opaque id used everywhere else."""
        client, _created = services().clients.lookup(current_identity(), body["hetu"])
        return {"id": client.id}

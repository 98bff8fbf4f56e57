"""Client endpoints."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from exchange.acting import acting_user
from exchange.clients.service import ClientService
from exchange.http import ApiBlueprint
from exchange.oauth import authenticate, require_scopes
from exchange.runtime import current_actor, db_session, runtime
from schemas.clients import ClientLookupRequest, ClientLookupResponse

blp = ApiBlueprint("clients", __name__, url_prefix="/v1/clients", description="Clients (persons)")


@blp.route("/lookup")
class ClientLookup(MethodView):
    @blp.protected("clients:manage", "consents:write", acting_user=True, errors=(413, 415, 422))
    @require_scopes("clients:manage", "consents:write")
    @blp.arguments(ClientLookupRequest)
    @blp.response(200, ClientLookupResponse)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Find a client by identity code, creating the record if new.

        Needs `X-Acting-User`. The identity code is stored only encrypted;
        the answer is the opaque id used everywhere else."""
        acting_user(authenticate())
        client, _created = ClientService(db_session(), runtime().keys).lookup(
            body["hetu"], current_actor()
        )
        return {"id": client.id}

"""Swagger UI's own files, served by the service so that ``/docs`` works with no network.

The assets come from the ``flask-swagger-ui`` distribution (its ``dist`` folder: Swagger
UI 5, which renders OpenAPI 3.1); flask-smorest renders the page and loads them from
``EXCHANGE_SWAGGER_UI_URL``, by default this blueprint's ``/docs/assets/``.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response, send_from_directory
from werkzeug.exceptions import NotFound

from exchange.policy import public

ASSETS_URL = "/docs/assets/"
ASSETS_DIR = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
# The files the page loads, and what the browser needs to know of them; nothing else of the
# distribution (source maps, licences) is served.
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "favicon-16x16.png": "image/png",
    "favicon-32x32.png": "image/png",
}
CACHE_SECONDS = 86400  # the files change only with the installed package

blp = Blueprint("apidocs", __name__)


@blp.get(ASSETS_URL + "<name>")
@public
def asset(name: str) -> Response:
    """One of Swagger UI's files; 404 for anything else."""
    if name not in ASSETS:
        raise NotFound()
    return send_from_directory(
        ASSETS_DIR, name, mimetype=ASSETS[name], max_age=CACHE_SECONDS, conditional=True
    )

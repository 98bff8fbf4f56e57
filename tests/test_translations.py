"""Every text of the web UI has a Finnish and a Swedish translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory):
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    CommandLineInterface().run(
        [
            "pybabel",
            "-q",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_",
            "-k",
            "gettext",
            "-k",
            "lazy_gettext",
            "-k",
            "_say",
            # An action's description in ``exchange.policy`` is its label in the audit log.
            "-k",
            "Action:2",
            "--no-location",
            "-o",
            str(pot),
            str(ROOT),
        ]
    )
    with pot.open("rb") as handle:
        return {message.id for message in read_po(handle) if message.id}


@pytest.mark.parametrize("language", ["fi", "sv"])
def test_catalog_translates_every_text(template, language):
    path = ROOT / "exchange" / "translations" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = {
            message.id: message.string for message in read_po(handle, locale=language) if message.id
        }
    assert template, "texts were extracted"
    untranslated = sorted(msgid for msgid in template if not catalog.get(msgid))
    assert untranslated == []

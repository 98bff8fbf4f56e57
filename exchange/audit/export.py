"""The auditor's CSV in its two forms.

Plain (the default of ``/v1/audit/events?format=csv``): comma-separated, no byte order mark,
the field names as headers, for programs. Excel's (``dialect=excel`` and the web UI's
download): UTF-8 with a byte order mark, so that Excel does not read it as a legacy code
page; semicolon-separated, as Excel expects under Finnish and Swedish regional settings (where
the comma is the decimal separator), in English too, as the web UI writes English the Finnish
way (``en_FI``); headers in the reader's language.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from flask_babel import force_locale, lazy_gettext

from exchange.audit import service as log

EXPORT_FIELDS = ("seq", *log.HASHED_FIELDS[1:], "leaf_hash")
# The languages a header row is written in; catalogs exist for fi and sv, en is the msgids.
HEADER_LANGUAGES = ("fi", "sv", "en")
BOM = "\ufeff"

COLUMN_LABELS = {
    "seq": lazy_gettext("No."),
    "occurred_at": lazy_gettext("Time (UTC)"),
    "request_id": lazy_gettext("Request id"),
    "actor_organization": lazy_gettext("Actor (organization)"),
    "actor_client": lazy_gettext("Actor (system)"),
    "actor_user": lazy_gettext("Actor (person)"),
    "action": lazy_gettext("Action"),
    "outcome": lazy_gettext("Outcome"),
    "resource_type": lazy_gettext("Target (type)"),
    "resource_id": lazy_gettext("Target (id)"),
    "client_ref": lazy_gettext("Client id"),
    "basis_type": lazy_gettext("Basis (type)"),
    "basis_ref": lazy_gettext("Basis (reference)"),
    "reason": lazy_gettext("Details"),
    "leaf_hash": lazy_gettext("Leaf hash"),
}


@dataclass(frozen=True)
class CsvForm:
    """How the CSV is written: separator, what comes before the header, the header itself."""

    delimiter: str = ","
    preamble: str = ""
    header: tuple[str, ...] = EXPORT_FIELDS


PLAIN = CsvForm()


def excel_form(language: str) -> CsvForm:
    """Excel's form with the header row in ``language`` (one of ``HEADER_LANGUAGES``)."""
    with force_locale(language):
        header = tuple(str(COLUMN_LABELS[name]) for name in EXPORT_FIELDS)
    return CsvForm(delimiter=";", preamble=BOM, header=header)


def csv_safe(value: Any) -> Any:
    """``value`` as a spreadsheet shows it: a text starting with = + - @ would be run as a
    formula, so it is prefixed with ``'`` and stays text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def csv_chunks(rows: Iterable[Any], form: CsvForm = PLAIN) -> Iterator[str]:
    """The header (its own first chunk, so that a failure in the first rows still leaves a
    file that opens as the right form), then ``rows`` in chunks of about 64 kB."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=form.delimiter)
    buffer.write(form.preamble)
    writer.writerow(form.header)
    yield buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for row in rows:
        writer.writerow([csv_safe(getattr(row, name)) for name in EXPORT_FIELDS])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()

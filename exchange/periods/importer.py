"""Importing service periods and their outcomes from a CSV file: every row is validated,
every problem is reported with its line, and nothing is imported unless every row is good.

Columns (a header row, UTF-8, comma-separated): ``hetu``, ``service``, ``start``,
``planned_end``, ``days_per_week``, ``hours_per_day``, ``guidance_hours_per_month``
(optional), ``next_step``, ``next_step_owner`` (optional, both or neither), ``ended_on``,
``outcome`` (optional, both or neither: an open period without them). Dates are ISO
(``2026-01-31``). Problems never repeat an identity code.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError

from exchange.errors import FieldError, Invalid
from exchange.periods.service import PeriodService
from exchange.policy import Identity
from schemas import flatten_errors
from schemas.periods import PeriodClose, PeriodCreate

COLUMNS = (
    "hetu",
    "service",
    "start",
    "planned_end",
    "days_per_week",
    "hours_per_day",
    "guidance_hours_per_month",
    "next_step",
    "next_step_owner",
    "ended_on",
    "outcome",
)
REQUIRED = ("hetu", "service", "start", "planned_end", "days_per_week", "hours_per_day")
MAX_ROWS = 100_000


@dataclass(frozen=True)
class ImportReport:
    imported: int
    closed: int

    def as_dict(self) -> dict[str, int]:
        return {"imported": self.imported, "closed": self.closed}


def read_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; a wrong header is refused before any row is read."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown:
        errors = [FieldError("header", f"Missing column {name!r}.") for name in missing]
        errors += [FieldError("header", f"Unknown column {name!r}.") for name in unknown]
        raise Invalid("The file's header is not the expected one.", errors=errors)
    rows: list[tuple[int, dict[str, str]]] = []
    for row in reader:
        if len(rows) >= MAX_ROWS:
            raise Invalid(
                "The file is too long.",
                errors=[FieldError("file", f"At most {MAX_ROWS} rows at a time.")],
            )
        if None in row:  # more cells than columns
            raise Invalid(
                "A row has more cells than the header.",
                errors=[FieldError(f"line {reader.line_num}", "Too many cells.")],
            )
        rows.append((reader.line_num, {key: (value or "").strip() for key, value in row.items()}))
    return rows


def _bodies(line: int, row: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The period and (if the row has an outcome) its closing, validated; raises Invalid
    naming the line and column."""
    create: dict[str, Any] = {
        "client": {"hetu": row["hetu"]},
        "service": row["service"],
        "start": row["start"],
        "planned_end": row["planned_end"],
        "days_per_week": _number(row["days_per_week"]),
        "hours_per_day": _number(row["hours_per_day"]),
    }
    if row.get("guidance_hours_per_month"):
        create["guidance_hours_per_month"] = _number(row["guidance_hours_per_month"])
    if row.get("next_step") or row.get("next_step_owner"):
        create["next_step"] = {"path": row.get("next_step"), "owner": row.get("next_step_owner")}
    errors: list[FieldError] = []
    try:
        period = PeriodCreate().load(create)
    except ValidationError as exc:
        period = {}
        errors += flatten_errors(exc.messages)
    closing = None
    if row.get("outcome") or row.get("ended_on"):
        try:
            closing = PeriodClose().load(
                {"outcome": row.get("outcome"), "ended_on": row.get("ended_on")}
            )
        except ValidationError as exc:
            errors += flatten_errors(exc.messages)
    if errors:
        raise Invalid(
            "Invalid row.",
            errors=[
                FieldError(f"line {line}: {_column(error.field)}", error.message)
                for error in errors
            ],
        )
    return period, closing


def _column(field: str) -> str:
    return {"client.hetu": "hetu", "client": "hetu", "next_step.path": "next_step"}.get(
        field, field.replace("next_step.owner", "next_step_owner")
    )


def _number(text: str) -> Any:
    """Numbers as JSON would carry them (the schemas refuse strings)."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return text  # the schema names it


def import_periods(
    periods: PeriodService,
    identity: Identity,
    rows: Iterable[tuple[int, dict[str, str]]],
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Record (and close) every row's period for the organization of ``identity``, whose
    person answers for the import; the caller commits. On any problem raises Invalid
    listing every bad row; the caller then rolls back. ``progress``, if given, hears
    ``(rows done, rows)`` after each row."""
    errors: list[FieldError] = []
    imported = closed = 0
    rows = list(rows)
    for done, (line, row) in enumerate(rows, 1):
        if progress is not None and done > 1:
            progress(done - 1, len(rows))
        try:
            period, closing = _bodies(line, row)
            recorded = periods.record(identity, period)
            if closing is not None:
                periods.close(identity, recorded.id, closing)
                closed += 1
            imported += 1
        except Invalid as exc:
            errors += [
                error
                if error.field.startswith("line ")
                else FieldError(f"line {line}: {_column(error.field)}", error.message)
                for error in exc.errors
            ]
    if progress is not None and rows:
        progress(len(rows), len(rows))
    if errors:
        bad_lines = len({error.field.split(":")[0] for error in errors})
        raise Invalid(f"{bad_lines} rows were rejected; nothing was imported.", errors=errors)
    return ImportReport(imported, closed)

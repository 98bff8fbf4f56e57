"""The outcome report: where clients went after a service period, without exposing anyone.

:func:`publish` turns true counts of distinct clients, per group (an organization, a
service, or the single group ``"all"``) and per outcome, into the numbers that may be
shown. The clients are vulnerable people, so the report must not reveal anything about
an individual. The rules, in the order they are applied:

1. **Too few clients.** If the whole report covers fewer than ``MIN_REPORT`` (10)
   clients it is refused (:class:`ReportRefused`, reason ``"too_few_clients"``).
2. **Small groups are merged.** A group with fewer than ``MIN_REPORT`` clients is not
   shown on its own; all such groups are added together into one group ``"other"``. If
   ``"other"`` still has fewer than ``MIN_REPORT`` clients it is not shown either: its
   clients are added to the largest group (ties go to the key that sorts first), so the
   report total still covers everyone. That group's row then includes those few clients.
   ``"other"`` is therefore a reserved key and may not be used as an input key.
3. **Small cells are suppressed.** A cell of 1 to 4 clients is shown as ``"<5"`` with no
   percentage. A true 0 is shown as 0 (0.0 %).
4. **Everything else is rounded.** Every other cell, every group total and the report
   total is shown rounded to the nearest multiple of ``ROUNDING`` (5; halves would go
   up, but a whole number is never halfway), and no non-zero count is shown below 5.
   A percentage is the shown cell over the shown group total, to one decimal. Nothing
   is computed from the true numbers after rounding, so every shown number stands for
   a range: a rounded ``n`` for ``n - 2 .. n + 2`` (5 for 5..7), ``"<5"`` for 1..4.
5. **Order.** Groups by key with ``"other"`` last; cells in the order of ``OUTCOMES``.
6. **A small cell must not follow from the others.** Rounded totals and rounded cells
   are rounded independently, so at the edges of their ranges they can pin a suppressed
   cell down. For example cells 8 and 8 (both shown as 10) and 1 (shown as ``"<5"``) make
   17, shown as 15: the two cells are at least 16 and the total at most 17, so the
   ``"<5"`` is exactly 1. Before returning, :func:`exposed_cells` computes from the shown
   numbers alone what an attacker can: the exact range of each suppressed cell given every
   cell range, group total and the report total. If any suppressed cell has a single
   possible value the report is refused (reason ``"small_cell_recoverable"``), naming no
   cell. The check reads only shown numbers, so a published report reveals nothing
   through it; a refusal tells only that some small cell would have been pinned.

What this protects: within one report, each ``"<5"`` keeps at least two possible values,
whatever an attacker subtracts from what. Between two reports over overlapping
populations (January–June and January–July; organizations A and B against A alone),
which differ by a group Q of clients, the difference of two shown cells is not Q's count
in that outcome: 7 employed shown as 5 and 9 shown as 10 differ by 5, and any of 1 to 4
newcomers fits. A non-zero cell that shows the same in both leaves both "none of Q" and
"some of Q" possible.

What it cannot protect, plainly: a deterministic report cannot stop an attacker who knows
that exactly one person differs between two reports from seeing which rounded cell
moved. If the cell for one outcome went from 0 to ``"<5"``, from ``"<5"`` to 5, or from
one multiple of 5 to the next, Q has someone with that outcome; when Q is one person,
that is their outcome. (How many is not shown, except for ``"<5"`` becoming 10, which
takes a cell of 4 and four newcomers, all in it.) Likewise a cell that is 0 in both
reports says that nobody in Q had that outcome, and a group whose clients all share one
outcome tells that outcome for anyone known to belong to the group. To make such pairs
rarer, report windows are whole calendar months (chosen by the caller) and small groups
are merged as above; neither makes them impossible. Larger numbers (5 and up) can also,
at the edges of their ranges, be narrowed below ±2 by combining cells and totals; only
the suppressed cells are guaranteed to stay ambiguous.

The groups are taken to be disjoint: the report's number of clients is the sum of the
groups', so a client counted in two groups (two organizations in one window) counts
twice, and rule 1 would then cover fewer distinct people than it says. Callers count
each client in one group only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from consent.vocabulary import PERIOD_OUTCOMES as OUTCOMES

__all__ = [
    "MIN_CELL",
    "MIN_REPORT",
    "OTHER",
    "ROUNDING",
    "SUPPRESSED",
    "Cell",
    "Group",
    "Report",
    "ReportRefused",
    "exposed_cells",
    "publish",
    "to_rows",
]

MIN_CELL = 5  # a cell of 1..MIN_CELL-1 clients is suppressed
MIN_REPORT = 10  # fewest clients in a report, and in a group shown on its own
ROUNDING = 5  # every shown count and total is a multiple of this
SUPPRESSED = "<5"
OTHER = "other"

TOO_FEW_CLIENTS = "too_few_clients"
SMALL_CELL_RECOVERABLE = "small_cell_recoverable"

_MESSAGES = {
    TOO_FEW_CLIENTS: f"The report would cover fewer than {MIN_REPORT} clients.",
    SMALL_CELL_RECOVERABLE: (
        "The numbers would let a small group of clients be counted exactly. "
        "Choose a longer period or a coarser grouping."
    ),
}


class ReportRefused(Exception):
    """The report cannot be published without exposing someone; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = reason
        self.message = message or _MESSAGES.get(reason, reason)
        super().__init__(self.message)


@dataclass(frozen=True)
class Cell:
    """One outcome in one group: a rounded count, 0, or ``"<5"`` (then ``percent`` is None)."""

    outcome: str
    count: int | str
    percent: float | None


@dataclass(frozen=True)
class Group:
    """One group's shown cells; ``total`` is rounded, ``suppressed`` tells if any cell is "<5"."""

    key: str
    total: int
    cells: tuple[Cell, ...]
    suppressed: bool


@dataclass(frozen=True)
class Report:
    """The shown groups and the rounded number of clients over the whole report."""

    groups: tuple[Group, ...]
    total: int


def publish(groups: Mapping[str, Mapping[str, int]]) -> Report:
    """The publishable report of true client counts per group and outcome (missing means 0).

    Raises :class:`ReportRefused` as the module docstring describes, and ``ValueError`` for
    an unknown outcome, a negative count or the reserved key ``"other"``.
    """
    tables = _validated(groups)
    everyone = sum(sum(cells) for cells in tables.values())
    if everyone < MIN_REPORT:
        raise ReportRefused(TOO_FEW_CLIENTS)

    shown = _merge_small(tables)
    order = sorted(shown, key=lambda key: (key == OTHER, key))
    report = Report(
        groups=tuple(_group(key, shown[key]) for key in order), total=_rounded(everyone)
    )
    if exposed_cells(report):
        raise ReportRefused(SMALL_CELL_RECOVERABLE)
    return report


def exposed_cells(report: Report) -> tuple[tuple[str, str], ...]:
    """The ``(group, outcome)`` of each "<5" cell whose true count the other numbers pin down.

    Works from the shown numbers only, as an attacker would: every cell and total stands
    for a range of true values, and the cells of a group add up to its total and the
    group totals to the report total. All ranges are intervals of whole numbers and every
    count belongs to exactly one group, so the possible values of a cell form an interval
    too, computed exactly below.
    """
    cell_ranges = [[_cell_range(cell.count) for cell in group.cells] for group in report.groups]
    # What each group's true total can be: its own rounding range, met with its cells' sum.
    sums: list[tuple[int, int]] = []
    for group, ranges in zip(report.groups, cell_ranges, strict=True):
        fewest, most = _preimage(group.total, MIN_REPORT)
        sums.append(
            (max(fewest, sum(lo for lo, _ in ranges)), min(most, sum(hi for _, hi in ranges)))
        )
    report_low, report_high = _preimage(report.total, MIN_REPORT)
    all_low, all_high = sum(lo for lo, _ in sums), sum(hi for _, hi in sums)

    exposed: list[tuple[str, str]] = []
    for group, ranges, (own_low, own_high) in zip(report.groups, cell_ranges, sums, strict=True):
        # The group total as the report total allows, given what the other groups can be.
        low = max(own_low, report_low - (all_high - own_high))
        high = min(own_high, report_high - (all_low - own_low))
        cells_low, cells_high = sum(lo for lo, _ in ranges), sum(hi for _, hi in ranges)
        for cell, (lo, hi) in zip(group.cells, ranges, strict=True):
            if cell.count != SUPPRESSED:
                continue
            least = max(lo, low - (cells_high - hi))
            most = min(hi, high - (cells_low - lo))
            if least >= most:
                exposed.append((group.key, cell.outcome))
    return tuple(exposed)


def to_rows(report: Report) -> list[dict[str, object]]:
    """One flat row per group and outcome, for CSV and JSON."""
    return [
        {
            "group": group.key,
            "outcome": cell.outcome,
            "count": cell.count,
            "percent": cell.percent,
            "group_total": group.total,
        }
        for group in report.groups
        for cell in group.cells
    ]


def _validated(groups: Mapping[str, Mapping[str, int]]) -> dict[str, tuple[int, ...]]:
    tables: dict[str, tuple[int, ...]] = {}
    for key, counts in groups.items():
        if key == OTHER:
            raise ValueError(f"group key {OTHER!r} is reserved for merged small groups")
        unknown = set(counts) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"unknown outcomes: {', '.join(sorted(unknown))}")
        if any(count < 0 for count in counts.values()):
            raise ValueError(f"negative count in group {key!r}")
        tables[key] = tuple(counts.get(outcome, 0) for outcome in OUTCOMES)
    return tables


def _merge_small(tables: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Rule 2: groups under MIN_REPORT become "other", or join the largest group."""
    shown = {key: cells for key, cells in tables.items() if sum(cells) >= MIN_REPORT}
    small = [cells for cells in tables.values() if sum(cells) < MIN_REPORT]
    if not small:
        return shown
    merged = tuple(sum(column) for column in zip(*small, strict=True))
    if sum(merged) >= MIN_REPORT:
        shown[OTHER] = merged
        return shown
    # The report has at least MIN_REPORT clients and these are fewer, so a group is shown.
    host = min(shown, key=lambda key: (-sum(shown[key]), key))
    shown[host] = tuple(a + b for a, b in zip(shown[host], merged, strict=True))
    return shown


def _group(key: str, counts: tuple[int, ...]) -> Group:
    total = _rounded(sum(counts))
    cells = tuple(
        _cell(outcome, count, total) for outcome, count in zip(OUTCOMES, counts, strict=True)
    )
    return Group(
        key=key,
        total=total,
        cells=cells,
        suppressed=any(cell.count == SUPPRESSED for cell in cells),
    )


def _cell(outcome: str, count: int, group_total: int) -> Cell:
    if count == 0:
        return Cell(outcome=outcome, count=0, percent=0.0)
    if count < MIN_CELL:
        return Cell(outcome=outcome, count=SUPPRESSED, percent=None)
    shown = _rounded(count)
    return Cell(outcome=outcome, count=shown, percent=_percent(shown, group_total))


def _rounded(count: int) -> int:
    """Nearest multiple of ROUNDING, halves up; never below ROUNDING when ``count`` > 0."""
    if count == 0:
        return 0
    return max(ROUNDING, (2 * count + ROUNDING) // (2 * ROUNDING) * ROUNDING)


def _percent(count: int, total: int) -> float:
    exact = Decimal(100 * count) / Decimal(total)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _preimage(shown: int, floor: int) -> tuple[int, int]:
    """The true values from ``floor`` up that :func:`_rounded` shows as ``shown``."""
    high = shown + (ROUNDING - 1) // 2
    low = floor if shown == ROUNDING else max(floor, shown - ROUNDING // 2)
    return low, high


def _cell_range(count: int | str) -> tuple[int, int]:
    if count == SUPPRESSED:
        return 1, MIN_CELL - 1
    if count == 0:
        return 0, 0
    if not isinstance(count, int):
        raise ValueError(f"not a shown count: {count!r}")
    return _preimage(count, MIN_CELL)


def report_csv(report: Any) -> str:
    """The report as CSV, one row per group and outcome (API and web page alike)."""
    buffer = io.StringIO()
    rows = to_rows(report)
    writer = csv.DictWriter(
        buffer, fieldnames=["group", "outcome", "count", "percent", "group_total"]
    )
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()

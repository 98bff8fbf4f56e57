"""Server-drawn SVG charts of the report pages: the geometry here, the markup in a template."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import gettext

from exchange.periods.report import Group

# The drawing's own units (the SVG scales to the page): a column of outcome names, then the
# bars, then room for the number after the longest bar.
WIDTH = 720
LABEL_WIDTH = 290
BAR_SPACE = 360
ROW = 28
BAR_HEIGHT = 18


@dataclass(frozen=True)
class Bar:
    """One outcome: its name and shown count as text, and its bar (``width`` 0 draws none)."""

    label: str
    count: int | str
    y: int
    width: float


@dataclass(frozen=True)
class BarChart:
    """A horizontal bar per outcome, in the table's order, and the figures said in words."""

    bars: tuple[Bar, ...]
    description: str
    width: int = WIDTH
    label_width: int = LABEL_WIDTH
    bar_height: int = BAR_HEIGHT

    @property
    def height(self) -> int:
        return ROW * len(self.bars)


def outcome_chart(group: Group, labels: Mapping[str, object]) -> BarChart | None:
    """The bars of ``group``'s shown counts, longest for the largest; None when no count is
    large enough to draw (every cell 0 or "<5"), as a chart would then show nothing."""
    counts = [cell.count for cell in group.cells if isinstance(cell.count, int)]
    largest = max(counts, default=0)
    if largest <= 0:
        return None
    bars = []
    said = []
    for row, cell in enumerate(group.cells):
        label = str(labels[cell.outcome])
        # A suppressed count has no length to draw: its bar is left out and "<5" is written.
        width = cell.count / largest * BAR_SPACE if isinstance(cell.count, int) else 0.0
        bars.append(Bar(label, cell.count, row * ROW, round(width, 1)))
        if isinstance(cell.count, int):
            said.append(gettext("%(outcome)s: %(count)s clients", outcome=label, count=cell.count))
        else:
            said.append(gettext("%(outcome)s: fewer than 5 clients", outcome=label))
    description = gettext(
        "Clients by outcome, rounded to multiples of 5: %(figures)s.", figures="; ".join(said)
    )
    return BarChart(tuple(bars), description)

"""The outcome report's disclosure control: examples first, then properties over random tables.

The properties do not trust the module's own reasoning. They read the documented rules
(a count shows as 0, "<5" or its nearest multiple of 5; a shown total means at least 10)
independently, and use :func:`publish` itself as the judge: a "<5" is safe when another
true table, differing in that cell, publishes exactly the same report.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from consent.vocabulary import PERIOD_OUTCOMES as OUTCOMES
from exchange.periods.report import (
    MIN_REPORT,
    ROUNDING,
    SUPPRESSED,
    Cell,
    Group,
    Report,
    ReportRefused,
    exposed_cells,
    publish,
    to_rows,
)

PROPERTY = settings(max_examples=300, deadline=None)

Table = dict[str, list[int]]


# -- The documented rules, read independently of the module -------------------------------


def shown(count: int) -> int | str:
    """What the documented rules show for a true cell count."""
    if count == 0:
        return 0
    if count < 5:
        return SUPPRESSED
    return (count + 2) // 5 * 5


def rounded_total(count: int) -> int:
    return (count + 2) // 5 * 5


@functools.cache
def cell_range(count: int) -> tuple[int, int]:
    """The true counts that show like ``count``, found by trying them."""
    same = [other for other in range(count + ROUNDING + 1) if shown(other) == shown(count)]
    return min(same), max(same)


@functools.cache
def total_range(count: int) -> tuple[int, int]:
    """The true totals (at least MIN_REPORT, as every shown one is) that show like ``count``."""
    same = [
        other
        for other in range(MIN_REPORT, count + ROUNDING + 1)
        if rounded_total(other) == rounded_total(count)
    ]
    return min(same), max(same)


def as_mapping(table: Table) -> dict[str, dict[str, int]]:
    return {key: dict(zip(OUTCOMES, cells, strict=True)) for key, cells in table.items()}


def spread(cells: list[int], movable: list[int], amount: int) -> int:
    """Move ``amount`` over the ``movable`` cells, each within its range; return the rest."""
    for index in movable:
        low, high = cell_range(cells[index])
        step = max(low - cells[index], min(high - cells[index], amount))
        cells[index] += step
        amount -= step
    return amount


def group_slack(cells: list[int], skip: int | None = None) -> tuple[int, int]:
    """How far the cells other than ``skip`` can move together, each within its range."""
    ranges = [cell_range(count) for index, count in enumerate(cells) if index != skip]
    rest = sum(count for index, count in enumerate(cells) if index != skip)
    return sum(low for low, _ in ranges) - rest, sum(high for _, high in ranges) - rest


def alternative(table: Table, key: str, index: int, value: int) -> Table | None:
    """A true table with ``value`` at (key, index) whose every shown number stays in its range.

    Every group here has at least MIN_REPORT clients, so none is merged. The search is
    exhaustive over how much the rest of the group and the other groups move; the moves
    themselves are spread greedily, which reaches every amount because each range is an
    interval.
    """
    own = table[key]
    change = value - own[index]
    own_low, own_high = group_slack(own, skip=index)
    group_low, group_high = total_range(sum(own))
    everyone = sum(sum(cells) for cells in table.values())
    report_low, report_high = total_range(everyone)
    others = {}
    for other, cells in table.items():
        if other != key:
            low, high = group_slack(cells)
            least, most = total_range(sum(cells))
            others[other] = (max(low, least - sum(cells)), min(high, most - sum(cells)))
    others_low = sum(low for low, _ in others.values())
    others_high = sum(high for _, high in others.values())

    for inside in range(own_low, own_high + 1):
        if not group_low <= sum(own) + change + inside <= group_high:
            continue
        for outside in range(others_low, others_high + 1):
            if not report_low <= everyone + change + inside + outside <= report_high:
                continue
            result = {name: list(cells) for name, cells in table.items()}
            result[key][index] = value
            rest = [i for i in range(len(OUTCOMES)) if i != index]
            assert spread(result[key], rest, inside) == 0
            for other, (low, high) in others.items():
                move = max(low, min(high, outside))
                outside -= move
                assert spread(result[other], list(range(len(OUTCOMES))), move) == 0
            return result
    return None


def suppressed_cells(table: Table) -> list[tuple[str, int]]:
    return [
        (key, index)
        for key, cells in table.items()
        for index, count in enumerate(cells)
        if 1 <= count < 5
    ]


def pinned_by_subtraction(table: Table) -> list[tuple[str, int]]:
    """The "<5" cells for which no other value fits every shown range (the test's attacker)."""
    return [
        (key, index)
        for key, index in suppressed_cells(table)
        if all(
            alternative(table, key, index, value) is None
            for value in range(1, 5)
            if value != table[key][index]
        )
    ]


def attempt(table: Table) -> Report | ReportRefused:
    """The published report, or the refusal."""
    return attempt_mapping(as_mapping(table))


def attempt_mapping(groups: dict[str, dict[str, int]]) -> Report | ReportRefused:
    try:
        return publish(groups)
    except ReportRefused as refused:
        return refused


def cell_of(report: Report, key: str, outcome: str) -> Cell:
    group = next(group for group in report.groups if group.key == key)
    return group.cells[OUTCOMES.index(outcome)]


# -- Examples ------------------------------------------------------------------------------

SURVEY = {
    "employed": 11,
    "studies": 7,
    "unemployed_jobseeker": 8,
    "employment_services_measure": 4,
    "continued_same_service": 76,
    "social_health_services": 12,
    "other_livelihood": 5,
    "moved_away": 1,
    "unknown": 1,
}


def test_survey_table_is_suppressed_and_rounded() -> None:
    report = publish({"all": SURVEY})

    assert sum(SURVEY.values()) == 125
    assert report.total == 125
    (group,) = report.groups
    assert group.key == "all"
    assert group.total == 125
    assert group.suppressed is True
    assert [(cell.outcome, cell.count, cell.percent) for cell in group.cells] == [
        ("employed", 10, 8.0),  # 11 → 10; the survey's 8.8 % would give 11 away
        ("subsidised_employment", 0, 0.0),
        ("studies", 5, 4.0),  # 7 → 5
        ("unemployed_jobseeker", 10, 8.0),  # 8 → 10
        ("employment_services_measure", SUPPRESSED, None),  # 4
        ("continued_same_service", 75, 60.0),  # 76 → 75
        ("social_health_services", 10, 8.0),  # 12 → 10
        ("other_livelihood", 5, 4.0),
        ("moved_away", SUPPRESSED, None),  # 1
        ("unknown", SUPPRESSED, None),  # 1
    ]


def test_fewer_than_ten_clients_is_refused() -> None:
    with pytest.raises(ReportRefused) as refused:
        publish({"all": {"employed": 5, "studies": 4}})
    assert refused.value.reason == "too_few_clients"
    assert "10" in str(refused.value)

    report = publish({"all": {"employed": 6, "studies": 4}})
    assert report.total == 10
    assert [cell.count for cell in report.groups[0].cells[:3]] == [5, 0, SUPPRESSED]


def test_fewer_than_ten_clients_over_several_groups_is_refused() -> None:
    with pytest.raises(ReportRefused) as refused:
        publish({"org-a": {"employed": 3}, "org-b": {"studies": 3}, "org-c": {"unknown": 3}})
    assert refused.value.reason == "too_few_clients"


def test_small_groups_are_merged_into_other_shown_last() -> None:
    report = publish(
        {
            "org-b": {"employed": 12, "continued_same_service": 20},
            "org-a": {"studies": 6, "moved_away": 1},
            "org-c": {"studies": 3, "continued_same_service": 5},
            "org-d": {"employed": 10, "continued_same_service": 11},
        }
    )

    assert [group.key for group in report.groups] == ["org-b", "org-d", "other"]
    other = report.groups[-1]
    assert other.total == 15  # 7 + 8 clients
    assert cell_of(report, "other", "studies").count == 10  # 6 + 3
    assert cell_of(report, "other", "continued_same_service").count == 5
    assert cell_of(report, "other", "moved_away").count == SUPPRESSED
    assert report.total == 70  # 32 + 7 + 8 + 21 = 68 clients


def test_small_groups_too_few_together_join_the_largest_group() -> None:
    report = publish(
        {
            "org-a": {"employed": 10, "continued_same_service": 20},
            "org-b": {"employed": 12, "continued_same_service": 23},
            "org-c": {"studies": 3},
            "org-d": {"studies": 2, "continued_same_service": 2},
        }
    )

    assert [group.key for group in report.groups] == ["org-a", "org-b"]
    assert cell_of(report, "org-b", "studies").count == 5  # the 5 from org-c and org-d
    assert cell_of(report, "org-b", "continued_same_service").count == 25
    assert report.groups[1].total == 40  # 35 + 7 clients
    assert cell_of(report, "org-a", "studies").count == 0
    assert report.total == 70  # 72 clients


def test_other_is_a_reserved_key() -> None:
    with pytest.raises(ValueError, match="reserved"):
        publish({"other": {"employed": 20}})


def test_unknown_outcomes_and_negative_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown outcomes: retired"):
        publish({"all": {"employed": 20, "retired": 3}})
    with pytest.raises(ValueError, match="negative"):
        publish({"all": {"employed": 20, "studies": -1}})


def test_percentages_come_from_the_shown_numbers() -> None:
    report = publish({"all": {"employed": 8, "continued_same_service": 14}})

    # 8 → 10 and 14 → 15 over 22 → 20: 50 % and 75 %, not 36.4 % and 63.6 %.
    assert [cell.percent for cell in report.groups[0].cells if cell.count] == [50.0, 75.0]


def test_to_rows_gives_one_flat_row_per_group_and_outcome() -> None:
    report = publish({"org-a": {"employed": 11, "moved_away": 2}, "org-b": {"studies": 30}})
    rows = to_rows(report)

    assert len(rows) == 2 * len(OUTCOMES)
    assert rows[0] == {
        "group": "org-a",
        "outcome": "employed",
        "count": 10,
        "percent": 66.7,
        "group_total": 15,
    }
    assert rows[8] == {
        "group": "org-a",
        "outcome": "moved_away",
        "count": SUPPRESSED,
        "percent": None,
        "group_total": 15,
    }
    assert rows[len(OUTCOMES) + 2]["count"] == 30


# -- A small cell that the other numbers would pin down is refused -------------------------


def test_a_total_that_would_pin_a_small_cell_to_one_is_refused() -> None:
    """8 and 8 show as 10 and 10 (at least 16); 17 shows as 15 (at most 17): the "<5" is 1."""
    table = {"employed": 8, "studies": 8, "moved_away": 1}
    with pytest.raises(ReportRefused) as refused:
        publish({"all": table})
    assert refused.value.reason == "small_cell_recoverable"
    assert "moved_away" not in str(refused.value)

    cells = tuple(Cell(outcome, shown(table.get(outcome, 0)), None) for outcome in OUTCOMES)
    drafted = Report(groups=(Group("all", 15, cells, suppressed=True),), total=15)
    assert exposed_cells(drafted) == (("all", "moved_away"),)


def test_a_total_that_would_pin_small_cells_to_four_is_refused() -> None:
    """12 shows as 10 (at most 12); 28 shows as 30 (at least 28): four "<5" hold 16, all 4."""
    table = {"employed": 12, "studies": 4, "moved_away": 4, "unknown": 4, "other_livelihood": 4}
    with pytest.raises(ReportRefused) as refused:
        publish({"all": table})
    assert refused.value.reason == "small_cell_recoverable"


def test_group_totals_against_the_report_total_would_pin_a_small_cell() -> None:
    """Each organization alone is safe; the report total 25 (at most 27) is not.

    org-a is at least 13 (its total shows as 15), so org-b is at most 14; org-b's 15 plus
    its cells say at least 14; so org-b is exactly 14, its 13 → 15 cell at least 13 and
    its "<5" exactly 1.
    """
    org_a = {"continued_same_service": 12, "subsidised_employment": 1}
    org_b = {"employment_services_measure": 13, "other_livelihood": 1}
    publish({"org-a": org_a})
    publish({"org-b": org_b})

    with pytest.raises(ReportRefused) as refused:
        publish({"org-a": org_a, "org-b": org_b})
    assert refused.value.reason == "small_cell_recoverable"


def test_refusal_matches_subtraction_on_every_small_table() -> None:
    """Every table of three outcomes with 0..13 clients, plus a few small cells: publishing
    refuses exactly when subtraction would pin a "<5" down, and otherwise another table
    publishes the same report."""
    refusals = 0
    for employed, studies, unknown in itertools.product(range(14), repeat=3):
        for extra in ((), (1,), (4,), (4, 4)):
            start = [employed, 0, studies, *extra]
            cells = [*start, *[0] * (len(OUTCOMES) - len(start) - 1), unknown]
            if sum(cells) < MIN_REPORT:
                continue
            table = {"all": cells}
            result = attempt(table)
            pinned = pinned_by_subtraction(table)
            assert isinstance(result, ReportRefused) == bool(pinned), table
            if isinstance(result, ReportRefused):
                refusals += 1
                continue
            for key, index in suppressed_cells(table):
                value = 2 if table[key][index] != 2 else 3
                other = alternative(table, key, index, value) or alternative(
                    table, key, index, 5 - value
                )
                assert other is not None
                assert attempt(other) == result
    assert refusals > 20


def test_exposed_cells_is_empty_for_the_survey() -> None:
    assert exposed_cells(publish({"all": SURVEY})) == ()


# -- Properties ----------------------------------------------------------------------------


def at_least_ten(cells: list[int]) -> list[int]:
    """Bring a group up to MIN_REPORT clients by adding the shortfall to its last cell."""
    return [*cells[:-1], cells[-1] + max(0, MIN_REPORT - sum(cells))]


def from_pairs(pairs: list[tuple[int, int]]) -> list[int]:
    cells = [0] * len(OUTCOMES)
    for index, count in pairs:
        cells[index] += count
    return cells


counts = st.one_of(st.integers(0, 4), st.integers(0, 14), st.integers(0, 40))
cell_lists = st.lists(counts, min_size=len(OUTCOMES), max_size=len(OUTCOMES)).map(at_least_ten)
# Few occupied outcomes, counts mostly at the edges of their ranges: where pinning happens.
edge_counts = st.one_of(st.sampled_from((1, 4, 5, 7, 8, 12, 13, 17)), st.integers(1, 17))
sparse_cell_lists = (
    st.lists(st.tuples(st.integers(0, len(OUTCOMES) - 1), edge_counts), max_size=5)
    .map(from_pairs)
    .map(at_least_ten)
)
large_tables = st.dictionaries(
    st.sampled_from(["org-a", "org-b", "org-c"]),
    st.one_of(cell_lists, sparse_cell_lists),
    min_size=1,
    max_size=3,
)
any_tables = st.dictionaries(
    st.sampled_from(["org-a", "org-b", "org-c", "org-d", "kuty", "all"]),
    st.lists(st.integers(0, 12), min_size=len(OUTCOMES), max_size=len(OUTCOMES)),
    max_size=5,
)


@PROPERTY
@given(table=large_tables)
def test_within_a_report_a_suppressed_cell_cannot_be_recovered(table: Table) -> None:
    """Subtraction inside one report leaves every "<5" with at least two possible values.

    For each "<5" there is another true table, differing in that cell and keeping every
    other shown number in its range, that publishes exactly the same report; so no
    arithmetic on the report can tell the two apart. When no such table exists for some
    "<5", publishing must refuse instead.
    """
    report = attempt(table)
    if isinstance(report, ReportRefused):
        event("refused")
        assert report.reason == "small_cell_recoverable"
        assert pinned_by_subtraction(table), "refused though every small cell has another value"
        return

    event(f"published with {len(suppressed_cells(table))} small cells")
    for key, index in suppressed_cells(table):
        witnesses = [
            found
            for value in range(1, 5)
            if value != table[key][index]
            and (found := alternative(table, key, index, value)) is not None
        ]
        assert witnesses, f"{key}/{OUTCOMES[index]} is pinned down but was published"
        assert publish(as_mapping(witnesses[0])) == report


@PROPERTY
@given(
    population=st.one_of(cell_lists, sparse_cell_lists),
    newcomers=st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=4),
)
def test_two_overlapping_reports_do_not_count_the_newcomers(
    population: list[int], newcomers: list[str]
) -> None:
    """Report B covers report A's population P plus a group Q of 1 to 4 clients.

    For each outcome, the attacker's candidates for Q's count are the q in 0..4 such that
    some true count x shows as A's cell and x + q as B's. What the rules allow:

    * a cell that shows the same non-zero value in both leaves 0 and 1 (and more) possible;
    * a cell that is 0 in both says exactly that nobody in Q has that outcome;
    * a cell that moved says that someone in Q has it (0 is impossible) but not how many,
      except "<5" → 10, which needs x = 4 and q = 4 and says so.

    The moved cell is the documented limit: when Q is one person, their outcome shows.
    This checks each outcome's pair of cells, not a joint attack on all cells and totals
    at once. A refused report shows nothing, so such pairs are skipped.
    """
    arrivals = Counter(newcomers)
    grown = [count + arrivals[outcome] for outcome, count in zip(OUTCOMES, population, strict=True)]
    before, after = attempt({"all": population}), attempt({"all": grown})
    if isinstance(before, ReportRefused) or isinstance(after, ReportRefused):
        event("a report of the pair is refused")
        return
    moved = sum(
        old.count != new.count
        for old, new in zip(before.groups[0].cells, after.groups[0].cells, strict=True)
    )
    event(f"{moved} cells moved")

    for outcome, count, old, new in zip(
        OUTCOMES, population, before.groups[0].cells, after.groups[0].cells, strict=True
    ):
        possible = {
            q
            for q in range(5)
            if any(
                shown(x) == old.count and shown(x + q) == new.count
                for x in range(count + ROUNDING + 1)
            )
        }
        assert arrivals[outcome] in possible
        if old.count == new.count == 0:
            assert possible == {0}
        elif old.count == new.count:
            assert {0, 1} <= possible
        elif (old.count, new.count) == (SUPPRESSED, 10):
            assert possible == {4}
        else:
            assert 0 not in possible
            assert len(possible) >= 2


def test_the_published_difference_is_not_the_newcomers_count() -> None:
    """7 employed show as 5; two more make 9, shown as 10: the difference 5 is not 2."""
    before = publish({"all": {"employed": 7, "continued_same_service": 20}})
    after = publish({"all": {"employed": 9, "continued_same_service": 20}})

    old, new = cell_of(before, "all", "employed"), cell_of(after, "all", "employed")
    assert (old.count, new.count) == (5, 10)
    # Every q from 1 to 4 fits: 5 + 3 = 8, 6 + 2 = 8, 7 + 1 = 8 and 7 + 4 = 11 all show as 10.
    fits = {q for q in range(5) for x in range(5, 8) if shown(x) == 5 and shown(x + q) == 10}
    assert fits == {1, 2, 3, 4}


def test_limit_one_newcomer_in_an_empty_outcome_shows() -> None:
    """The documented limit: with one person more, the cell that moved is their outcome."""
    before = publish({"all": {"employed": 11, "continued_same_service": 20}})
    after = publish({"all": {"employed": 11, "continued_same_service": 20, "moved_away": 1}})

    assert cell_of(before, "all", "moved_away").count == 0
    assert cell_of(after, "all", "moved_away").count == SUPPRESSED


@PROPERTY
@given(table=any_tables, data=st.data())
def test_publishing_ignores_input_order_and_shows_nothing_negative(
    table: Table, data: st.DataObject
) -> None:
    """The same counts in any key and outcome order publish the same; nothing is negative."""
    mapping = as_mapping(table)
    shuffled = {
        key: {outcome: mapping[key][outcome] for outcome in data.draw(st.permutations(OUTCOMES))}
        for key in data.draw(st.permutations(list(mapping)))
    }

    report = attempt(table)
    again = attempt_mapping(shuffled)
    if isinstance(report, ReportRefused):
        assert isinstance(again, ReportRefused)
        assert again.reason == report.reason
        return
    assert again == report

    assert report.total >= MIN_REPORT
    keys_shown = [group.key for group in report.groups]
    assert keys_shown == sorted(keys_shown, key=lambda key: (key == "other", key))
    for group in report.groups:
        assert group.total >= MIN_REPORT
        assert group.total % ROUNDING == 0
        assert [cell.outcome for cell in group.cells] == list(OUTCOMES)
        assert group.suppressed == any(cell.count == SUPPRESSED for cell in group.cells)
        for cell in group.cells:
            if cell.count == SUPPRESSED:
                assert cell.percent is None
            else:
                assert isinstance(cell.count, int)
                assert cell.count >= 0
                assert cell.count % ROUNDING == 0
                assert cell.percent is not None
                assert cell.percent >= 0

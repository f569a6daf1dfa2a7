"""Hand-computed examples for the sessionization rules (api-contract §3, "Paths").

Every expected value below was worked out by hand from the rules, not read off the code.
"""

from __future__ import annotations

from itertools import permutations

import pytest

from helpstream.workers.sessionizer import (
    Click,
    CustomerLog,
    Path,
    PathStatus,
    choose_cut,
    close_if_idle,
    is_late,
    sessionize,
    turnaround_pages,
)

DEFAULT_TIMEOUT = 1800


def c(
    ts: int,
    src: int,
    tgt: int,
    resolved: bool = False,
    customer: int = 1,
    variant: str = "default",
) -> Click:
    return Click(
        timestamp=ts,
        customer_id=customer,
        source=src,
        target=tgt,
        resolved=resolved,
        variant=variant,
    )


def summary(paths: list[Path]) -> list[tuple[int, int, list[int], str]]:
    """(start_ts, end_ts, pages, status) of each path."""
    return [(p.start_ts, p.end_ts, p.pages, p.status) for p in paths]


# --- seed scenario -----------------------------------------------------------------------

SEED = [
    c(1515764691, 11, 28, customer=1),
    c(1515764752, 11, 35, customer=2),
    c(1515764876, 35, 42, True, customer=2),
    c(1515764997, 28, 35, customer=1),
    c(1515765000, 35, 42, True, customer=1),
]


def test_seed_scenario() -> None:
    cust1 = sessionize([x for x in SEED if x.customer_id == 1], DEFAULT_TIMEOUT)
    cust2 = sessionize([x for x in SEED if x.customer_id == 2], DEFAULT_TIMEOUT)

    assert len(cust1) == 1
    assert cust1[0].customer_id == 1
    assert cust1[0].pages == [11, 28, 35, 42]
    assert cust1[0].length == 4
    assert cust1[0].status == "resolved"
    assert (cust1[0].start_ts, cust1[0].end_ts) == (1515764691, 1515765000)
    assert cust1[0].has_turnaround is False

    assert len(cust2) == 1
    assert cust2[0].customer_id == 2
    assert cust2[0].pages == [11, 35, 42]
    assert cust2[0].length == 3
    assert cust2[0].status == "resolved"
    assert (cust2[0].start_ts, cust2[0].end_ts) == (1515764752, 1515764876)


def test_seed_scenario_unsorted_input_gives_same_paths() -> None:
    cust1 = [x for x in reversed(SEED) if x.customer_id == 1]
    paths = sessionize(cust1, DEFAULT_TIMEOUT)
    assert summary(paths) == [(1515764691, 1515765000, [11, 28, 35, 42], "resolved")]


# --- rules 1 and 2: start page and implied pages ----------------------------------------


def test_single_click_path_starts_with_its_source() -> None:
    paths = sessionize([c(100, 5, 7)], DEFAULT_TIMEOUT)
    assert summary(paths) == [(100, 100, [5, 7], "open")]
    assert paths[0].customer_id == 1
    assert paths[0].variant == "default"


def test_chained_clicks_do_not_repeat_the_shared_page() -> None:
    paths = sessionize([c(0, 1, 2), c(5, 2, 3), c(9, 3, 4)], DEFAULT_TIMEOUT)
    assert summary(paths) == [(0, 9, [1, 2, 3, 4], "open")]


def test_back_button_inserts_source_page() -> None:
    # 1→2, then a click on page 1 again: the customer went back from 2 to 1 unrecorded.
    paths = sessionize([c(0, 1, 2), c(10, 1, 3)], DEFAULT_TIMEOUT)
    assert paths[0].pages == [1, 2, 1, 3]
    assert paths[0].length == 4


def test_jump_to_unrelated_page_inserts_it() -> None:
    paths = sessionize([c(0, 1, 2), c(10, 7, 8)], DEFAULT_TIMEOUT)
    assert paths[0].pages == [1, 2, 7, 8]


def test_self_link_appends_the_same_page_again() -> None:
    paths = sessionize([c(0, 4, 4), c(1, 4, 5)], DEFAULT_TIMEOUT)
    assert paths[0].pages == [4, 4, 5]
    assert paths[0].length == 3


# --- rule 3: resolution ------------------------------------------------------------------


def test_resolved_click_ends_path_and_next_click_starts_new_one() -> None:
    paths = sessionize([c(0, 1, 2), c(5, 2, 3, True), c(10, 3, 4)], DEFAULT_TIMEOUT)
    assert summary(paths) == [
        (0, 5, [1, 2, 3], "resolved"),
        (10, 10, [3, 4], "open"),
    ]


def test_resolved_first_click_is_a_two_page_path() -> None:
    paths = sessionize([c(0, 8, 9, True)], DEFAULT_TIMEOUT)
    assert summary(paths) == [(0, 0, [8, 9], "resolved")]


def test_resolved_path_is_not_abandoned_by_a_long_gap() -> None:
    paths = sessionize([c(0, 1, 2, True), c(10_000, 3, 4)], DEFAULT_TIMEOUT)
    assert summary(paths) == [(0, 0, [1, 2], "resolved"), (10_000, 10_000, [3, 4], "open")]


# --- rule 4: timeout ---------------------------------------------------------------------


def test_gap_of_more_than_timeout_abandons_earlier_path() -> None:
    paths = sessionize([c(0, 1, 2), c(1801, 2, 3)], DEFAULT_TIMEOUT)
    assert summary(paths) == [
        (0, 0, [1, 2], "abandoned"),
        (1801, 1801, [2, 3], "open"),
    ]


def test_gap_equal_to_timeout_keeps_path_open() -> None:
    paths = sessionize([c(0, 1, 2), c(1800, 2, 3)], DEFAULT_TIMEOUT)
    assert summary(paths) == [(0, 1800, [1, 2, 3], "open")]


def test_timeout_measured_from_last_click_not_path_start() -> None:
    timeout = 10
    paths = sessionize([c(0, 1, 2), c(10, 2, 3), c(20, 3, 4), c(31, 4, 5)], timeout)
    assert summary(paths) == [
        (0, 20, [1, 2, 3, 4], "abandoned"),
        (31, 31, [4, 5], "open"),
    ]


# --- rule 5: path_length -----------------------------------------------------------------


def test_path_length_counts_repeats_and_inserted_pages() -> None:
    # 1→2, 2→1, 1→2 (repeats), then 3→4 (3 inserted)
    paths = sessionize([c(0, 1, 2), c(1, 2, 1), c(2, 1, 2), c(3, 3, 4)], DEFAULT_TIMEOUT)
    assert paths[0].pages == [1, 2, 1, 2, 3, 4]
    assert paths[0].length == 6


# --- rule 6: turnarounds -----------------------------------------------------------------


def test_single_turnaround_located_at_middle_page() -> None:
    assert turnaround_pages([1, 2, 1]) == [2]


def test_overlapping_turnarounds_all_counted() -> None:
    assert turnaround_pages([1, 2, 1, 2, 1]) == [2, 1, 2]


def test_no_turnaround_at_path_ends() -> None:
    # the ends are equal, but neither end has two neighbours
    assert turnaround_pages([1, 2, 3, 1]) == []
    assert turnaround_pages([5, 6, 7, 6]) == [7]


@pytest.mark.parametrize("pages", [[], [3], [3, 3], [3, 4]])
def test_paths_shorter_than_three_have_no_turnaround(pages: list[int]) -> None:
    assert turnaround_pages(pages) == []


def test_turnaround_from_back_button() -> None:
    paths = sessionize([c(0, 1, 2), c(10, 1, 3)], DEFAULT_TIMEOUT)
    assert paths[0].turnaround_pages == [2]
    assert paths[0].has_turnaround is True


def test_straight_path_has_no_turnaround() -> None:
    path = Path(customer_id=1, variant="default", start_ts=0, end_ts=0, pages=[1, 2, 3, 4])
    assert path.turnaround_pages == []
    assert path.has_turnaround is False


def test_self_links_form_a_turnaround_on_the_same_page() -> None:
    paths = sessionize([c(0, 4, 4), c(1, 4, 4)], DEFAULT_TIMEOUT)
    assert paths[0].pages == [4, 4, 4]
    assert paths[0].turnaround_pages == [4]


# --- duplicates and order ----------------------------------------------------------------


def test_duplicate_deliveries_are_ignored_by_the_customer_log() -> None:
    log = CustomerLog(DEFAULT_TIMEOUT, 300)
    log.receive([c(0, 1, 2), c(0, 1, 2)])
    log.receive([c(5, 2, 3), c(5, 2, 3), c(0, 1, 2)])
    assert summary(log.paths) == [(0, 5, [1, 2, 3], "open")]


def test_two_equal_clicks_handed_to_the_fold_are_two_clicks() -> None:
    # Distinct events (different event_ids) with equal content: de-duplication is upstream.
    clicks = [c(0, 1, 2), c(0, 1, 2)]
    assert summary(sessionize(clicks, DEFAULT_TIMEOUT)) == [(0, 0, [1, 2, 1, 2], "open")]


def test_unsorted_input_is_sorted_by_timestamp() -> None:
    clicks = [c(20, 3, 4), c(0, 1, 2), c(10, 2, 3)]
    assert summary(sessionize(clicks, DEFAULT_TIMEOUT)) == [(0, 20, [1, 2, 3, 4], "open")]


def test_no_clicks_no_paths() -> None:
    assert sessionize([], DEFAULT_TIMEOUT) == []


# --- variant and customer ----------------------------------------------------------------


def test_path_variant_is_that_of_its_first_click() -> None:
    clicks = [
        c(0, 1, 2, variant="a"),
        c(1, 2, 3, True, variant="b"),
        c(2, 5, 6, variant="b"),
        c(3, 6, 7, variant="a"),
    ]
    paths = sessionize(clicks, DEFAULT_TIMEOUT)
    assert [(p.variant, p.pages, p.status) for p in paths] == [
        ("a", [1, 2, 3], "resolved"),
        ("b", [5, 6, 7], "open"),
    ]


def test_path_carries_customer_id() -> None:
    paths = sessionize([c(0, 1, 2, customer=42)], DEFAULT_TIMEOUT)
    assert paths[0].customer_id == 42


# --- ties (equal timestamps) -------------------------------------------------------------


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_chain_in_same_second_with_increasing_pages(order: tuple[int, int]) -> None:
    group = [c(50, 1, 2), c(50, 2, 3)]
    paths = sessionize([group[i] for i in order], DEFAULT_TIMEOUT)
    assert summary(paths) == [(50, 50, [1, 2, 3], "open")]


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_chain_in_same_second_continuing_current_page(order: tuple[int, int]) -> None:
    # the path is on page 5; 5→3 leaves it, so it goes first although 3→1 sorts first
    tail = Path(customer_id=1, variant="default", start_ts=0, end_ts=0, pages=[9, 5])
    group = [c(50, 5, 3), c(50, 3, 1)]
    paths = sessionize([group[i] for i in order], DEFAULT_TIMEOUT, tail=tail)
    assert summary(paths) == [(0, 50, [9, 5, 3, 1], "open")]


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_chain_in_same_second_with_decreasing_pages(order: tuple[int, int]) -> None:
    """A→B and B→C in one second, nothing before: the customer walked A→B→C.

    The chain's start goes first (its source is no other click's target), not the smallest
    source: [3, 1, 5, 3] would be a back-navigation that never happened.
    """
    group = [c(50, 5, 3), c(50, 3, 1)]
    paths = sessionize([group[i] for i in order], DEFAULT_TIMEOUT)
    assert summary(paths) == [(50, 50, [5, 3, 1], "open")]


def test_tie_order_independent_of_arrival_order() -> None:
    group = [c(7, 2, 3), c(7, 1, 2), c(7, 6, 0), c(7, 3, 4, True)]
    expected = [(7, 7, [1, 2, 3, 6, 0, 3, 4], "resolved")]
    for perm in permutations(group):
        assert summary(sessionize(list(perm), DEFAULT_TIMEOUT)) == expected


def test_resolved_click_in_a_tie_goes_last() -> None:
    # 1→2 resolved and 2→3 in the same second: the unresolved one is applied first
    tail = Path(customer_id=1, variant="default", start_ts=0, end_ts=0, pages=[0, 1])
    paths = sessionize([c(9, 1, 2, True), c(9, 2, 3)], DEFAULT_TIMEOUT, tail=tail)
    assert summary(paths) == [(0, 9, [0, 1, 2, 3, 1, 2], "resolved")]


def test_two_resolved_clicks_in_a_tie_make_two_paths() -> None:
    paths = sessionize([c(5, 3, 4, True), c(5, 1, 2, True)], DEFAULT_TIMEOUT)
    assert summary(paths) == [(5, 5, [1, 2], "resolved"), (5, 5, [3, 4], "resolved")]


# --- tail continuation -------------------------------------------------------------------


def test_open_tail_continuation_equals_full_fold() -> None:
    timeout = 100
    first = [c(0, 1, 2), c(50, 1, 3)]
    second = [c(120, 3, 4), c(130, 4, 5, True), c(140, 6, 7)]
    (tail,) = sessionize(first, timeout)
    assert summary([tail]) == [(0, 50, [1, 2, 1, 3], "open")]

    continued = sessionize(second, timeout, tail=tail)
    expected = [(0, 130, [1, 2, 1, 3, 4, 5], "resolved"), (140, 140, [6, 7], "open")]
    assert summary(continued) == expected
    assert summary(sessionize(first + second, timeout)) == expected


def test_tail_is_not_mutated_by_continuation() -> None:
    tail = Path(customer_id=1, variant="default", start_ts=0, end_ts=10, pages=[1, 2])
    sessionize([c(20, 2, 3, True)], DEFAULT_TIMEOUT, tail=tail)
    assert summary([tail]) == [(0, 10, [1, 2], "open")]


def test_abandoned_tail_reopened_when_next_click_within_timeout() -> None:
    tail = Path(customer_id=1, variant="v", start_ts=0, end_ts=10, pages=[1, 2], status="abandoned")
    paths = sessionize([c(60, 2, 3)], 50, tail=tail)
    assert summary(paths) == [(0, 60, [1, 2, 3], "open")]
    assert paths[0].variant == "v"


def test_abandoned_tail_stays_abandoned_when_next_click_beyond_timeout() -> None:
    tail = Path(
        customer_id=1, variant="default", start_ts=0, end_ts=10, pages=[1, 2], status="abandoned"
    )
    paths = sessionize([c(61, 2, 3)], 50, tail=tail)
    assert summary(paths) == [(0, 10, [1, 2], "abandoned"), (61, 61, [2, 3], "open")]


def test_open_tail_with_later_click_beyond_timeout_is_abandoned() -> None:
    tail = Path(customer_id=1, variant="default", start_ts=0, end_ts=10, pages=[1, 2])
    paths = sessionize([c(200, 2, 3)], 100, tail=tail)
    assert summary(paths) == [(0, 10, [1, 2], "abandoned"), (200, 200, [2, 3], "open")]


def test_resolved_tail_untouched_and_click_starts_new_path() -> None:
    tail = Path(
        customer_id=1, variant="default", start_ts=0, end_ts=10, pages=[1, 2], status="resolved"
    )
    paths = sessionize([c(15, 2, 3)], 100, tail=tail)
    assert summary(paths) == [(0, 10, [1, 2], "resolved"), (15, 15, [2, 3], "open")]


def test_tail_without_clicks_is_returned_as_a_copy() -> None:
    tail = Path(customer_id=1, variant="default", start_ts=0, end_ts=10, pages=[1, 2])
    (result,) = sessionize([], 100, tail=tail)
    assert summary([result]) == [(0, 10, [1, 2], "open")]
    result.pages.append(99)
    assert tail.pages == [1, 2]


@pytest.mark.parametrize("ts", [10, 9, 0])
def test_continuing_clicks_not_later_than_tail_raise(ts: int) -> None:
    tail = Path(customer_id=1, variant="default", start_ts=0, end_ts=10, pages=[1, 2])
    with pytest.raises(ValueError):
        sessionize([c(20, 2, 3), c(ts, 2, 4)], 100, tail=tail)


# --- close_if_idle -----------------------------------------------------------------------


def _open_path(end_ts: int = 100) -> Path:
    return Path(customer_id=1, variant="default", start_ts=0, end_ts=end_ts, pages=[1, 2])


def test_close_if_idle_closes_after_more_than_timeout() -> None:
    path = _open_path(100)
    assert close_if_idle(path, 151, 50) is True
    assert path.status == "abandoned"
    assert path.is_completed is True


def test_close_if_idle_keeps_open_at_exactly_timeout() -> None:
    path = _open_path(100)
    assert close_if_idle(path, 150, 50) is False
    assert path.status == "open"
    assert path.is_completed is False


def test_close_if_idle_without_stream_time_does_nothing() -> None:
    path = _open_path(100)
    assert close_if_idle(path, None, 50) is False
    assert path.status == "open"


@pytest.mark.parametrize("status", ["resolved", "abandoned"])
def test_close_if_idle_leaves_completed_paths_alone(status: PathStatus) -> None:
    path = _open_path(100)
    path.status = status
    assert close_if_idle(path, 10_000, 50) is False
    assert path.status == status


# --- is_late -----------------------------------------------------------------------------


def test_is_late_without_newest_is_never_late() -> None:
    assert is_late(0, None, 0) is False


def test_is_late_boundaries() -> None:
    assert is_late(700, 1000, 300) is False  # exactly at the bound
    assert is_late(699, 1000, 300) is True
    assert is_late(1000, 1000, 0) is False
    assert is_late(999, 1000, 0) is True
    assert is_late(2000, 1000, 0) is False  # newer than newest


# --- choose_cut --------------------------------------------------------------------------


def _p(start: int, end: int, status: PathStatus = "abandoned") -> Path:
    return Path(
        customer_id=1, variant="default", start_ts=start, end_ts=end, pages=[1, 2], status=status
    )


def test_choose_cut_without_paths_is_earliest_new() -> None:
    assert choose_cut([], 500, 10) == 500


def test_choose_cut_inside_last_path_goes_to_its_start() -> None:
    assert choose_cut([_p(0, 3, "resolved"), _p(20, 30, "open")], 25, 5) == 20


def test_choose_cut_before_last_path_but_far_from_previous() -> None:
    # new click at 10 lies between the paths; P1 ends 3 < 10 - 5, so it is kept
    assert choose_cut([_p(0, 3, "resolved"), _p(20, 30, "open")], 10, 5) == 10


def test_choose_cut_reaches_back_to_path_within_timeout() -> None:
    # P1 ends at 7 >= 10 - 5: the new click at 10 could extend it
    assert choose_cut([_p(0, 7), _p(20, 30, "open")], 10, 5) == 0


def test_choose_cut_boundary_gap_equal_to_timeout_included() -> None:
    assert choose_cut([_p(0, 5), _p(20, 30, "open")], 10, 5) == 0
    assert choose_cut([_p(0, 4), _p(20, 30, "open")], 10, 5) == 10


def test_choose_cut_walks_back_over_chained_paths() -> None:
    paths = [_p(0, 1), _p(10, 12, "resolved"), _p(12, 15, "resolved"), _p(16, 40, "open")]
    # 40 → cut 16; 15 >= 13 → 12; 12 >= 12 (ends at the cut) → 10; 1 < 13 and < 10 → stop
    assert choose_cut(paths, 18, 5) == 10


# --- CustomerLog -------------------------------------------------------------------------


def test_customer_log_in_order_batches() -> None:
    log = CustomerLog(timeout=100, allowed_lateness=30)
    log.receive([c(0, 1, 2), c(10, 1, 3)])
    log.receive([c(20, 3, 4, True)])
    log.receive([c(300, 5, 6)])
    assert summary(log.paths) == [(0, 20, [1, 2, 1, 3, 4], "resolved"), (300, 300, [5, 6], "open")]
    assert log.late == []
    assert log.newest == 300


def test_customer_log_out_of_order_within_lateness_refolds() -> None:
    log = CustomerLog(timeout=100, allowed_lateness=30)
    log.receive([c(0, 1, 2), c(20, 3, 4)])
    log.receive([c(10, 2, 3)])  # 10 >= 20 - 30: not late
    assert summary(log.paths) == [(0, 20, [1, 2, 3, 4], "open")]
    assert log.late == []


def test_customer_log_late_click_kept_and_not_applied() -> None:
    log = CustomerLog(timeout=100, allowed_lateness=30)
    log.receive([c(0, 1, 2), c(50, 2, 3)])
    late = c(19, 2, 9)  # 19 < 50 - 30
    log.receive([late])
    assert log.late == [late]
    assert late not in log.clicks
    assert summary(log.paths) == [(0, 50, [1, 2, 3], "open")]


def test_customer_log_duplicate_late_click_stored_once() -> None:
    log = CustomerLog(timeout=100, allowed_lateness=30)
    log.receive([c(0, 1, 2), c(50, 2, 3)])
    late = c(10, 2, 9)
    log.receive([late, late])
    log.receive([late])
    assert log.late == [late]
    assert summary(log.paths) == [(0, 50, [1, 2, 3], "open")]


def test_customer_log_duplicate_of_applied_click_ignored() -> None:
    log = CustomerLog(timeout=100, allowed_lateness=0)
    first = c(0, 1, 2)
    log.receive([first, c(500, 2, 3)])
    log.receive([first])  # 0 < 500 - 0, but already applied: a duplicate, not late
    assert log.late == []
    assert log.clicks == {first, c(500, 2, 3)}
    assert summary(log.paths) == [(0, 0, [1, 2], "abandoned"), (500, 500, [2, 3], "open")]


def test_customer_log_lateness_measured_within_one_batch() -> None:
    log = CustomerLog(timeout=100, allowed_lateness=30)
    early = c(10, 1, 2)
    log.receive([c(100, 5, 6), early])  # newest is already 100 when 10 arrives
    assert log.late == [early]
    assert summary(log.paths) == [(100, 100, [5, 6], "open")]


def test_customer_log_tie_after_gap_matches_single_fold() -> None:
    """Refolding from a cut must give what one sorted fold gives (contract §3).

    timeout 5; 1→2 at 0, then 2→3 and 0→4 both at 10 (gap 10 > 5, so a new path).
    The first path is [1, 2] abandoned either way; the second holds both clicks of t=10,
    ordered without the abandoned path's last page, so the single fold and the log's refold
    from cut=10 agree.
    """
    log = CustomerLog(timeout=5, allowed_lateness=300)
    log.receive([c(0, 1, 2), c(10, 2, 3)])
    log.receive([c(10, 0, 4)])
    single = sessionize([c(0, 1, 2), c(10, 2, 3), c(10, 0, 4)], 5)

    assert summary(log.paths)[0] == (0, 0, [1, 2], "abandoned")
    assert (log.paths[1].start_ts, log.paths[1].end_ts, log.paths[1].status) == (10, 10, "open")
    assert sorted(log.paths[1].pages) == [0, 2, 3, 4]
    assert summary(log.paths) == summary(single)

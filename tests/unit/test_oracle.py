"""The independent oracle (tests/oracle.py): its own consistency, the contract's examples,
and agreement with the production sessionizer on generated clicks.

The last property is what makes a sessionizer mutant visible at unit speed; the end-to-end
tests compare the whole product with the oracle.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpstream.workers.sessionizer import Click, close_if_idle, sessionize
from tests import oracle
from tests.oracle import OClick

TIMEOUT = 1800


def click(ts: int, source: int, target: int, resolved: bool = False, customer: int = 1) -> OClick:
    return OClick(ts, customer, source, target, resolved)


def summary(paths: list[oracle.OPath]) -> list[tuple[int, int, list[int], str]]:
    return [(p.start_ts, p.end_ts, p.pages, p.status) for p in paths]


def test_seed_scenario() -> None:
    c1 = [click(1, 11, 28), click(2, 28, 35), click(3, 35, 42, True)]
    c2 = [click(1, 11, 35, customer=2), click(2, 35, 42, True, customer=2)]
    paths = oracle.all_paths(c1 + c2, TIMEOUT)
    assert [(p.customer_id, p.pages, len(p.pages), p.status) for p in paths] == [
        (1, [11, 28, 35, 42], 4, "resolved"),
        (2, [11, 35, 42], 3, "resolved"),
    ]


def test_back_button_inserts_the_source_page() -> None:
    paths = oracle.customer_paths([click(0, 1, 2), click(5, 1, 3)], TIMEOUT)
    assert summary(paths) == [(0, 5, [1, 2, 1, 3], "open")]
    assert oracle.turnaround_locations(paths[0].pages) == [2]


def test_gap_of_exactly_the_timeout_continues_one_more_abandons() -> None:
    same = oracle.customer_paths([click(0, 1, 2), click(TIMEOUT, 2, 3)], TIMEOUT)
    assert summary(same) == [(0, TIMEOUT, [1, 2, 3], "open")]
    split = oracle.customer_paths([click(0, 1, 2), click(TIMEOUT + 1, 2, 3)], TIMEOUT)
    assert summary(split) == [
        (0, 0, [1, 2], "abandoned"),
        (TIMEOUT + 1, TIMEOUT + 1, [2, 3], "open"),
    ]


def test_idle_on_the_stream_closes_only_beyond_the_timeout() -> None:
    at = oracle.customer_paths([click(0, 1, 2)], TIMEOUT, stream_time=TIMEOUT)
    beyond = oracle.customer_paths([click(0, 1, 2)], TIMEOUT, stream_time=TIMEOUT + 1)
    assert [p.status for p in at] == ["open"]
    assert [p.status for p in beyond] == ["abandoned"]


def test_same_second_chain_starts_at_its_start_and_resolution_comes_last() -> None:
    group = [click(7, 3, 4, True), click(7, 2, 3), click(7, 1, 2)]
    assert summary(oracle.customer_paths(group, TIMEOUT)) == [(7, 7, [1, 2, 3, 4], "resolved")]


def test_metrics_follow_the_contract_formulas() -> None:
    paths = [
        oracle.OPath(1, "a", 0, 10, [1, 2, 1, 3], "resolved"),
        oracle.OPath(2, "a", 0, 20, [1, 3], "resolved"),
        oracle.OPath(3, "a", 0, 30, [4, 5, 4], "abandoned"),
        oracle.OPath(4, "a", 0, 40, [9, 9], "open"),
    ]
    m = oracle.path_metrics(paths)
    assert m == {
        "completed_paths": 3,
        "resolved_paths": 2,
        "abandoned_paths": 1,
        "resolution_rate": 2 / 3,
        "average_path_length": 3.0,
        "path_length_variance": 1.0,
        "turnaround_rate": 2 / 3,
    }
    assert oracle.path_metrics(paths, since=11, until=30)["completed_paths"] == 2
    assert oracle.path_metrics(paths, since=10, until=10)["completed_paths"] == 1
    pages = {i["page_id"]: i for i in oracle.page_metrics(paths)["items"]}
    assert (pages[1]["visits"], pages[1]["departures"], pages[1]["turnarounds"]) == (3, 3, 0)
    assert (pages[2]["turnarounds"], pages[5]["turnarounds"]) == (1, 1)
    assert (pages[3]["resolutions"], pages[3]["departures"]) == (2, 0)
    assert 9 not in pages  # open paths do not count


def test_benjamini_hochberg_step_up() -> None:
    # m = 4, q = 0.05: thresholds 0.0125, 0.025, 0.0375, 0.05. The third p passes its
    # threshold, so the first three are rejected although the second alone would not be.
    assert oracle.benjamini_hochberg({1: 0.01, 2: 0.03, 3: 0.035, 4: 0.5}) == {1, 2, 3}
    assert oracle.benjamini_hochberg({1: 0.02, 2: 0.9}) == {1}
    assert oracle.benjamini_hochberg({1: 0.2, 2: 0.9}) == set()
    assert oracle.one_sided_p(0.0) == pytest.approx(0.5)
    assert oracle.one_sided_p(1.6448536) == pytest.approx(0.05, abs=1e-6)


PAGES = st.integers(min_value=0, max_value=4)


@st.composite
def same_second_groups(draw: st.DrawFn) -> tuple[list[OClick], int | None]:
    n = draw(st.integers(min_value=1, max_value=5))
    group = [
        OClick(9, 1, draw(PAGES), draw(PAGES), draw(st.booleans()), draw(st.sampled_from("ab")))
        for _ in range(n)
    ]
    return group, draw(st.none() | PAGES)


@given(same_second_groups())
@settings(max_examples=300)
def test_brute_force_and_step_by_step_tie_orders_agree(
    case: tuple[list[OClick], int | None],
) -> None:
    group, current = case
    assert oracle.tie_order_brute_force(group, current) == oracle.tie_order_by_steps(group, current)


@st.composite
def customer_clicks(draw: st.DrawFn) -> tuple[list[OClick], int]:
    """Clicks of a few customers with ties, gaps at the timeout boundary and beyond it."""
    timeout = draw(st.sampled_from([5, 30]))
    gaps = st.one_of(
        st.just(0),
        st.integers(0, 3),
        st.sampled_from([timeout - 1, timeout, timeout + 1]),
        st.integers(timeout + 1, 3 * timeout),
    )
    clicks: list[OClick] = []
    for customer in range(draw(st.integers(1, 3))):
        ts = draw(st.integers(0, 50))
        for _ in range(draw(st.integers(0, 10))):
            clicks.append(
                OClick(
                    ts,
                    customer,
                    draw(PAGES),
                    draw(PAGES),
                    draw(st.integers(0, 4)) == 4,
                    draw(st.sampled_from(["a", "b"])),
                )
            )
            ts += draw(gaps)
    return clicks, timeout


@given(customer_clicks(), st.randoms(use_true_random=False))
@settings(max_examples=400, deadline=None)
def test_oracle_agrees_with_the_production_sessionizer(
    case: tuple[list[OClick], int], rnd: object
) -> None:
    """Independent derivations of one rule: any difference is a bug in one of them."""
    clicks, timeout = case
    shuffled = list(clicks)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    want = oracle.all_paths(shuffled, timeout)
    stream_time = max((c.timestamp for c in clicks), default=None)
    got = []
    for customer in sorted({c.customer_id for c in clicks}):
        mine = [
            Click(c.timestamp, c.customer_id, c.source, c.target, c.resolved, c.variant)
            for c in shuffled
            if c.customer_id == customer
        ]
        paths = sessionize(mine, timeout)
        for p in paths:
            close_if_idle(p, stream_time, timeout)
        got.extend(paths)
    assert [(p.customer_id, p.variant, p.start_ts, p.end_ts, p.pages, p.status) for p in got] == [
        (p.customer_id, p.variant, p.start_ts, p.end_ts, p.pages, p.status) for p in want
    ]


def test_z_scores_and_sorting() -> None:
    paths = [oracle.OPath(i, "a", 0, 1, [1, 2, 1], "abandoned") for i in range(3)] + [
        oracle.OPath(9, "a", 0, 1, [3, 4, 5, 6], "abandoned")
    ]
    result = oracle.page_metrics(paths)
    p = 3 / 9
    assert result["global_turnaround_rate"] == pytest.approx(p)
    by_page = {i["page_id"]: i for i in result["items"]}
    assert by_page[2]["z_score"] == pytest.approx((3 - 3 * p) / math.sqrt(3 * p * (1 - p)))
    assert by_page[6]["z_score"] is None  # no departures
    zs = [i["z_score"] for i in result["items"] if i["z_score"] is not None]
    assert zs == sorted(zs, reverse=True)
    assert result["items"][-1]["z_score"] is None

"""How a worker cuts the entries of one read into transactions (`_chunk_ends`)."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from helpstream.workers.consumer import _chunk_ends


def chunks(sizes: list[int], most: int) -> list[list[int]]:
    ends = _chunk_ends(sizes, most)
    return [sizes[a:b] for a, b in zip([0, *ends], ends, strict=False)]


def test_entries_are_grouped_up_to_the_event_bound() -> None:
    assert chunks([2, 2, 2, 2, 2], 4) == [[2, 2], [2, 2], [2]]


def test_an_entry_bigger_than_the_bound_is_a_transaction_of_its_own() -> None:
    assert chunks([1, 10, 1], 4) == [[1], [10], [1]]


def test_one_entry_is_one_transaction() -> None:
    assert chunks([0], 4) == [[0]]


@given(st.lists(st.integers(0, 50), min_size=1, max_size=60), st.integers(1, 100))
def test_chunks_cover_every_entry_in_order_within_the_bound_and_greedily(
    sizes: list[int], most: int
) -> None:
    parts = chunks(sizes, most)
    assert [size for part in parts for size in part] == sizes  # nothing lost or reordered
    assert all(part for part in parts)  # no empty transaction
    for part in parts:
        assert sum(part) <= most or len(part) == 1  # only a lone big entry exceeds
    for part, following in pairwise(parts):
        assert sum(part) + following[0] > most  # the next entry did not fit

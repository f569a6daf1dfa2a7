"""`OpenPathEnds`: the owner's map of where open paths end, used to close idle ones.

Idle closing asks PostgreSQL only for the customers this names, so it must name exactly
the open paths that ended before the bound: a missed one would stay open.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from helpstream.workers.path_store import OpenPathEnds

customers = st.integers(min_value=0, max_value=20)
times = st.integers(min_value=0, max_value=50)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), customers, times),
        st.tuples(st.just("discard"), customers, st.just(0)),
        st.tuples(st.just("pop"), st.just(0), times),
    ),
    max_size=200,
)


@given(operations)
def test_it_behaves_as_a_plain_dict_scanned_in_full(ops: list[tuple[str, int, int]]) -> None:
    ends = OpenPathEnds()
    model: dict[int, int] = {}
    for op, customer, value in ops:
        if op == "set":
            ends.set(customer, value)
            model[customer] = value
        elif op == "discard":
            ends.discard(customer)
            model.pop(customer, None)
        else:
            expected = {c for c, end in model.items() if end < value}
            assert set(ends.pop_ended_before(value)) == expected
            for c in expected:
                del model[c]
        assert ends.as_dict() == model


def test_a_path_that_moves_on_is_not_closed_at_its_old_end() -> None:
    ends = OpenPathEnds()
    ends.set(1, 100)
    ends.set(2, 100)
    ends.set(1, 300)  # customer 1 clicked again
    assert ends.pop_ended_before(200) == [2]
    assert ends.pop_ended_before(200) == []
    assert ends.pop_ended_before(301) == [1]


def test_an_end_seen_again_after_its_time_passed_is_still_found() -> None:
    """A bound can pass a time and a later path end there (a re-fold moves it back)."""
    ends = OpenPathEnds()
    ends.set(1, 100)
    assert ends.pop_ended_before(150) == [1]
    ends.set(2, 100)
    assert ends.pop_ended_before(150) == [2]

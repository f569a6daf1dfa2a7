"""A click without event_id is keyed by its content, and the key never changes spelling:
a retry after an upgrade must still find the first delivery's key in `clicks`."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from helpstream.api.models import BIGINT_MAX
from helpstream.api.routes.clicks import content_key_of


def reference_key(
    customer_id: int, timestamp: int, source: int, target: int, resolved: bool, variant: str
) -> str:
    """The definition: BLAKE2b-128 (person "helpstream-click") of the fields joined by ":",
    spelled as a lower-case hyphenated UUID."""
    text = f"{customer_id}:{timestamp}:{source}:{target}:{int(resolved)}:{variant}"
    digest = hashlib.blake2b(text.encode(), digest_size=16, person=b"helpstream-click")
    h = digest.hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def test_known_keys_keep_their_spelling() -> None:
    """Keys stored by earlier releases (computed with the release before this test)."""
    assert content_key_of(1, 1515764691, 11, 28, False, "default") == (
        "6d2dd739-e1eb-73e0-3e0f-4699dda68a29"
    )
    assert content_key_of(BIGINT_MAX, 0, 0, BIGINT_MAX, True, "a.b-c_9") == (
        "34641eb4-284c-a968-e726-5a69f006d0e3"
    )


ids = st.integers(0, BIGINT_MAX)


@given(ids, st.integers(0, 253402300799), ids, ids, st.booleans(), st.text(max_size=64))
def test_keys_follow_the_definition(
    customer_id: int, timestamp: int, source: int, target: int, resolved: bool, variant: str
) -> None:
    fields = (customer_id, timestamp, source, target, resolved, variant)
    assert content_key_of(*fields) == reference_key(*fields)

"""`RequestDurations` exposes exactly what prometheus_client's own `Histogram` would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from helpstream.api.http_metrics import BUCKETS, RequestDurations

LABELS = ("method", "route", "status")
NAME = "helpstream_http_request_duration_seconds"
label_sets = st.sampled_from(
    [("POST", "/v1/clicks", "2xx"), ("POST", "/v1/clicks", "4xx"), ("GET", "/v1/paths", "2xx")]
)
# Bucket bounds themselves included: a duration equal to a bound counts in that bucket.
durations = st.one_of(
    st.sampled_from(BUCKETS), st.floats(min_value=0, max_value=30, allow_nan=False)
)


def exposition(registry: CollectorRegistry) -> list[str]:
    """The sample lines, without `_created` (only prometheus_client's Histogram has it)."""
    text = generate_latest(registry).decode()
    return sorted(line for line in text.splitlines() if "_created" not in line)


@given(st.lists(st.tuples(label_sets, durations), max_size=50))
def test_same_exposition_as_prometheus_client_histogram(
    observations: list[tuple[tuple[str, str, str], float]],
) -> None:
    reference_registry, ours_registry = CollectorRegistry(), CollectorRegistry()
    reference = Histogram(NAME, "d", LABELS, buckets=BUCKETS, registry=reference_registry)
    ours = RequestDurations(NAME, "d", LABELS, BUCKETS)
    ours_registry.register(ours)
    for labels, seconds in observations:
        reference.labels(*labels).observe(seconds)
        ours.observe(ours.series(*labels), seconds)
    assert exposition(ours_registry) == exposition(reference_registry)


def test_a_duration_on_a_bound_is_in_that_bucket() -> None:
    registry = CollectorRegistry()
    ours = RequestDurations(NAME, "d", LABELS, BUCKETS)
    registry.register(ours)
    ours.observe(ours.series("POST", "/v1/clicks", "2xx"), 0.001)
    text = generate_latest(registry).decode()
    assert f'{NAME}_bucket{{le="0.0005",method="POST",route="/v1/clicks",status="2xx"}} 0.0' in text
    assert f'{NAME}_bucket{{le="0.001",method="POST",route="/v1/clicks",status="2xx"}} 1.0' in text

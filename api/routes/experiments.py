"""Experiments and ticket deflection (contract §7).

`GET /v1/experiments/compare` reads each variant's figures with the very function behind
`GET /v1/metrics/paths` (rollups + exact window edges) and does the statistics in
`helpstream.api.comparison`: nothing here re-implements a metric.

`GET /v1/metrics/deflection` joins, at read time, the completed paths ending in the window
with the tickets of the same customers (db/queries/deflection.sql). That is exact by
construction under any arrival order and any duplicates: paths converge to the sorted,
de-duplicated clickstream (contract §3) and a ticket is one row whatever how often its
`ticket.opened` was sent, so the join of the converged tables is the converged answer. A
rollup would have to be rewritten for past paths whenever a late ticket arrives, from a
ticket partition into click partitions' rows; the query needs no such coupling. Its cost is
one index range scan over the window's completed paths (`paths_completed_end`) plus one
index probe per path into `tickets_customer_opened` (migration 007): proportional to the
paths asked about, as for `GET /v1/metrics/top-paths`, never to the tables' total size
when a window is given.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from helpstream.api.comparison import Options, compare, compare_many
from helpstream.api.deps import AppSettings, Pool
from helpstream.api.models import PathMetrics
from helpstream.api.models_experiments import (
    DEFLECTION_EXAMPLE,
    EXAMPLE,
    Comparison,
    Deflection,
    DeflectionPage,
    MultiComparison,
    VariantStats,
)
from helpstream.api.routes.paths import SinceQuery, UntilQuery, VariantQuery, path_metrics
from helpstream.api.windows import UNBOUNDED_HIGH, UNBOUNDED_LOW
from helpstream.constants import VARIANT_REGEX
from helpstream.db import query

router = APIRouter(tags=["experiments"])

COMPARE_DOC = """
Compares `variant` with `baseline` over completed paths ending in [since, until]:

* `resolution_rate`: resolved / completed paths; `difference` = variant − baseline with a
  95 % Newcombe interval and the two-proportion z-test p-value.
* `path_length`: mean length of **resolved** paths; `difference` with a 95 % Welch
  interval and p-value, and `relative_lift` = difference / baseline mean (delta method).
* `verdict` per metric: `better` (higher rate, shorter paths) or `worse` when p < 0.05,
  else `no significant difference`; `not enough data` while a variant has fewer than
  `min_paths` paths. Overall: the common verdict of the metrics still significant after
  Holm's correction over the two (so two identical variants get a false `better`/`worse`
  at most 5 % of the time, not 10 %), `mixed` when they disagree.
* `sample_ratio_mismatch`: chi-square of the split of completed paths against
  `expected_ratio` (the variant's intended share); `suspect` at p < 0.001.
* `required_paths_per_variant`: completed paths per variant that would detect the observed
  differences with 80 % power (two-sided, 5 %).
* `sequential=true`: anytime-valid p-values and 95 % confidence sequences (normal-mixture
  SPRT), valid however often the live dashboard is looked at; the fixed-horizon ones are
  only valid when read once at a planned sample size.
* Repeat `variant=` to compare several variants with one baseline: the answer is then
  `{"baseline", "comparisons": [...], "correction": "holm"}` with Holm-adjusted p-values.

Worked example (`helpstream demo`, whole period): B resolves 76.8 % of 583 paths against
A's 64.6 % of 517: difference +0.122, 95 % [0.069, 0.176], p = 8e-6, `better`. B's resolved
paths average 3.46 pages against 4.10: difference −0.65 [−0.77, −0.53], relative lift −15.8 %
[−18.4 %, −13.2 %], p = 1e-23, `better`. Overall `better`; 214 paths per variant would have
sufficed for 80 % power; the 517 / 583 split gives p = 0.047 against 50/50, not suspect.
"""

DEFLECTION_DOC = """
Over completed paths ending in [since, until]: a path is **escalated** when its customer
opened a ticket (`ticket.opened`) within `window_hours` after the path's end (inclusive).
`escalation_rate` = escalated / completed; `deflection_rate` = resolved paths not escalated
/ completed, the share of visits self-service answered for good. `items`: the last pages of
escalated paths, most escalations first.

Worked example: 200 completed paths, 150 resolved, 30 escalated of which 10 had been
resolved: escalation_rate = 30 / 200 = 0.15, deflection_rate = (150 − 10) / 200 = 0.70.
"""

BaselineQuery = Annotated[str, Query(pattern=VARIANT_REGEX, description="The control variant.")]
VariantsQuery = Annotated[
    list[Annotated[str, Field(pattern=VARIANT_REGEX)]],
    Query(
        min_length=1,
        max_length=20,
        description="The variant compared with the baseline (repeat for several).",
    ),
]


def variant_stats(variant: str, metrics: PathMetrics) -> VariantStats:
    return VariantStats(
        variant=variant,
        completed_paths=metrics.completed_paths,
        resolved_paths=metrics.resolved_paths,
        resolution_rate=metrics.resolution_rate,
        average_path_length=metrics.average_path_length,
        path_length_variance=metrics.path_length_variance,
        turnaround_rate=metrics.turnaround_rate,
    )


@router.get(
    "/v1/experiments/compare",
    response_model=Comparison | MultiComparison,
    summary="Is a variant better than the baseline? Differences with intervals and verdicts",
    description=COMPARE_DOC,
    responses={200: {"content": {"application/json": {"example": EXAMPLE}}}},
)
async def compare_variants(
    pool: Pool,
    settings: AppSettings,
    baseline: BaselineQuery,
    variant: VariantsQuery,
    since: SinceQuery = None,
    until: UntilQuery = None,
    expected_ratio: Annotated[
        float, Query(gt=0, lt=1, description="The variant's intended share of the two.")
    ] = 0.5,
    sequential: Annotated[
        bool, Query(description="Anytime-valid p-values and confidence sequences.")
    ] = False,
) -> Comparison | MultiComparison:
    opts = Options(settings.experiment_min_paths, expected_ratio, sequential)
    base = variant_stats(baseline, await path_metrics(pool, baseline, since, until))
    others = [variant_stats(v, await path_metrics(pool, v, since, until)) for v in variant]
    if len(others) == 1:
        return compare(base, others[0], opts)
    return MultiComparison(baseline=base, comparisons=compare_many(base, others, opts))


@router.get(
    "/v1/metrics/deflection",
    response_model=Deflection,
    summary="How many visits self-service answered without a ticket, and where escalations start",
    description=DEFLECTION_DOC,
    responses={200: {"content": {"application/json": {"example": DEFLECTION_EXAMPLE}}}},
)
async def deflection(
    pool: Pool,
    variant: VariantQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    window_hours: Annotated[
        float, Query(ge=0, le=8784, description="Hours after a path's end a ticket counts.")
    ] = 24,
) -> Deflection:
    rows = await pool.fetch(
        query("deflection"),
        variant,
        UNBOUNDED_LOW if since is None else since,
        UNBOUNDED_HIGH if until is None else until,
        round(window_hours * 3600),
    )
    completed = sum(r["completed"] for r in rows)
    escalated = sum(r["escalated"] for r in rows)
    items = sorted(
        (
            DeflectionPage(page_id=r["last_page"], escalations=r["escalated"])
            for r in rows
            if r["escalated"]
        ),
        key=lambda item: (-item.escalations, item.page_id),
    )
    return Deflection(
        completed_paths=completed,
        resolved_paths=sum(r["resolved"] for r in rows),
        escalated_paths=escalated,
        escalation_rate=escalated / completed if completed else None,
        deflection_rate=sum(r["deflected"] for r in rows) / completed if completed else None,
        window_hours=window_hours,
        items=items,
    )

"""Turn two variants' summary statistics into the contract §7 comparison (pure, no I/O).

The route reads each variant's `VariantStats` from the path rollups (the same numbers as
`GET /v1/metrics/paths`) and hands them here; everything below is arithmetic on them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from helpstream.api import stats
from helpstream.api.models_experiments import (
    Comparison,
    LengthComparison,
    OverallVerdict,
    RateComparison,
    SampleRatioMismatch,
    VariantStats,
    Verdict,
)

NOT_ENOUGH: Verdict = "not enough data"


@dataclass(frozen=True, slots=True)
class Options:
    min_paths: int = 100
    expected_ratio: float = 0.5
    sequential: bool = False


def sample_variance(s: VariantStats) -> float:
    """The unbiased (n − 1) variance of resolved path lengths, from the population one."""
    n = s.resolved_paths
    return (s.path_length_variance or 0.0) * n / (n - 1) if n > 1 else math.nan


def _rate(s: VariantStats) -> float:
    return s.resolved_paths / s.completed_paths if s.completed_paths else math.nan


def metric_verdict(
    interval: stats.Interval | None, p_value: float | None, enough: bool, higher_is_better: bool
) -> Verdict:
    if not enough or interval is None or p_value is None:
        return NOT_ENOUGH
    if p_value >= stats.ALPHA or interval.difference == 0:
        return "no significant difference"
    return "better" if (interval.difference > 0) == higher_is_better else "worse"


def overall_verdict(verdicts: Sequence[Verdict]) -> OverallVerdict:
    if NOT_ENOUGH in verdicts:
        return NOT_ENOUGH
    if "better" in verdicts and "worse" in verdicts:
        return "mixed"
    for decisive in ("better", "worse"):
        if decisive in verdicts:
            return decisive
    return "no significant difference"


def rate_interval(b: VariantStats, v: VariantStats, opts: Options) -> stats.Interval | None:
    if opts.sequential:
        if not b.completed_paths or not v.completed_paths:
            return None
        p_b, p_v = _rate(b), _rate(v)
        return stats.sequential(
            p_v - p_b, p_b * (1 - p_b), b.completed_paths, p_v * (1 - p_v), v.completed_paths
        )
    return stats.two_proportions(
        b.resolved_paths, b.completed_paths, v.resolved_paths, v.completed_paths
    )


def length_interval(b: VariantStats, v: VariantStats, opts: Options) -> stats.Interval | None:
    if b.resolved_paths < 2 or v.resolved_paths < 2:
        return None
    mean_b, mean_v = b.average_path_length or 0.0, v.average_path_length or 0.0
    var_b, var_v = sample_variance(b), sample_variance(v)
    if opts.sequential:
        return stats.sequential(mean_v - mean_b, var_b, b.resolved_paths, var_v, v.resolved_paths)
    return stats.welch(mean_b, var_b, b.resolved_paths, mean_v, var_v, v.resolved_paths)


def _required_rate_paths(b: VariantStats, v: VariantStats) -> int | None:
    if not b.completed_paths or not v.completed_paths:
        return None
    p_b, p_v = _rate(b), _rate(v)
    return stats.required_n(p_v - p_b, p_b * (1 - p_b), p_v * (1 - p_v))


def _required_length_paths(b: VariantStats, v: VariantStats) -> int | None:
    if b.resolved_paths < 2 or v.resolved_paths < 2:
        return None
    difference = (v.average_path_length or 0.0) - (b.average_path_length or 0.0)
    resolved = stats.required_n(difference, sample_variance(b), sample_variance(v))
    if resolved is None:
        return None
    share = (b.resolved_paths + v.resolved_paths) / (b.completed_paths + v.completed_paths)
    return math.ceil(resolved / share)


def compare(
    b: VariantStats,
    v: VariantStats,
    opts: Options,
    adjusted_p: tuple[float | None, float | None] | None = None,
) -> Comparison:
    """The comparison of ``v`` against ``b``; ``adjusted_p`` replaces the two metrics'
    p-values (rate, length) when several variants are compared at once."""
    rate = rate_interval(b, v, opts)
    length = length_interval(b, v, opts)
    rate_p = rate.p_value if rate else None
    length_p = length.p_value if length else None
    if adjusted_p is not None:
        rate_p, length_p = adjusted_p
    enough_rate = min(b.completed_paths, v.completed_paths) >= opts.min_paths
    enough_length = min(b.resolved_paths, v.resolved_paths) >= opts.min_paths
    rate_verdict = metric_verdict(rate, rate_p, enough_rate, higher_is_better=True)
    length_verdict = metric_verdict(length, length_p, enough_length, higher_is_better=False)
    overall = overall_verdict([rate_verdict, length_verdict])
    if rate_p is not None and length_p is not None:
        # The overall claim is about two metrics at once: Holm over the pair keeps its
        # false-positive rate at ALPHA (two separate 5 % tests would give ~10 %).
        both_rate, both_length = stats.holm([rate_p, length_p])
        overall = overall_verdict(
            [
                metric_verdict(rate, both_rate, enough_rate, higher_is_better=True),
                metric_verdict(length, both_length, enough_length, higher_is_better=False),
            ]
        )
    required = [r for r in (_required_rate_paths(b, v), _required_length_paths(b, v)) if r]
    return Comparison(
        baseline=b,
        variant=v,
        resolution_rate=RateComparison(
            difference=rate.difference if rate else None,
            ci_low=rate.ci_low if rate else None,
            ci_high=rate.ci_high if rate else None,
            p_value=rate_p,
            verdict=rate_verdict,
            required_paths=_required_rate_paths(b, v),
        ),
        path_length=_length_block(b, v, length, length_p, length_verdict),
        sample_ratio_mismatch=_srm(b, v, opts.expected_ratio),
        verdict=overall,
        required_paths_per_variant=max(required) if required else None,
        sequential=opts.sequential,
        min_paths=opts.min_paths,
    )


def _length_block(
    b: VariantStats,
    v: VariantStats,
    length: stats.Interval | None,
    p_value: float | None,
    verdict: Verdict,
) -> LengthComparison:
    lift = None
    if b.resolved_paths >= 2 and v.resolved_paths >= 2:
        lift = stats.relative_lift(
            b.average_path_length or 0.0,
            sample_variance(b),
            b.resolved_paths,
            v.average_path_length or 0.0,
            sample_variance(v),
            v.resolved_paths,
        )
    return LengthComparison(
        difference=length.difference if length else None,
        ci_low=length.ci_low if length else None,
        ci_high=length.ci_high if length else None,
        relative_lift=lift.difference if lift else None,
        relative_lift_ci_low=lift.ci_low if lift else None,
        relative_lift_ci_high=lift.ci_high if lift else None,
        p_value=p_value,
        verdict=verdict,
        required_paths=_required_length_paths(b, v),
    )


def _srm(b: VariantStats, v: VariantStats, expected_ratio: float) -> SampleRatioMismatch:
    check = stats.sample_ratio_mismatch(b.completed_paths, v.completed_paths, expected_ratio)
    return SampleRatioMismatch(
        p_value=check.p_value if check else None,
        suspect=check.suspect if check else False,
        expected_ratio=expected_ratio,
    )


def compare_many(
    b: VariantStats, variants: Sequence[VariantStats], opts: Options
) -> list[Comparison]:
    """Each variant against ``b``, p-values Holm-adjusted per metric over the variants."""
    raw = [(rate_interval(b, v, opts), length_interval(b, v, opts)) for v in variants]
    adjusted: list[list[float | None]] = []
    for metric in (0, 1):
        present = [i for i, pair in enumerate(raw) if pair[metric] is not None]
        p_values = [raw[i][metric].p_value for i in present]  # type: ignore[union-attr]
        column: list[float | None] = [None] * len(raw)
        for i, p in zip(present, stats.holm(p_values), strict=True):
            column[i] = p
        adjusted.append(column)
    return [
        compare(b, v, opts, adjusted_p=(adjusted[0][i], adjusted[1][i]))
        for i, v in enumerate(variants)
    ]

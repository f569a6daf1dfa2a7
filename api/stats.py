"""Two-sample statistics for experiments (contract §7): pure functions, no I/O.

Every function takes summary statistics (counts, means, variances), never raw rows, so the
API answers from the same rollups as `GET /v1/metrics/paths`. Conventions:

* ``difference`` is always variant − baseline; intervals are two-sided at 1 − ALPHA (95 %).
* Proportions: the p-value is the pooled two-proportion z-test (identical to Pearson's
  chi-square on the 2×2 table without continuity correction); the interval is Newcombe's
  hybrid score interval (built from two Wilson intervals), which stays inside [−1, 1] and
  behaves at rates of 0 and 1 where the textbook Wald interval collapses to a point.
* Means: Welch's t (unequal variances, Welch–Satterthwaite degrees of freedom).
* Relative lift: (variant − baseline) / baseline with the delta-method standard error.
* Sequential (anytime-valid) mode: the normal-mixture sequential probability ratio test
  (mSPRT, Johari et al. 2017; Robbins' normal mixture) on the same difference, with its
  confidence sequence. Its p-value and interval stay valid however often they are looked
  at, which the fixed-horizon ones are not; see `sequential`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from helpstream.api.distributions import (
    chi2_1df_sf,
    normal_ppf,
    normal_sf,
    t_ppf,
    t_two_sided_p,
)

ALPHA = 0.05
POWER = 0.80
SRM_ALPHA = 0.001
# The mSPRT's mixing distribution N(0, τ²) has τ² = σ² / SEQUENTIAL_TUNING_N, σ² the
# per-observation variance of the difference: its confidence sequence is tightest near
# this many observations per variant (the demo's size) and valid at every size.
SEQUENTIAL_TUNING_N = 500


@dataclass(frozen=True, slots=True)
class Interval:
    """An estimated difference with its interval and a two-sided p-value."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float


def _degenerate(difference: float) -> Interval:
    """No variance at all: the difference is known exactly."""
    return Interval(difference, difference, difference, 1.0 if difference == 0 else 0.0)


def wilson_interval(successes: int, n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """Wilson's score interval for a binomial proportion."""
    z = normal_ppf(1 - alpha / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportions(
    baseline_successes: int, baseline_n: int, variant_successes: int, variant_n: int
) -> Interval | None:
    """Difference of two proportions (variant − baseline); None when a sample is empty."""
    if baseline_n <= 0 or variant_n <= 0:
        return None
    p_b, p_v = baseline_successes / baseline_n, variant_successes / variant_n
    difference = p_v - p_b
    pooled = (baseline_successes + variant_successes) / (baseline_n + variant_n)
    spread = pooled * (1 - pooled) * (1 / baseline_n + 1 / variant_n)
    # Both all-0 or both all-1: no difference is possible.
    z = abs(difference) / math.sqrt(spread) if spread > 0 else 0.0
    p_value = min(1.0, 2 * normal_sf(z))
    low_b, high_b = wilson_interval(baseline_successes, baseline_n)
    low_v, high_v = wilson_interval(variant_successes, variant_n)
    ci_low = difference - math.sqrt((p_v - low_v) ** 2 + (high_b - p_b) ** 2)
    ci_high = difference + math.sqrt((high_v - p_v) ** 2 + (p_b - low_b) ** 2)
    return Interval(difference, ci_low, ci_high, p_value)


def welch_df(var_b: float, n_b: int, var_v: float, n_v: int) -> float:
    """Welch–Satterthwaite degrees of freedom from sample variances."""
    a, b = var_b / n_b, var_v / n_v
    return (a + b) ** 2 / (a * a / (n_b - 1) + b * b / (n_v - 1))


def welch(
    mean_b: float, var_b: float, n_b: int, mean_v: float, var_v: float, n_v: int
) -> Interval | None:
    """Welch's t interval and p-value for mean_v − mean_b; variances are *sample* (n − 1)
    variances. None below two observations per sample (no variance estimate)."""
    if n_b < 2 or n_v < 2:
        return None
    difference = mean_v - mean_b
    se2 = var_b / n_b + var_v / n_v
    if se2 <= 0:
        return _degenerate(difference)
    se = math.sqrt(se2)
    df = welch_df(var_b, n_b, var_v, n_v)
    half = t_ppf(1 - ALPHA / 2, df) * se
    return Interval(
        difference, difference - half, difference + half, t_two_sided_p(difference / se, df)
    )


def relative_lift(
    mean_b: float, var_b: float, n_b: int, mean_v: float, var_v: float, n_v: int
) -> Interval | None:
    """(mean_v − mean_b) / mean_b with a delta-method normal interval:
    Var ≈ Var(m_v)/m_b² + m_v²·Var(m_b)/m_b⁴, with Var(m) = s²/n."""
    if n_b < 2 or n_v < 2 or mean_b == 0:
        return None
    lift = (mean_v - mean_b) / mean_b
    se2 = var_v / n_v / mean_b**2 + mean_v**2 * (var_b / n_b) / mean_b**4
    if se2 <= 0:
        return _degenerate(lift)
    se = math.sqrt(se2)
    half = normal_ppf(1 - ALPHA / 2) * se
    return Interval(lift, lift - half, lift + half, min(1.0, 2 * normal_sf(abs(lift) / se)))


def required_n(difference: float, variance_b: float, variance_v: float) -> int | None:
    """Observations per variant for a two-sided level-ALPHA test to detect ``difference``
    with probability POWER: n = (z₁₋α/₂ + z_power)² (σ_b² + σ_v²) / δ². None when the
    difference is 0 (no sample is large enough) or there is no variance estimate."""
    spread = variance_b + variance_v
    if difference == 0 or not math.isfinite(spread) or spread <= 0:
        return None
    z = normal_ppf(1 - ALPHA / 2) + normal_ppf(POWER)
    return math.ceil(z * z * spread / (difference * difference))


@dataclass(frozen=True, slots=True)
class SampleRatio:
    p_value: float
    suspect: bool


def sample_ratio_mismatch(
    baseline_n: int, variant_n: int, expected_variant_share: float = 0.5
) -> SampleRatio | None:
    """Pearson's chi-square (1 df) of the observed split against the intended one;
    suspect at p < SRM_ALPHA, the threshold experiment platforms use because a broken
    assignment, not chance, is by far the likelier cause of so extreme a split."""
    total = baseline_n + variant_n
    if total == 0:
        return None
    expected_v = total * expected_variant_share
    expected_b = total - expected_v
    statistic = (variant_n - expected_v) ** 2 / expected_v + (baseline_n - expected_b) ** 2 / (
        expected_b
    )
    p_value = chi2_1df_sf(statistic)
    return SampleRatio(p_value, p_value < SRM_ALPHA)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (controls the family-wise error rate)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (q-values): reject where ≤ the FDR level."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i], reverse=True)
    adjusted = [1.0] * m
    running = 1.0
    for k, i in enumerate(order):
        rank = m - k
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


def sequential(
    difference: float, variance_b: float, n_b: int, variance_v: float, n_v: int
) -> Interval | None:
    """Anytime-valid p-value and 95 % confidence sequence for a difference of means.

    With V = σ_b²/n_b + σ_v²/n_v the variance of the estimated difference and a mixing
    prior θ ~ N(0, τ²), the mixture likelihood ratio of "θ = 0" is
    Λ = sqrt(V / (V + τ²)) · exp(d² τ² / (2 V (V + τ²))), a nonnegative martingale under
    the null, so P(ever Λ ≥ 1/α) ≤ α (Ville): p = min(1, 1/Λ) may be checked after every
    batch. Inverting it gives the confidence sequence
    d ± sqrt(V (V + τ²)/τ² · (log((V + τ²)/V) + 2 log(1/α))). The variances are plug-in
    estimates, so the guarantee is asymptotic (as for every summary-statistic mSPRT);
    tests/unit/test_stats_calibration.py checks the error rate by simulation.
    """
    if n_b < 2 or n_v < 2:
        return None
    v = variance_b / n_b + variance_v / n_v
    if v <= 0:
        return _degenerate(difference)
    tau2 = (variance_b + variance_v) / SEQUENTIAL_TUNING_N
    log_lr = 0.5 * math.log(v / (v + tau2)) + difference**2 * tau2 / (2 * v * (v + tau2))
    p_value = 1.0 if log_lr <= 0 else math.exp(-log_lr)
    half = math.sqrt(v * (v + tau2) / tau2 * (math.log((v + tau2) / v) + 2 * math.log(1 / ALPHA)))
    return Interval(difference, difference - half, difference + half, p_value)


def flag_excess(z_scores: Sequence[float | None], fdr: float = ALPHA) -> list[bool]:
    """Which one-sided excesses are discoveries at false discovery rate ``fdr``.

    Each z is turned into its one-sided p-value P(Z ≥ z) and Benjamini–Hochberg is applied
    over the scores that exist (a page without a z-score is not a comparison), so among
    hundreds of pages about 5 % of the flagged ones are flagged by chance, where a fixed
    z ≥ 3 would flag a growing number of innocent pages as pages are added.
    """
    present = [i for i, z in enumerate(z_scores) if z is not None]
    q_values = benjamini_hochberg([normal_sf(z_scores[i]) for i in present])  # type: ignore[arg-type]
    flags = [False] * len(z_scores)
    for i, q in zip(present, q_values, strict=True):
        flags[i] = q <= fdr
    return flags

"""The hand-written statistics against scipy, on generated data and at the edges
(zero variance, tiny samples, an empty variant, proportions of 0 and 1)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sp

from helpstream.api import distributions as dist
from helpstream.api import stats

TOL = 1e-9


@pytest.mark.parametrize("df", [0.3, 0.5, 1, 1.5, 2, 2.7, 5, 10, 29.5, 100, 1e4, 1e7])
def test_t_tail_and_quantile_match_scipy(df: float) -> None:
    # lgamma(a + ½) − lgamma(a) cancels digits when a = df/2 is in the millions.
    rel = 1e-9 if df <= 1e4 else 1e-7
    for t in [-40, -8, -3.1, -1.96, -0.5, 0, 0.01, 0.7, 2, 4.5, 12, 60]:
        assert dist.t_sf(t, df) == pytest.approx(sp.t.sf(t, df), rel=rel, abs=1e-15)
        assert dist.t_two_sided_p(t, df) == pytest.approx(
            2 * sp.t.sf(abs(t), df), rel=rel, abs=1e-15
        )
    for q in [1e-6, 0.001, 0.025, 0.1, 0.5, 0.7, 0.975, 0.995, 1 - 1e-6]:
        want = sp.t.ppf(q, df)
        assert dist.t_ppf(q, df) == pytest.approx(want, rel=1e-8, abs=1e-12)


@given(
    x=st.floats(0, 1),
    a=st.floats(0.05, 500),
    b=st.floats(0.05, 500),
)
def test_regularized_beta_matches_scipy(x: float, a: float, b: float) -> None:
    from scipy.special import betainc

    assert dist.regularized_beta(x, a, b) == pytest.approx(betainc(a, b, x), abs=1e-9)


def test_normal_and_chi_square_tails_match_scipy() -> None:
    for x in [-5, -1, 0, 0.3, 1.96, 4, 9, 30]:
        assert dist.normal_sf(x) == pytest.approx(sp.norm.sf(x), rel=1e-12, abs=1e-300)
        assert dist.normal_cdf(x) == pytest.approx(sp.norm.cdf(x), rel=1e-12, abs=1e-300)
    for q in [1e-9, 0.025, 0.5, 0.8, 0.975]:
        assert dist.normal_ppf(q) == pytest.approx(sp.norm.ppf(q), rel=1e-12)
    for c in [0, 1e-6, 0.5, 3.84, 10.83, 50, 300]:
        assert dist.chi2_1df_sf(c) == pytest.approx(sp.chi2.sf(c, 1), rel=1e-10, abs=1e-300)


def _wilson(k: int, n: int) -> tuple[float, float]:
    ci = sp.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return ci.low, ci.high


def _two_proportion_cases() -> list[tuple[int, int, int, int]]:
    rng = random.Random(1)
    cases = [(0, 10, 0, 12), (10, 10, 7, 7), (0, 5, 5, 5), (5, 5, 0, 5), (1, 1, 0, 1)]
    cases += [(0, 50, 3, 40), (50, 50, 49, 60), (1, 2, 2, 3)]
    for _ in range(200):
        n_b, n_v = rng.randint(1, 2000), rng.randint(1, 2000)
        cases.append((rng.randint(0, n_b), n_b, rng.randint(0, n_v), n_v))
    return cases


@pytest.mark.parametrize("case", _two_proportion_cases())
def test_two_proportions_match_scipy(case: tuple[int, int, int, int]) -> None:
    k_b, n_b, k_v, n_v = case
    got = stats.two_proportions(k_b, n_b, k_v, n_v)
    assert got is not None
    p_b, p_v = k_b / n_b, k_v / n_v
    assert got.difference == pytest.approx(p_v - p_b)
    table = np.array([[k_b, n_b - k_b], [k_v, n_v - k_v]])
    if table.sum(axis=0).min() == 0:  # all successes or all failures: scipy refuses
        assert got.p_value == 1.0
    else:
        want = sp.chi2_contingency(table, correction=False).pvalue
        assert got.p_value == pytest.approx(want, rel=1e-7, abs=1e-14)
    low_b, high_b = _wilson(k_b, n_b)
    low_v, high_v = _wilson(k_v, n_v)
    d = p_v - p_b
    assert got.ci_low == pytest.approx(d - math.hypot(p_v - low_v, high_b - p_b), abs=1e-9)
    assert got.ci_high == pytest.approx(d + math.hypot(high_v - p_v, p_b - low_b), abs=1e-9)
    assert -1 - 1e-12 <= got.ci_low <= d <= got.ci_high <= 1 + 1e-12


def test_two_proportions_with_an_empty_variant_is_undefined() -> None:
    assert stats.two_proportions(0, 0, 3, 10) is None
    assert stats.two_proportions(3, 10, 0, 0) is None


def _samples(rng: random.Random) -> list[float]:
    kind = rng.choice(["small", "normal", "lengths", "constant"])
    n = rng.choice([2, 3, 5, rng.randint(2, 2000)])
    if kind == "constant":
        return [float(rng.randint(2, 9))] * n
    if kind == "lengths":
        return [float(2 + int(rng.expovariate(0.5))) for _ in range(n)]
    return [rng.gauss(4, rng.choice([0.01, 1, 30])) for _ in range(n)]


def _summary(xs: list[float]) -> tuple[float, float, int]:
    return float(np.mean(xs)), float(np.var(xs, ddof=1)), len(xs)


@pytest.mark.parametrize("seed", range(150))
def test_welch_matches_scipy(seed: int) -> None:
    rng = random.Random(seed)
    a, b = _samples(rng), _samples(rng)
    m_a, v_a, n_a = _summary(a)
    m_b, v_b, n_b = _summary(b)
    got = stats.welch(m_a, v_a, n_a, m_b, v_b, n_b)
    assert got is not None
    if v_a == 0 and v_b == 0:  # scipy answers nan; the difference is known exactly
        assert got.ci_low == got.ci_high == got.difference == pytest.approx(m_b - m_a)
        assert got.p_value == (1.0 if m_a == m_b else 0.0)
        return
    result = sp.ttest_ind(b, a, equal_var=False)
    ci = result.confidence_interval(0.95)
    assert got.p_value == pytest.approx(result.pvalue, rel=1e-6, abs=1e-12)
    assert got.ci_low == pytest.approx(ci.low, rel=1e-7, abs=1e-9)
    assert got.ci_high == pytest.approx(ci.high, rel=1e-7, abs=1e-9)
    want_df = sp.ttest_ind_from_stats(m_b, 1, n_b, m_a, 1, n_a, equal_var=False)  # sanity
    assert want_df.pvalue is not None


def test_welch_needs_two_observations_each() -> None:
    assert stats.welch(3.0, 0.0, 1, 4.0, 1.0, 50) is None
    assert stats.welch(3.0, 1.0, 50, 4.0, 0.0, 0) is None


def _delta_method_reference(m_b: float, se_b: float, m_v: float, se_v: float) -> float:
    """Standard error of m_v / m_b − 1 by a numerical gradient (independent of the code)."""
    h = 1e-6
    g_b = ((m_v / (m_b + h)) - (m_v / (m_b - h))) / (2 * h)
    g_v = (((m_v + h) / m_b) - ((m_v - h) / m_b)) / (2 * h)
    return math.sqrt(g_b**2 * se_b**2 + g_v**2 * se_v**2)


@pytest.mark.parametrize("seed", range(50))
def test_relative_lift_is_the_delta_method(seed: int) -> None:
    rng = random.Random(seed)
    a, b = _samples(rng), _samples(rng)
    m_a, v_a, n_a = _summary(a)
    m_b, v_b, n_b = _summary(b)
    got = stats.relative_lift(m_a, v_a, n_a, m_b, v_b, n_b)
    assert got is not None
    se = _delta_method_reference(m_a, math.sqrt(v_a / n_a), m_b, math.sqrt(v_b / n_b))
    assert got.difference == pytest.approx(m_b / m_a - 1)
    if se == 0:
        assert got.ci_low == got.ci_high == got.difference
        return
    z = sp.norm.ppf(0.975)
    assert got.ci_high - got.ci_low == pytest.approx(2 * z * se, rel=1e-5)
    assert got.p_value == pytest.approx(2 * sp.norm.sf(abs(got.difference) / se), rel=1e-4)


def test_relative_lift_against_simulation() -> None:
    """The delta-method interval covers the true lift about 95 % of the time."""
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(400):
        a, b = rng.exponential(4.0, 300) + 2, rng.exponential(3.0, 300) + 2
        got = stats.relative_lift(a.mean(), a.var(ddof=1), 300, b.mean(), b.var(ddof=1), 300)
        assert got is not None
        covered += got.ci_low <= 5 / 6 - 1 <= got.ci_high
    assert 0.92 <= covered / 400 <= 0.98


@given(
    difference=st.floats(0.001, 5),
    var_b=st.floats(0.001, 10),
    var_v=st.floats(0.001, 10),
)
def test_required_n_gives_80_percent_power(difference: float, var_b: float, var_v: float) -> None:
    n = stats.required_n(difference, var_b, var_v)
    assert n is not None

    def power(k: int) -> float:  # the normal approximation's power, from scipy
        shift = difference / math.sqrt((var_b + var_v) / k)
        z = sp.norm.ppf(0.975)
        return float(sp.norm.sf(z - shift) + sp.norm.cdf(-z - shift))

    assert power(n) >= 0.8 - 1e-9
    if n > 1:
        assert power(n - 1) < 0.8 + 1e-3


def test_required_n_is_undefined_without_a_difference_or_variance() -> None:
    assert stats.required_n(0.0, 1.0, 1.0) is None
    assert stats.required_n(0.5, 0.0, 0.0) is None


@pytest.mark.parametrize(
    ("n_b", "n_v", "share"),
    [(500, 500, 0.5), (500, 560, 0.5), (500, 620, 0.5), (1, 0, 0.5), (0, 9, 0.5), (300, 700, 0.7)],
)
def test_sample_ratio_mismatch_matches_scipy(n_b: int, n_v: int, share: float) -> None:
    got = stats.sample_ratio_mismatch(n_b, n_v, share)
    assert got is not None
    total = n_b + n_v
    want = sp.chisquare([n_b, n_v], [total * (1 - share), total * share]).pvalue
    assert got.p_value == pytest.approx(want, rel=1e-9, abs=1e-300)
    assert got.suspect == (want < 0.001)


def test_sample_ratio_mismatch_flags_a_broken_split() -> None:
    assert stats.sample_ratio_mismatch(5000, 5000) == stats.SampleRatio(1.0, False)
    broken = stats.sample_ratio_mismatch(5000, 4600)
    assert broken is not None and broken.suspect
    assert stats.sample_ratio_mismatch(0, 0) is None


p_lists = st.lists(st.floats(0, 1), min_size=0, max_size=60)


@given(p_lists)
def test_benjamini_hochberg_matches_scipy(p_values: list[float]) -> None:
    got = stats.benjamini_hochberg(p_values)
    if p_values:
        assert got == pytest.approx(list(sp.false_discovery_control(p_values)), abs=1e-12)
    else:
        assert got == []


@given(p_lists)
def test_holm_matches_its_definition(p_values: list[float]) -> None:
    """Holm's step-down: the i-th smallest is adjusted to max_{j≤i} min(1, (m−j+1) p_(j))."""
    m = len(p_values)
    ordered = sorted(range(m), key=lambda i: p_values[i])
    want = [0.0] * m
    for rank, i in enumerate(ordered):
        want[i] = max(min(1.0, (m - j) * p_values[ordered[j]]) for j in range(rank + 1))
    assert stats.holm(p_values) == pytest.approx(want)


@given(st.lists(st.one_of(st.none(), st.floats(-6, 8)), max_size=200))
def test_page_flags_are_benjamini_hochberg_over_one_sided_p_values(
    z_scores: list[float | None],
) -> None:
    present = [z for z in z_scores if z is not None]
    q = iter(sp.false_discovery_control(sp.norm.sf(present)) if present else [])
    want = [z is not None and bool(next(q) <= 0.05) for z in z_scores]
    assert stats.flag_excess(z_scores) == want


def test_one_large_z_among_many_pages_is_not_enough_but_z_3_alone_is() -> None:
    """The old rule flagged every z ≥ 3; with 1000 pages compared, z = 3 (p = 0.0013) is
    what chance gives about once, so it is no longer a discovery."""
    assert stats.flag_excess([3.0]) == [True]
    assert stats.flag_excess([3.0] + [0.0] * 999) == [False] + [False] * 999
    assert stats.flag_excess([6.0] + [0.0] * 999)[0]


@pytest.mark.parametrize("seed", range(30))
def test_confidence_sequence_contains_the_fixed_interval(seed: int) -> None:
    rng = random.Random(seed)
    a, b = _samples(rng), _samples(rng)
    m_a, v_a, n_a = _summary(a)
    m_b, v_b, n_b = _summary(b)
    fixed = stats.welch(m_a, v_a, n_a, m_b, v_b, n_b)
    seq = stats.sequential(m_b - m_a, v_a, n_a, v_b, n_b)
    assert fixed is not None and seq is not None
    assert seq.difference == pytest.approx(fixed.difference)
    if v_a == v_b == 0:
        assert seq.ci_low == seq.ci_high
        return
    if min(n_a, n_b) >= 30:  # the CS uses the normal; Welch's t is wider in tiny samples
        assert seq.ci_low <= fixed.ci_low and seq.ci_high >= fixed.ci_high
        assert seq.p_value >= 0.05 or fixed.p_value < 0.05  # never decides before it
    assert 0 <= seq.p_value <= 1


def test_sequential_p_value_rejects_exactly_outside_the_confidence_sequence() -> None:
    for d in np.linspace(-1, 1, 41):
        seq = stats.sequential(float(d), 2.0, 400, 3.0, 380)
        assert seq is not None
        outside = not (seq.ci_low <= 0 <= seq.ci_high)
        assert outside == (seq.p_value < 0.05) or abs(seq.p_value - 0.05) < 1e-9

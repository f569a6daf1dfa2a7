"""Response bodies of the experiment comparison and deflection endpoints (contract §7).

Every field says in one sentence what the number is; the `examples` are a worked example
(the demo's variants A and B over its whole period, computed by the real code).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Verdict = Literal["better", "worse", "no significant difference", "not enough data"]
OverallVerdict = Literal["better", "worse", "no significant difference", "not enough data", "mixed"]


class VariantStats(BaseModel):
    variant: str
    completed_paths: int = Field(description="Resolved + abandoned paths ending in the window.")
    resolved_paths: int = Field(description="Paths that ended with an acknowledged answer.")
    resolution_rate: float | None = Field(description="resolved / completed; null when none.")
    average_path_length: float | None = Field(description="Mean length of resolved paths.")
    path_length_variance: float | None = Field(
        description="Population variance of the lengths of resolved paths."
    )
    turnaround_rate: float | None = Field(
        description="Share of completed paths with at least one turnaround."
    )


class RateComparison(BaseModel):
    difference: float | None = Field(
        description="Variant's resolution rate minus the baseline's (0.08 = 8 points more)."
    )
    ci_low: float | None = Field(description="Lower end of the 95 % interval (Newcombe).")
    ci_high: float | None = Field(description="Upper end of the 95 % interval (Newcombe).")
    p_value: float | None = Field(
        description="Two-sided p-value of the pooled two-proportion z-test (Holm-adjusted "
        "with several variants; anytime-valid with `sequential=true`)."
    )
    verdict: Verdict = Field(description="`better` means a significantly higher rate.")
    required_paths: int | None = Field(
        description="Completed paths per variant for 80 % power at the observed difference; "
        "null when the difference is 0."
    )


class LengthComparison(BaseModel):
    difference: float | None = Field(
        description="Variant's mean resolved path length minus the baseline's (pages)."
    )
    ci_low: float | None = Field(description="Lower end of the 95 % Welch interval.")
    ci_high: float | None = Field(description="Upper end of the 95 % Welch interval.")
    relative_lift: float | None = Field(
        description="difference / baseline mean: −0.2 means paths 20 % shorter."
    )
    relative_lift_ci_low: float | None = Field(
        description="Lower end of the 95 % delta-method interval of relative_lift."
    )
    relative_lift_ci_high: float | None = Field(
        description="Upper end of the 95 % delta-method interval of relative_lift."
    )
    p_value: float | None = Field(
        description="Two-sided p-value of Welch's t-test (Holm-adjusted with several "
        "variants; anytime-valid with `sequential=true`)."
    )
    verdict: Verdict = Field(description="`better` means significantly shorter paths.")
    required_paths: int | None = Field(
        description="Completed paths per variant for 80 % power at the observed difference "
        "(resolved paths needed / resolution rate); null when the difference is 0."
    )


class SampleRatioMismatch(BaseModel):
    p_value: float | None = Field(
        description="Chi-square p-value of the observed split of completed paths against "
        "`expected_ratio`; null when there are no paths."
    )
    suspect: bool = Field(
        description="p < 0.001: the split is implausible, so assignment or tracking is "
        "probably broken and the verdict should not be trusted."
    )
    expected_ratio: float = Field(description="The variant's intended share of the two.")


EXAMPLE: dict[str, Any] = {
    "baseline": {
        "variant": "A",
        "completed_paths": 517,
        "resolved_paths": 334,
        "resolution_rate": 0.6460,
        "average_path_length": 4.1048,
        "path_length_variance": 0.9920,
        "turnaround_rate": 0.4081,
    },
    "variant": {
        "variant": "B",
        "completed_paths": 583,
        "resolved_paths": 448,
        "resolution_rate": 0.7684,
        "average_path_length": 3.4554,
        "path_length_variance": 0.3641,
        "turnaround_rate": 0.0549,
    },
    "resolution_rate": {
        "difference": 0.1224,
        "ci_low": 0.0686,
        "ci_high": 0.1756,
        "p_value": 7.8e-06,
        "verdict": "better",
        "required_paths": 214,
    },
    "path_length": {
        "difference": -0.6494,
        "ci_low": -0.7704,
        "ci_high": -0.5284,
        "relative_lift": -0.1582,
        "relative_lift_ci_low": -0.1840,
        "relative_lift_ci_high": -0.1324,
        "p_value": 1.2e-23,
        "verdict": "better",
        "required_paths": 37,
    },
    "sample_ratio_mismatch": {"p_value": 0.0466, "suspect": False, "expected_ratio": 0.5},
    "verdict": "better",
    "required_paths_per_variant": 214,
    "sequential": False,
    "min_paths": 100,
}


class Comparison(BaseModel):
    """A variant against the baseline over one window."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})

    baseline: VariantStats
    variant: VariantStats
    resolution_rate: RateComparison
    path_length: LengthComparison
    sample_ratio_mismatch: SampleRatioMismatch
    verdict: OverallVerdict = Field(
        description="`better`/`worse` when the metrics that stay significant after Holm's "
        "correction over the two agree (the other showing no significant difference), "
        "`mixed` when one is better and the other worse, `not enough data` while either "
        "metric is below `min_paths`."
    )
    required_paths_per_variant: int | None = Field(
        description="Completed paths per variant to detect both observed differences at "
        "80 % power: the larger of the two metrics' `required_paths`."
    )
    sequential: bool = Field(description="Whether the p-values and intervals are anytime-valid.")
    min_paths: int = Field(
        description="Paths per variant (completed for the rate, resolved for the length) "
        "below which a metric's verdict is `not enough data` (HELPSTREAM_EXPERIMENT_MIN_PATHS)."
    )


class MultiComparison(BaseModel):
    """Several variants against one baseline (`variant=` repeated)."""

    baseline: VariantStats
    comparisons: list[Comparison] = Field(
        description="One per variant, in the order asked; p-values and verdicts are "
        "Holm-adjusted over the comparisons of each metric."
    )
    correction: Literal["holm"] = "holm"


class DeflectionPage(BaseModel):
    page_id: int
    escalations: int = Field(description="Escalated paths that ended on this page.")


DEFLECTION_EXAMPLE: dict[str, Any] = {
    "completed_paths": 200,
    "resolved_paths": 150,
    "escalated_paths": 30,
    "escalation_rate": 0.15,
    "deflection_rate": 0.7,
    "window_hours": 24.0,
    "items": [{"page_id": 3, "escalations": 18}, {"page_id": 100, "escalations": 12}],
}


class Deflection(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [DEFLECTION_EXAMPLE]})

    completed_paths: int = Field(description="Resolved + abandoned paths ending in the window.")
    resolved_paths: int = Field(description="Completed paths that ended resolved.")
    escalated_paths: int = Field(
        description="Completed paths whose customer opened a ticket within window_hours "
        "after the path's end (each path counted once, however many tickets)."
    )
    escalation_rate: float | None = Field(
        description="escalated / completed: 0.15 means 15 of 100 paths led to a ticket."
    )
    deflection_rate: float | None = Field(
        description="Resolved paths not escalated / completed: the share of visits "
        "self-service answered without a ticket."
    )
    window_hours: float = Field(description="The escalation window used.")
    items: list[DeflectionPage] = Field(
        description="Last pages of escalated paths, most escalations first (ties: page id)."
    )

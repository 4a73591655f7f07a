"""RouteLLM's routing metrics, generalised from a strong/weak pair to an ordered list of tiers.

    quality = QualityModel(tier_order=("cheap", "small", "large"), specialist_tiers=("code",))
    curve = pgr_curve(labels, complexity, routed, quality)     # PGR against the share of strongest-tier calls
    apgr(curve), cpt(curve, 0.95)

The quality model (labels are the weakest tier that answers a prompt well):

- a prompt answered by a tier at least as strong as its label gets quality 1;
- one tier too weak gets ``partial_credit`` (0.5 by default); weaker still gets 0;
- a prompt labelled with a specialist tier (``code``) gets 1 from that specialist *or from the
  strongest ordered tier* (a frontier model writes code well; it just costs more), and is otherwise
  scored as if its label were the strongest tier (one below it gets partial credit);
- a specialist answering a general prompt is scored as the weakest ordered tier (a narrow model).

PGR (performance gap recovered) at a routing: ``(Q(router) - Q(all weakest)) / (Q(all strongest) -
Q(all weakest))``, Q the mean quality. The sweep is RouteLLM's strong/weak routing on the router's
complexity score: at threshold t every prompt with complexity >= t goes to the strongest tier and
every other prompt to the weakest, so the curve runs from all-weakest (PGR 0) to all-strongest
(PGR 1) and a score that ranks prompts no better than chance has APGR 0.5 whatever the number of
tiers. Middle tiers do not appear in the sweep; what they save shows in the operating point (PGR,
strongest-tier share and spend at the router's own decisions). Specialist choices stay fixed, as
they do not lie on the complexity axis. As in RouteLLM's ``evals/evaluate.py``: the thresholds are
the 0, 10, ..., 100% quantiles of the scores, APGR is the trapezoid area under quality against
strong-call share, normalised by the weakest and strongest tiers' areas (the mean PGR over the share
axis), and CPT(x) is the smallest strongest-tier share whose PGR reaches x (interpolated between
swept points).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.base import InputError


@dataclass(frozen=True)
class QualityModel:
    tier_order: tuple[str, ...]
    specialist_tiers: tuple[str, ...] = ()
    partial_credit: float = 0.5

    def __post_init__(self) -> None:
        if len(self.tier_order) < 1:
            raise InputError("tier_order: give at least one tier, weakest first")
        if set(self.tier_order) & set(self.specialist_tiers):
            raise InputError(f"specialist_tiers {list(self.specialist_tiers)} must not repeat tier_order {list(self.tier_order)}")
        if not 0.0 <= self.partial_credit <= 1.0:
            raise InputError(f"partial_credit must be in [0, 1], got {self.partial_credit}")

    @property
    def weakest(self) -> str:
        return self.tier_order[0]

    @property
    def strongest(self) -> str:
        return self.tier_order[-1]

    def rank(self, tier: str) -> int:
        """Position in tier_order; a specialist ranks as the strongest when it is a label's need."""
        if tier in self.tier_order:
            return self.tier_order.index(tier)
        if tier in self.specialist_tiers:
            return len(self.tier_order) - 1
        raise InputError(f"unknown tier {tier!r}: expected one of {list(self.tier_order) + list(self.specialist_tiers)}")

    def quality(self, label: str, tier: str) -> float:
        """Quality of answering a prompt labelled ``label`` with ``tier`` (see the module docstring)."""
        if label in self.specialist_tiers and tier == label:
            return 1.0
        needed = self.rank(label)
        # A specialist is a narrow model: on anything but its own prompts it is as good as the weakest tier.
        given = 0 if tier in self.specialist_tiers else self.rank(tier)
        if given >= needed:
            return 1.0
        return self.partial_credit if given == needed - 1 else 0.0

    def qualities(self, labels: Sequence[str], tiers: Sequence[str]) -> np.ndarray:
        labels, tiers = list(labels), list(tiers)
        if len(labels) != len(tiers):
            raise InputError(f"labels and tiers differ in length: {len(labels)} vs {len(tiers)}")
        return np.array([self.quality(label, tier) for label, tier in zip(labels, tiers)], dtype=float)


def pgr(router_quality: float, weakest_quality: float, strongest_quality: float) -> float:
    """Performance gap recovered; NaN when the strongest tier is no better than the weakest on this set."""
    gap = strongest_quality - weakest_quality
    return float("nan") if gap <= 0 else (router_quality - weakest_quality) / gap


def operating_pgr(labels: Sequence[str], routed: Sequence[str], model: QualityModel) -> float:
    """PGR of the router's own decisions."""
    labels = list(labels)
    return pgr(float(model.qualities(labels, routed).mean()), *_extremes(labels, model))


def _extremes(labels: list[str], model: QualityModel) -> tuple[float, float]:
    n = len(labels)
    return (model.qualities(labels, [model.weakest] * n).mean(), model.qualities(labels, [model.strongest] * n).mean())


def routes_at_threshold(complexity: np.ndarray, routed: Sequence[str], threshold: float, model: QualityModel,
                        strict: bool = False) -> np.ndarray:
    """Strongest tier for complexity >= threshold (> when strict), weakest below; specialist choices kept."""
    routed = np.asarray(list(routed), dtype=object)
    strong = complexity > threshold if strict else complexity >= threshold
    specialist = np.isin(routed, list(model.specialist_tiers))
    return np.where(specialist, routed, np.where(strong, model.strongest, model.weakest))


def pgr_curve(labels: Sequence[str], complexity: Sequence[float], routed: Sequence[str], model: QualityModel,
              n_bins: int = 10) -> pd.DataFrame:
    """One row per swept threshold: threshold, strong_share, quality, pgr; sorted by strong_share."""
    labels = list(labels)
    complexity = np.asarray(complexity, dtype=float)
    if not len(labels) == len(complexity) == len(list(routed)):
        raise InputError("labels, complexity and routed must have the same length")
    if not labels:
        raise InputError("no prompts to evaluate: pass at least one labelled prompt")
    weakest, strongest = _extremes(labels, model)
    thresholds = np.quantile(complexity, np.linspace(0.0, 1.0, n_bins + 1))
    rows = []
    for i, threshold in enumerate(thresholds):
        # As RouteLLM: >= at every quantile but the last, where > leaves no strong calls.
        tiers = routes_at_threshold(complexity, routed, threshold, model, strict=i == len(thresholds) - 1)
        quality = model.qualities(labels, tiers).mean()
        rows.append({"threshold": float(threshold), "strong_share": float(np.mean(tiers == model.strongest)),
                     "quality": float(quality), "pgr": pgr(quality, weakest, strongest)})
    return pd.DataFrame(rows).sort_values(["strong_share", "quality"], kind="stable").reset_index(drop=True)


def apgr(curve: pd.DataFrame) -> float:
    """Area under PGR against strong-call share, over the share range the sweep covers."""
    x, y = curve["strong_share"].to_numpy(), curve["pgr"].to_numpy()
    span = x[-1] - x[0]
    if span <= 0 or np.isnan(y).any():
        return float("nan")
    return float(np.trapezoid(y, x) / span)


def cpt(curve: pd.DataFrame, target: float) -> float:
    """Call-performance threshold: the smallest strongest-tier share whose PGR reaches ``target``."""
    x, y = curve["strong_share"].to_numpy(), curve["pgr"].to_numpy()
    if np.isnan(y).any():
        return float("nan")
    for i in range(len(x)):
        if y[i] >= target:
            if i == 0 or y[i - 1] >= target:
                return float(x[i])
            # linear interpolation between the last point below the target and this one
            return float(x[i - 1] + (target - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1]))
    return float("nan")


def routing_accuracy(labels: Sequence[str], routed: Sequence[str]) -> float:
    labels, routed = np.asarray(list(labels), dtype=object), np.asarray(list(routed), dtype=object)
    if len(labels) != len(routed) or not len(labels):
        raise InputError("labels and routed must be non-empty and of the same length")
    return float(np.mean(labels == routed))


def cost_share(routed: Sequence[str], costs: Mapping[str, float], model: QualityModel) -> float:
    """Spend of these routes as a share of sending every prompt to the strongest tier (per-call costs)."""
    routed = list(routed)
    missing = sorted(set(routed) - set(costs))
    if missing:
        raise InputError(f"costs: no price for tier(s) {missing}")
    return float(sum(costs[t] for t in routed) / (costs[model.strongest] * len(routed)))


def expected_strength(scores: Mapping[str, float], tier_order: Sequence[str]) -> float:
    """Complexity in [0, 1]: the expected position along ``tier_order`` under ``scores`` (specialists ignored)."""
    tier_order = list(tier_order)
    weights = np.array([max(float(scores.get(t, 0.0)), 0.0) for t in tier_order])
    if len(tier_order) < 2 or weights.sum() <= 0:
        return 0.0
    return float(weights @ np.linspace(0.0, 1.0, len(tier_order)) / weights.sum())

"""What each part of a response offers the confidence scorer: a few numbers read off its typed result.

    part_signals("intent", IntentPrediction(label="card_lost", confidence=0.91))  # {"p_self": 0.91, "abstained": 0.0}

The harvest that trains the scorer (fusion/confidence_data.py) and the pipeline that serves it read
signals through these functions only, so what the scorer learned from is what it is given.
``p_self`` is a part's own calibrated probability of being right, where it has one.
"""

from __future__ import annotations

import math
from typing import Any

from fusion.schemas import (
    AnomalyResult,
    EntitySpan,
    ForecastResult,
    IntentPrediction,
    SentimentPrediction,
    TabularAnomalyResult,
)
from models.text_classifier import OUT_OF_SCOPE


def part_signals(part: str, result: Any, threshold: float | None = None) -> dict[str, float]:
    """``threshold``: the anomaly detectors' operating threshold, for the distance of a score from it."""
    if isinstance(result, IntentPrediction | SentimentPrediction):
        return {"p_self": result.confidence, "abstained": float(result.label == OUT_OF_SCOPE)}
    if part == "ner":
        return _entity_signals(result)
    if part == "anomaly":
        return _anomaly_signals(result, threshold)
    if part == "forecast":
        return _forecast_signals(result)
    if isinstance(result, TabularAnomalyResult):
        return {"score": result.score, "threshold_distance": abs(result.score - result.threshold)}
    if isinstance(result, dict):  # the answer's AnswerSignals.as_dict()
        return dict(result)
    raise TypeError(f"no signals known for part {part!r} ({type(result).__name__})")


def _entity_signals(spans: list[EntitySpan]) -> dict[str, float]:
    scores = [s.score for s in spans]
    signals = {"n_entities": float(len(spans))}
    if scores:
        # every span right: roughly the product of calibrated span scores (missed entities are not seen)
        signals |= {"p_self": math.prod(scores), "span_score_min": min(scores), "span_score_mean": sum(scores) / len(scores)}
    return signals


def _anomaly_signals(results: list[AnomalyResult], threshold: float | None) -> dict[str, float]:
    scores = [max(r.scores) for r in results if r.scores]
    if not scores:
        return {}
    top = max(scores)
    signals = {"score_max": top, "alarm_share": sum(any(r.alarms) for r in results) / len(results)}
    if threshold is not None:
        signals["threshold_distance"] = abs(top - threshold)
    return signals


def _forecast_signals(results: list[ForecastResult]) -> dict[str, float]:
    widths = []
    for r in results:
        scale = sum(abs(v) for v in r.forecast) / max(1, len(r.forecast))
        width = sum(h - lo for h, lo in zip(r.hi_80, r.lo_80)) / max(1, len(r.hi_80))
        widths.append(width / scale if scale > 0 else 0.0)
    return {"interval_width_rel": max(widths)} if widths else {}

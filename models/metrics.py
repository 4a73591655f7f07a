"""Metrics shared by capabilities."""

from __future__ import annotations

import numpy as np


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the gap between confidence and accuracy, over equal-width bins."""
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(error)


Span = tuple[int, int, str]  # start char, end char, label


def entity_scores(gold: list[set[Span]], predicted: list[set[Span]]) -> dict[str, dict[str, float]]:
    """Entity-level precision, recall and F1 (exact span and label match), overall and per label.

    Returns ``{"overall": {...}, "PER": {...}, ...}``, each with precision, recall, f1, support.
    """
    counts: dict[str, list[int]] = {}  # label -> [true positives, predicted, gold]
    for gold_spans, predicted_spans in zip(gold, predicted, strict=True):
        for label in {s[2] for s in gold_spans | predicted_spans}:
            tally = counts.setdefault(label, [0, 0, 0])
            tally[0] += sum(1 for s in predicted_spans & gold_spans if s[2] == label)
            tally[1] += sum(1 for s in predicted_spans if s[2] == label)
            tally[2] += sum(1 for s in gold_spans if s[2] == label)
    totals = [sum(t[i] for t in counts.values()) for i in range(3)]
    return {"overall": _prf(*totals)} | {label: _prf(*counts[label]) for label in sorted(counts)}


def _prf(true_positives: int, n_predicted: int, n_gold: int) -> dict[str, float]:
    precision = true_positives / n_predicted if n_predicted else 0.0
    recall = true_positives / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": float(n_gold)}

"""Fusing the dense and BM25 rankings into one.

Reciprocal rank fusion (Cormack et al. 2009) needs no score calibration: each list contributes
``1 / (k + rank)``. Normalised fusion min-max scales each list's scores to [0, 1] and takes a
weighted sum; OpenSearch measured it 3.9% above RRF in nDCG@10 over six BEIR sets, at the cost of
one weight to choose. Both take {row: score} per list and return rows best first.
"""

from __future__ import annotations


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = 60) -> dict[int, float]:
    """``rankings``: row ids, best first, one list per retriever."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
    return fused


def normalised_fusion(scored: list[dict[int, float]], weights: list[float]) -> dict[int, float]:
    """Weighted sum of min-max normalised scores; a row missing from a list scores 0 there."""
    fused: dict[int, float] = {}
    for scores, weight in zip(scored, weights, strict=True):
        if not scores:
            continue
        low, high = min(scores.values()), max(scores.values())
        span = high - low
        for row, score in scores.items():
            fused[row] = fused.get(row, 0.0) + weight * ((score - low) / span if span > 0 else 1.0)
    return fused


def best_first(fused: dict[int, float], k: int) -> list[tuple[int, float]]:
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]

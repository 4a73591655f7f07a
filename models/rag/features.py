"""What the reranker sees about each (query, candidate chunk) pair: first-stage scores and ranks,
and how much of the query the chunk and its title cover.

Scores are made comparable across queries (gap to the best candidate, ratio to the best BM25)
because a ranker trained on one set of queries is applied to others.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES: tuple[str, ...] = (
    "dense_score", "bm25_score", "dense_rank", "bm25_rank", "rrf_score", "dense_gap", "bm25_ratio",
    "query_coverage", "title_coverage", "chunk_terms", "query_terms",
)


def candidate_features(
    query_terms: set[str],
    chunk_terms: list[set[str]],
    title_terms: list[set[str]],
    dense: np.ndarray,
    bm25: np.ndarray,
    dense_rank: np.ndarray,
    bm25_rank: np.ndarray,
    rrf_k: int,
) -> pd.DataFrame:
    """One row per candidate. Ranks are 1-based; a candidate missing from a list has rank depth + 1."""
    n_query = max(len(query_terms), 1)
    best_bm25 = float(bm25.max()) if len(bm25) else 0.0
    return pd.DataFrame({
        "dense_score": dense,
        "bm25_score": bm25,
        "dense_rank": dense_rank,
        "bm25_rank": bm25_rank,
        "rrf_score": 1.0 / (rrf_k + dense_rank) + 1.0 / (rrf_k + bm25_rank),
        "dense_gap": dense - (dense.max() if len(dense) else 0.0),
        "bm25_ratio": bm25 / best_bm25 if best_bm25 > 0 else np.zeros_like(bm25),
        "query_coverage": [len(query_terms & terms) / n_query for terms in chunk_terms],
        "title_coverage": [len(query_terms & terms) / n_query for terms in title_terms],
        "chunk_terms": np.log1p([len(terms) for terms in chunk_terms]),
        "query_terms": float(len(query_terms)),
    }, columns=list(FEATURES)).astype(np.float32)

"""The search reranker (the ``reranker`` capability): LightGBM LambdaMART over retrieval features.

    frame = candidate_frame(retriever, queries, qrels)      # training/rerank_data.py
    reranker = SearchReranker().fit(frame)                   # rows grouped by query_id, graded relevance
    reranker.predict(frame)                                  # a score per candidate, higher is better
    reranker.evaluate(frame)                                 # nDCG@10, MRR@10 and the fused order's nDCG@10

It reorders the hybrid candidates (the dense and BM25 top lists) using both scores, both ranks, the
RRF score and how much of the query each chunk and its title cover (models/rag/features.py). No
cross-encoder ships offline, so this is the reranker that can be trained here; it is versioned and
promoted in MLflow like every other model. Evaluation ranks documents (each at its best chunk) and
counts relevant documents the candidates missed (``n_relevant``), so recall losses are not hidden.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models.base import InputError, require_columns
from models.rag.features import FEATURES
from models.rag.ranking_metrics import mrr_at_k, ndcg_at_k, unique_docs

GROUP_COLUMNS = ("query_id", "doc_id", "n_relevant")


class SearchReranker:
    name: ClassVar[str] = "reranker"
    primary_metric: ClassVar[str] = "ndcg_at_10"
    input_columns: ClassVar[tuple[str, ...]] = FEATURES
    target_column: ClassVar[str] = "relevance"

    def __init__(self, n_estimators: int = 300, learning_rate: float = 0.03, num_leaves: int = 15,
                 min_child_samples: int = 20, seed: int = 42) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("n_estimators", "learning_rate", "num_leaves", "min_child_samples", "seed")}

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> Self:
        train = self._checked(train, "fit")
        if not (train[self.target_column] > 0).any():
            raise InputError(f"{self.name}.fit: no candidate is relevant; check that the labelled doc ids exist in the collection")
        self.model_ = lgb.LGBMRanker(
            objective="lambdarank", n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, min_child_samples=self.min_child_samples, random_state=self.seed,
            n_jobs=2, verbose=-1, lambdarank_truncation_level=20,
        )
        self.model_.fit(train[list(FEATURES)], train[self.target_column].astype(int), group=_group_sizes(train))
        return self

    def predict(self, batch: pd.DataFrame) -> pd.DataFrame:
        require_columns(batch, list(FEATURES), f"{self.name}.predict")
        features = batch[list(FEATURES)].to_numpy(dtype=np.float32)
        # One query's candidates are too few to share between threads: the hand-off costs more than it saves.
        scores = self.model_.booster_.predict(features, num_threads=1 if len(features) < 10_000 else 0)
        return pd.DataFrame({"score": scores}, index=batch.index)

    def evaluate(self, test: pd.DataFrame) -> dict[str, float]:
        test = self._checked(test, "evaluate")
        scored = test.assign(score=self.predict(test)["score"].to_numpy())
        ours = _per_query(scored, "score")
        fused = _per_query(scored, "rrf_score")
        return {
            "ndcg_at_10": float(np.mean([q["ndcg"] for q in ours])),
            "mrr_at_10": float(np.mean([q["mrr"] for q in ours])),
            "fused_ndcg_at_10": float(np.mean([q["ndcg"] for q in fused])),
            "n_queries": float(len(ours)),
        }

    def figures(self, test: pd.DataFrame) -> dict[str, Figure]:
        gains = self.model_.booster_.feature_importance(importance_type="gain")
        order = np.argsort(gains)
        fig = Figure(figsize=(7, 4))
        ax = fig.add_subplot()
        ax.barh(np.array(FEATURES)[order], gains[order] / max(gains.sum(), 1e-12))
        ax.set_xlabel("share of total split gain")
        ax.set_title("What the reranker relies on")
        fig.tight_layout()
        return {"feature_importance.png": fig}

    def save(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model_.booster_.save_model(str(path / "lambdamart.txt"))
        (path / "reranker.json").write_text(json.dumps({"params": self.get_params(), "features": list(FEATURES)}, indent=2))

    @classmethod
    def load(cls, path: Path) -> Self:
        saved = json.loads((Path(path) / "reranker.json").read_text())
        if saved["features"] != list(FEATURES):
            raise InputError(f"{path}: this reranker was trained on features {saved['features']}, "
                             f"this code computes {list(FEATURES)}; retrain it with `hybrid train reranker`")
        reranker = cls(**saved["params"])
        reranker.model_ = _BoosterRanker(lgb.Booster(model_file=str(Path(path) / "lambdamart.txt")))
        return reranker

    def _checked(self, frame: pd.DataFrame, stage: str) -> pd.DataFrame:
        require_columns(frame, [*FEATURES, *GROUP_COLUMNS, self.target_column], f"{self.name}.{stage}")
        # LambdaMART reads groups as consecutive runs of rows.
        return frame.sort_values("query_id", kind="stable").reset_index(drop=True)


class _BoosterRanker:
    """A loaded booster in the place of the fitted LGBMRanker (only ``booster_`` is read)."""

    def __init__(self, booster: lgb.Booster) -> None:
        self.booster_ = booster


def _group_sizes(frame: pd.DataFrame) -> np.ndarray:
    return frame.groupby("query_id", sort=False).size().to_numpy()


def _per_query(frame: pd.DataFrame, by: str) -> list[dict[str, float]]:
    out = []
    for _, rows in frame.groupby("query_id", sort=False):
        rows = rows.sort_values(by, ascending=False, kind="stable")
        ranked = unique_docs(rows["doc_id"].tolist())
        relevant = rows.loc[rows["relevance"] > 0].groupby("doc_id")["relevance"].max().to_dict()
        # Relevant documents the first stage never returned still count against the ranking.
        missed = int(rows["n_relevant"].iloc[0]) - len(relevant)
        relevant |= {f"__missed_{i}": 1 for i in range(max(missed, 0))}
        out.append({"ndcg": ndcg_at_k(ranked, relevant, 10), "mrr": mrr_at_k(ranked, relevant, 10)})
    return out

"""Anomaly detection over feature rows with an isolation forest (the ``tabular_anomaly`` capability).

    detector = TabularAnomalyDetector().fit(rows)     # numeric columns are the features
    detector.predict(rows)    # score in [0, 1] and alarm per row
    detector.evaluate(rows)   # needs label (1 = anomaly): average precision, ROC AUC, P/R/F1 of the alarms

The score is Liu et al.'s isolation score, 2^(-mean path length / c(n)): near 1 for a row isolated
in a few splits, about 0.5 or below for an ordinary one. The features are the numeric columns of the
training data (except ``label``), fixed at ``fit``; they become the model's input columns. The alarm
threshold is the one with the best F1 on the labelled training rows when there are any, else the
``1 - contamination`` quantile of the training scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

import joblib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, precision_recall_curve, precision_recall_fscore_support, roc_auc_score

from models.base import InputError, require_columns


class TabularAnomalyDetector:
    name: ClassVar[str] = "tabular_anomaly"
    primary_metric: ClassVar[str] = "average_precision"
    #: empty until ``fit`` chooses the features; then an instance attribute naming them
    input_columns: tuple[str, ...] = ()
    target_column: ClassVar[str] = "label"

    def __init__(self, n_estimators: int = 200, max_samples: int | str = "auto", contamination: float = 0.01,
                 seed: int = 42) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.contamination = contamination
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in ("n_estimators", "max_samples", "contamination", "seed")}

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> Self:
        """Fit the forest on every training row; tune the threshold on the labelled rows (valid, else train)."""
        features = [c for c in train.columns if c != self.target_column and pd.api.types.is_numeric_dtype(train[c])
                    and not pd.api.types.is_bool_dtype(train[c])]
        if not features:
            raise InputError(f"{self.name}.fit: no numeric feature column; the frame has {list(train.columns)}")
        self.input_columns = tuple(features)
        self.forest_ = IsolationForest(n_estimators=self.n_estimators, max_samples=self.max_samples,
                                       random_state=self.seed, n_jobs=-1).fit(self._matrix(train, "fit"))
        tune = valid if valid is not None and self.target_column in valid else train
        labels = self._labels(tune) if self.target_column in tune else None
        if labels is not None and 0 < labels.sum() < len(labels):
            precision, recall, thresholds = precision_recall_curve(labels, self._scores(tune))
            f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
            self.threshold_ = float(thresholds[int(np.argmax(f1[:-1]))])
        else:
            self.threshold_ = float(np.quantile(self._scores(train), 1 - self.contamination))
        return self

    def _matrix(self, frame: pd.DataFrame, stage: str) -> np.ndarray:
        require_columns(frame, list(self.input_columns), f"{self.name}.{stage}")
        matrix = frame[list(self.input_columns)].apply(pd.to_numeric, errors="coerce")
        bad = matrix.isna() & frame[list(self.input_columns)].notna()
        if bad.any().any():
            column = bad.any().idxmax()
            raise InputError(f"{self.name}.{stage}: column {column!r} has non-numeric values, first at row "
                             f"{int(bad[column].to_numpy().argmax()) + 1} ({frame[column].iloc[int(bad[column].to_numpy().argmax())]!r})")
        if matrix.isna().any().any():
            column = matrix.isna().any().idxmax()
            raise InputError(f"{self.name}.{stage}: column {column!r} has missing values, first at row "
                             f"{int(matrix[column].isna().to_numpy().argmax()) + 1}; fill or drop them first")
        return matrix.to_numpy(dtype=float)

    def _labels(self, frame: pd.DataFrame) -> np.ndarray:
        labels = pd.to_numeric(frame[self.target_column], errors="coerce")
        if not labels.isin([0, 1]).all():
            raise InputError(f"{self.name}: column {self.target_column!r} must be 0 (normal) or 1 (anomaly)")
        return labels.to_numpy(dtype=int)

    def _scores(self, frame: pd.DataFrame, stage: str = "predict") -> np.ndarray:
        # score_samples is the negated isolation score of the original paper
        return -self.forest_.score_samples(self._matrix(frame, stage))

    @property
    def operating_threshold(self) -> float:
        """The isolation score at or above which a row alarms (tuned at fit)."""
        return float(self.threshold_)

    def predict(self, batch: pd.DataFrame) -> pd.DataFrame:
        scores = self._scores(batch)
        return pd.DataFrame({"score": scores, "alarm": scores >= self.threshold_}, index=batch.index)

    def evaluate(self, test: pd.DataFrame) -> dict[str, float]:
        require_columns(test, [self.target_column], f"{self.name}.evaluate")
        labels, scores = self._labels(test), self._scores(test, "evaluate")
        if not 0 < labels.sum() < len(labels):
            raise InputError(f"{self.name}.evaluate: the test rows need both normal (label 0) and anomalous (label 1) examples")
        precision, recall, f1, _ = precision_recall_fscore_support(labels, scores >= self.threshold_, average="binary",
                                                                   zero_division=0)
        return {"average_precision": float(average_precision_score(labels, scores)),
                "roc_auc": float(roc_auc_score(labels, scores)), "precision": float(precision),
                "recall": float(recall), "f1": float(f1), "alarm_rate": float(np.mean(scores >= self.threshold_)),
                "n_samples": float(len(labels))}

    def figures(self, test: pd.DataFrame) -> dict[str, Figure]:
        labels, scores = self._labels(test), self._scores(test, "figures")
        fig = Figure(figsize=(7, 4))
        ax = fig.add_subplot()
        ax.hist([scores[labels == 0], scores[labels == 1]], bins=40, label=["normal", "anomaly"], density=True)
        ax.axvline(self.threshold_, color="tab:red", ls="--", label="alarm threshold")
        ax.set_xlabel("isolation score")
        ax.set_title("Scores of normal and anomalous rows")
        ax.legend()
        fig.tight_layout()
        return {"scores.png": fig}

    def save(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.forest_, path / "forest.joblib")
        fitted = {"features": list(self.input_columns), "threshold": self.threshold_}
        (path / "detector.json").write_text(json.dumps({"params": self.get_params(), "fitted": fitted}, indent=2))

    @classmethod
    def load(cls, path: Path) -> Self:
        saved = json.loads((Path(path) / "detector.json").read_text())
        detector = cls(**saved["params"])
        detector.input_columns = tuple(saved["fitted"]["features"])
        detector.threshold_ = saved["fitted"]["threshold"]
        detector.forest_ = joblib.load(Path(path) / "forest.joblib")
        return detector

"""Intent classification: TF-IDF features with logistic regression (default) or LightGBM.

Word 1-2-grams catch the phrasing of a request ("top up", "not arrived"); character 2-5-grams
(within word boundaries) make it robust to typos and inflections, which support tickets are
full of. Logistic regression gives probabilities that are usable as confidence out of the box.

    clf = IntentClassifier().fit(pd.DataFrame({"text": [...], "label": [...]}))
    clf.predict(pd.DataFrame({"text": ["my card never came"]}))
    #          label  confidence
    # 0  card_arrival        0.83
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import joblib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import FeatureUnion, Pipeline

from models.base import InputError, require_columns
from models.metrics import expected_calibration_error
from models.plots import confusion_matrix_figure


class IntentClassifier:
    name: ClassVar[str] = "intent"
    primary_metric: ClassVar[str] = "macro_f1"
    input_columns: ClassVar[tuple[str, ...]] = ("text",)
    target_column: ClassVar[str] = "label"

    def __init__(
        self,
        model: Literal["logreg", "lightgbm"] = "logreg",
        C: float = 20.0,
        max_features: int = 200_000,
        char_ngrams: bool = True,
        n_estimators: int = 200,
        learning_rate: float = 0.1,
        seed: int = 42,
    ) -> None:
        self.model = model
        self.C = C
        self.max_features = max_features
        self.char_ngrams = char_ngrams
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "C": self.C,
            "max_features": self.max_features,
            "char_ngrams": self.char_ngrams,
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "seed": self.seed,
        }

    # ---- training -------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> Self:
        require_columns(train, [*self.input_columns, self.target_column], "intent.fit")
        labels = train[self.target_column].astype(str)
        if labels.nunique() < 2:
            raise InputError(
                f"intent.fit: column {self.target_column!r} has {labels.nunique()} distinct label(s); "
                "a classifier needs at least 2"
            )
        self.pipeline_ = Pipeline([("features", self._features()), ("classifier", self._classifier())])
        self.pipeline_.fit(_texts(train), labels)
        self.classes_ = [str(c) for c in self.pipeline_.classes_]
        return self

    def _features(self) -> FeatureUnion:
        views = [
            (
                "word",
                TfidfVectorizer(
                    ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=self.max_features, lowercase=True
                ),
            )
        ]
        if self.char_ngrams:
            views.append(
                (
                    "char",
                    TfidfVectorizer(
                        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, max_features=self.max_features
                    ),
                )
            )
        return FeatureUnion(views)

    def _classifier(self):
        if self.model == "logreg":
            return LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed)
        if self.model == "lightgbm":
            from lightgbm import LGBMClassifier

            return LGBMClassifier(
                n_estimators=self.n_estimators,
                learning_rate=self.learning_rate,
                num_leaves=31,
                min_child_samples=5,
                colsample_bytree=0.3,
                random_state=self.seed,
                n_jobs=2,
                verbose=-1,
            )
        raise InputError(f"intent: unknown model {self.model!r}; choose 'logreg' or 'lightgbm'")

    # ---- inference ------------------------------------------------------------------------
    def predict_proba(self, batch: pd.DataFrame) -> pd.DataFrame:
        """Class probabilities, one column per intent, same index as ``batch``."""
        self._check_fitted()
        require_columns(batch, self.input_columns, "intent.predict")
        if batch.empty:
            return pd.DataFrame(columns=self.classes_, index=batch.index, dtype=float)
        proba = self.pipeline_.predict_proba(_texts(batch))
        return pd.DataFrame(proba, columns=self.classes_, index=batch.index)

    def predict(self, batch: pd.DataFrame) -> pd.DataFrame:
        proba = self.predict_proba(batch)
        values = proba.to_numpy()
        best = values.argmax(axis=1) if len(values) else np.array([], dtype=int)
        return pd.DataFrame(
            {
                "label": np.asarray(self.classes_, dtype=object)[best],
                "confidence": values[np.arange(len(values)), best].astype(float),
            },
            index=batch.index,
        )

    # ---- evaluation -----------------------------------------------------------------------
    def evaluate(self, test: pd.DataFrame) -> dict[str, float]:
        require_columns(test, [*self.input_columns, self.target_column], "intent.evaluate")
        truth = test[self.target_column].astype(str)
        predicted = self.predict(test)
        correct = (predicted["label"] == truth).to_numpy()
        return {
            "accuracy": float(accuracy_score(truth, predicted["label"])),
            "macro_f1": float(f1_score(truth, predicted["label"], average="macro", zero_division=0)),
            "weighted_f1": float(f1_score(truth, predicted["label"], average="weighted", zero_division=0)),
            "mean_confidence": float(predicted["confidence"].mean()),
            # how far confidence is from accuracy, in 10 equal-width bins (lower is better)
            "ece": expected_calibration_error(predicted["confidence"].to_numpy(), correct),
            "n_samples": float(len(test)),
        }

    def figures(self, test: pd.DataFrame) -> dict[str, Figure]:
        truth = test[self.target_column].astype(str)
        predicted = self.predict(test)["label"]
        return {"confusion_matrix.png": confusion_matrix_figure(truth, predicted)}

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.pipeline_, path / "pipeline.joblib")
        (path / "params.json").write_text(json.dumps({"params": self.get_params(), "classes": self.classes_}, indent=2))

    @classmethod
    def load(cls, path: Path) -> Self:
        path = Path(path)
        saved = json.loads((path / "params.json").read_text())
        clf = cls(**saved["params"])
        clf.pipeline_ = joblib.load(path / "pipeline.joblib")
        clf.classes_ = saved["classes"]
        return clf

    def _check_fitted(self) -> None:
        if not hasattr(self, "pipeline_"):
            raise RuntimeError("IntentClassifier is not fitted: call fit() or load() first")


def _texts(frame: pd.DataFrame) -> list[str]:
    # Missing text is scored as empty rather than crashing a whole batch; it gets a low confidence.
    return frame["text"].fillna("").astype(str).tolist()

"""A text classifier over two kinds of evidence, calibrated, that can decline to answer.

Members (chosen by ``model``):

- ``logreg``    TF-IDF word 1-2-grams + char 2-5-grams, logistic regression: fast, typo-robust
- ``lightgbm``  the same TF-IDF features, gradient-boosted trees
- ``embedding`` frozen all-MiniLM-L6-v2 sentence embeddings, logistic regression: knows synonyms
- ``ensemble``  ``logreg`` + ``embedding``, their log-probabilities mixed with a weight
- ``finetune``  all-MiniLM-L6-v2 fine-tuned end to end (models/finetune.py): slowest, strongest on
                nuance such as sentiment

Everything that is tuned rather than learned (the mixing weight, the softmax temperature, the
abstention threshold) is chosen on validation data: ``valid`` when given, otherwise a stratified
``valid_size`` share of ``train`` that is folded back in for a final refit of the members.

    clf = TextClassifier(model="ensemble").fit(train_df)     # columns: text, label
    clf.predict(batch_df)   # label, confidence (calibrated); label is "out_of_scope" below threshold_
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
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline

from models.base import InputError, require_columns, text_values
from models.calibration import abstention_threshold, calibrated_proba, fit_temperature
from models.embeddings import SentenceEncoder
from models.metrics import expected_calibration_error
from models.plots import confusion_matrix_figure, reliability_figure

OUT_OF_SCOPE = "out_of_scope"
ModelKind = Literal["logreg", "lightgbm", "embedding", "ensemble", "finetune"]
MEMBERS: dict[str, tuple[str, ...]] = {
    "logreg": ("tfidf",),
    "lightgbm": ("tfidf",),
    "embedding": ("embedding",),
    "ensemble": ("tfidf", "embedding"),
    "finetune": ("finetune",),
}
_WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 11), 2)


class TextClassifier:
    name: ClassVar[str] = "text"
    primary_metric: ClassVar[str] = "macro_f1"
    input_columns: ClassVar[tuple[str, ...]] = ("text",)
    target_column: ClassVar[str] = "label"

    def __init__(
        self,
        model: ModelKind = "ensemble",
        C: float = 20.0,
        embedding_C: float = 10.0,
        max_features: int = 200_000,
        char_ngrams: bool = True,
        n_estimators: int = 200,
        learning_rate: float = 0.1,
        valid_size: float = 0.1,
        max_in_scope_rejection: float = 0.0,
        embedding_model: str | None = None,
        finetune_epochs: int = 1,
        finetune_batch_size: int = 32,
        finetune_learning_rate: float = 5e-5,
        finetune_max_length: int = 64,
        seed: int = 42,
    ) -> None:
        self.model = model
        self.C = C
        self.embedding_C = embedding_C
        self.max_features = max_features
        self.char_ngrams = char_ngrams
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.valid_size = valid_size
        self.max_in_scope_rejection = max_in_scope_rejection
        self.embedding_model = embedding_model
        self.finetune_epochs = finetune_epochs
        self.finetune_batch_size = finetune_batch_size
        self.finetune_learning_rate = finetune_learning_rate
        self.finetune_max_length = finetune_max_length
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in (
            "model", "C", "embedding_C", "max_features", "char_ngrams", "n_estimators", "learning_rate",
            "valid_size", "max_in_scope_rejection", "embedding_model", "finetune_epochs", "finetune_batch_size",
            "finetune_learning_rate", "finetune_max_length", "seed",
        )}

    # ---- training -------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> Self:
        if self.model not in MEMBERS:
            raise InputError(f"{self.name}: unknown model {self.model!r}; choose one of {sorted(MEMBERS)}")
        require_columns(train, [*self.input_columns, self.target_column], f"{self.name}.fit")
        labels = train[self.target_column].astype(str)
        if labels.nunique() < 2:
            raise InputError(
                f"{self.name}.fit: column {self.target_column!r} has {labels.nunique()} distinct label(s); "
                "a classifier needs at least 2"
            )
        # Refitting after tuning is cheap for the linear members; fine-tuning twice is not.
        refit = valid is None and "finetune" not in MEMBERS[self.model]
        if valid is None:
            counts = labels.value_counts()
            train, valid = train_test_split(
                train, test_size=self.valid_size, random_state=self.seed,
                stratify=labels if counts.min() >= 2 else None,
            )
        else:
            require_columns(valid, [*self.input_columns, self.target_column], f"{self.name}.fit (valid)")
        fit_texts, tune_texts = text_values(train), text_values(valid)
        fit_y, tune_y = train[self.target_column].astype(str).to_numpy(), valid[self.target_column].astype(str).to_numpy()

        self._encoder = SentenceEncoder(self.embedding_model)
        embeddings = self._embed(fit_texts + tune_texts, progress=True)
        fit_emb, tune_emb = (None, None) if embeddings is None else (embeddings[: len(fit_texts)], embeddings[len(fit_texts):])

        self._fit_members(fit_texts, fit_emb, fit_y)
        self._tune(self._member_scores(tune_texts, tune_emb), tune_y)
        if refit:  # use every labelled example; the tuned weight, temperature and threshold carry over
            self._fit_members(fit_texts + tune_texts, embeddings, np.concatenate([fit_y, tune_y]))
        return self

    def _fit_members(self, texts: list[str], embeddings: np.ndarray | None, y: np.ndarray) -> None:
        self.members_: dict[str, Any] = {}
        if "tfidf" in MEMBERS[self.model]:
            self.members_["tfidf"] = Pipeline([("features", self._tfidf()), ("classifier", self._tfidf_classifier())]).fit(texts, y)
        if "embedding" in MEMBERS[self.model]:
            self.members_["embedding"] = LogisticRegression(C=self.embedding_C, max_iter=3000, random_state=self.seed).fit(embeddings, y)
        if "finetune" in MEMBERS[self.model]:
            from models.finetune import FineTunedEncoder

            self.members_["finetune"] = FineTunedEncoder(
                model_path=self.embedding_model, epochs=self.finetune_epochs, batch_size=self.finetune_batch_size,
                learning_rate=self.finetune_learning_rate, max_length=self.finetune_max_length, seed=self.seed,
            ).fit(texts, y)
            self.learning_curve_ = self.members_["finetune"].learning_curve_
        # every member sorts its classes (scikit-learn and FineTunedEncoder alike), so they share this order
        self.classes_ = [str(c) for c in next(iter(self.members_.values())).classes_]

    def _tune(self, member_scores: dict[str, np.ndarray], y: np.ndarray) -> None:
        """Mixing weight and temperature on the validation rows whose label is known to the model."""
        index = {label: i for i, label in enumerate(self.classes_)}
        known = np.array([label in index for label in y])
        targets = np.array([index[label] for label in y[known]], dtype=int)
        self.embedding_weight_ = 1.0 if self.model == "embedding" else 0.0
        if self.model == "ensemble" and known.any():
            accuracy = [
                (self._mix(member_scores, w)[known].argmax(axis=1) == targets).mean() for w in _WEIGHT_GRID
            ]
            self.embedding_weight_ = float(_WEIGHT_GRID[int(np.argmax(accuracy))])
        scores = self._mix(member_scores, self.embedding_weight_)
        self.temperature_ = fit_temperature(scores[known], targets) if known.any() else 1.0
        proba = calibrated_proba(scores, self.temperature_)
        top = proba.argmax(axis=1)
        correct = np.asarray(self.classes_, dtype=object)[top] == y
        self.threshold_ = abstention_threshold(
            proba.max(axis=1), correct, y == OUT_OF_SCOPE, self.max_in_scope_rejection
        )

    def _tfidf(self) -> FeatureUnion:
        views = [("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=self.max_features))]
        if self.char_ngrams:
            views.append(("char", TfidfVectorizer(
                analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, max_features=self.max_features
            )))
        return FeatureUnion(views)

    def _tfidf_classifier(self):
        if self.model == "lightgbm":
            from lightgbm import LGBMClassifier

            return LGBMClassifier(
                n_estimators=self.n_estimators, learning_rate=self.learning_rate, num_leaves=31, min_child_samples=5,
                colsample_bytree=0.3, random_state=self.seed, n_jobs=2, verbose=-1,
            )
        return LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed)

    # ---- inference ------------------------------------------------------------------------
    def share_encoder(self, encoder: Any) -> None:
        """Embed with ``encoder`` from now on: the same model with the same length limit (serving hands the
        text models one ONNX Runtime encoder, about twice as fast on a short text, and the same vectors)."""
        self._encoder = encoder

    def serve_with_onnx(self, threads: int = 1) -> None:
        """A fine-tuned member answers a request's texts through ONNX Runtime (same probabilities, faster)."""
        if "finetune" in getattr(self, "members_", {}):
            self.members_["finetune"].serve_with_onnx(threads)

    def _embed(self, texts: list[str], progress: bool = False) -> np.ndarray | None:
        if "embedding" not in MEMBERS[self.model]:
            return None
        return self._encoder.encode(texts, progress=progress and len(texts) > 2000)

    def _member_scores(self, texts: list[str], embeddings: np.ndarray | None) -> dict[str, np.ndarray]:
        scores = {}
        if "tfidf" in self.members_:
            scores["tfidf"] = np.log(np.clip(self.members_["tfidf"].predict_proba(texts), 1e-12, None))
        if "embedding" in self.members_:
            scores["embedding"] = np.log(np.clip(self.members_["embedding"].predict_proba(embeddings), 1e-12, None))
        if "finetune" in self.members_:
            scores["finetune"] = np.log(np.clip(self.members_["finetune"].predict_proba(texts), 1e-12, None))
        return scores

    @staticmethod
    def _mix(scores: dict[str, np.ndarray], embedding_weight: float) -> np.ndarray:
        if len(scores) == 1:
            return next(iter(scores.values()))
        return (1.0 - embedding_weight) * scores["tfidf"] + embedding_weight * scores["embedding"]

    def predict_proba(self, batch: pd.DataFrame) -> pd.DataFrame:
        """Calibrated class probabilities, one column per label, same index as ``batch``."""
        self._check_fitted()
        require_columns(batch, self.input_columns, f"{self.name}.predict")
        if batch.empty:
            return pd.DataFrame(columns=self.classes_, index=batch.index, dtype=float)
        texts = text_values(batch)
        scores = self._mix(self._member_scores(texts, self._embed(texts)), self.embedding_weight_)
        return pd.DataFrame(calibrated_proba(scores, self.temperature_), columns=self.classes_, index=batch.index)

    def predict(self, batch: pd.DataFrame) -> pd.DataFrame:
        """``label`` (``out_of_scope`` when confidence is under ``threshold_``) and ``confidence``,
        the calibrated probability of the best label."""
        label, confidence, _ = self._decide(self.predict_proba(batch).to_numpy())
        return pd.DataFrame({"label": label, "confidence": confidence}, index=batch.index)

    def _decide(self, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(answered label, confidence, best label before abstention) from calibrated probabilities."""
        if len(proba) == 0:
            return np.array([], dtype=object), np.array([], dtype=float), np.array([], dtype=object)
        best = np.asarray(self.classes_, dtype=object)[proba.argmax(axis=1)]
        confidence = proba.max(axis=1).astype(float)
        return np.where(confidence < self.threshold_, OUT_OF_SCOPE, best).astype(object), confidence, best

    # ---- evaluation -----------------------------------------------------------------------
    def evaluate(self, test: pd.DataFrame) -> dict[str, float]:
        require_columns(test, [*self.input_columns, self.target_column], f"{self.name}.evaluate")
        truth = test[self.target_column].astype(str).to_numpy()
        label, confidence, top = self._decide(self.predict_proba(test).to_numpy())
        in_scope = truth != OUT_OF_SCOPE
        metrics = {
            # what a caller gets: an abstention is right only on an out-of-scope example
            "accuracy": float(accuracy_score(truth, label)),
            # averaged over the true label set: an abstention already costs its true class recall,
            # so an "out_of_scope" column that the test data never uses must not count again
            "macro_f1": float(f1_score(truth, label, labels=np.unique(truth), average="macro", zero_division=0)),
            "weighted_f1": float(f1_score(truth, label, labels=np.unique(truth), average="weighted", zero_division=0)),
            "accuracy_without_abstention": float((top == truth)[in_scope].mean()) if in_scope.any() else float("nan"),
            "abstention_rate": float((label == OUT_OF_SCOPE).mean()),
            "mean_confidence": float(confidence.mean()),
            # how far confidence is from accuracy, in 10 equal-width bins (lower is better)
            "ece": expected_calibration_error(confidence[in_scope], (top == truth)[in_scope]),
            "n_samples": float(len(test)),
        }
        if (~in_scope).any():
            flagged = label == OUT_OF_SCOPE
            metrics["oos_recall"] = float(flagged[~in_scope].mean())
            metrics["oos_precision"] = float((~in_scope)[flagged].mean()) if flagged.any() else 0.0
        return metrics

    def figures(self, test: pd.DataFrame) -> dict[str, Figure]:
        truth = test[self.target_column].astype(str)
        label, confidence, top = self._decide(self.predict_proba(test).to_numpy())
        return {
            "confusion_matrix.png": confusion_matrix_figure(truth, pd.Series(label)),
            "calibration_curve.png": reliability_figure(confidence, top == truth.to_numpy()),
        }

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.members_, path / "members.joblib")
        fitted = {
            "classes": self.classes_, "embedding_weight": self.embedding_weight_,
            "temperature": self.temperature_, "threshold": self.threshold_,
        }
        (path / "params.json").write_text(json.dumps({"params": self.get_params(), "fitted": fitted}, indent=2))

    @classmethod
    def load(cls, path: Path) -> Self:
        path = Path(path)
        saved = json.loads((path / "params.json").read_text())
        clf = cls(**saved["params"])
        clf.members_ = joblib.load(path / "members.joblib")
        fitted = saved["fitted"]
        clf.classes_, clf.embedding_weight_ = fitted["classes"], fitted["embedding_weight"]
        clf.temperature_, clf.threshold_ = fitted["temperature"], fitted["threshold"]
        clf._encoder = SentenceEncoder(clf.embedding_model)
        return clf

    def _check_fitted(self) -> None:
        if not hasattr(self, "members_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() or load() first")

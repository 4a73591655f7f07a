"""Calibrated confidence in each part of a response and in the whole response (the ``confidence`` capability).

    scorer = ConfidenceScorer(target_precision=0.9).fit(signals)   # request_id, part, <signals>, req_*, correct
    scorer.predict(rows)      # confidence per part, overall per request, needs_review
    scorer.evaluate(rows)     # ECE / AUROC / Brier of the overall score, review share, per-part ECE and AUROC

A response has parts (intent, sentiment, ner, ..., the GenAI ``answer``); one row per part, with numeric
signals of any name (NaN allowed; ``req_*`` columns are request-level and repeated on each row).

Per part with enough rows (``min_part_rows``) and both outcomes: a logistic regression on
median-imputed, standardised signals plus missing-value indicators, or a small LightGBM, whichever has
the lower out-of-fold log loss; its score is calibrated (Platt or isotonic) on OUT-OF-FOLD scores, never
in-sample ones. The overall model sees one row per request: the aggregated out-of-fold part
probabilities (min, mean, product, count) and the ``req_*`` signals; its target is "every part right".
Out-of-fold matters: in-sample part scores are over-confident, and an overall model trained on them
would learn to trust them too much.

The review threshold is the lowest overall score at which the responses kept (at or above it) are fully
right at least ``target_precision`` of the time, measured on out-of-fold overall scores; ``review_threshold``
(settings) overrides it at predict. ``operating_threshold`` is the one in force.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import joblib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import GroupShuffleSplit, StratifiedKFold

from models.base import InputError, require_columns
from models.metrics import expected_calibration_error

#: string columns that are not signals (``group``: the harvest's near-twin groups)
_NOT_SIGNALS = ("request_id", "part", "group")
#: a part's signals are the columns non-null in at least this share of its training rows
_MIN_PRESENT = 0.10
_EPS = 1e-6


def _single_parts_alone(overall: np.ndarray, part_p: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per request: a response of one part is right exactly when that part is, so its part's probability
    is the whole's (the request-level model, fitted mostly on many-part requests, only approximates it)."""
    overall = overall.copy()
    counts = np.bincount(codes, minlength=len(overall))
    rows = np.flatnonzero(counts[codes] == 1)
    overall[codes[rows]] = part_p[rows]
    return overall


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


# ---- calibration --------------------------------------------------------------------------------

class _Calibrator:
    """Maps a model's raw score (a margin) to a probability: Platt (a 1-D logistic fit) or isotonic."""

    def __init__(self, method: str) -> None:
        self.method = method

    def fit(self, z: np.ndarray, y: np.ndarray) -> _Calibrator:
        if self.method == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=_EPS, y_max=1 - _EPS).fit(z, y)
            self.x_, self.y_ = np.asarray(iso.X_thresholds_, float), np.asarray(iso.y_thresholds_, float)
        else:
            lr = LogisticRegression(C=1e4).fit(z.reshape(-1, 1), y)
            self.a_, self.b_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        return self

    def __call__(self, z: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return np.interp(z, self.x_, self.y_)
        return _sigmoid(self.a_ * z + self.b_)


def _cross_calibrated(z: np.ndarray, y: np.ndarray, method: str, folds: int, seed: int) -> np.ndarray:
    """Calibrated out-of-fold scores whose calibrator never saw the row either (matters for isotonic)."""
    out = np.empty(len(z))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + 1)
    for fit_rows, score_rows in splitter.split(z.reshape(-1, 1), y):
        out[score_rows] = _Calibrator(method).fit(z[fit_rows], y[fit_rows])(z[score_rows])
    return out


# ---- per-part models ----------------------------------------------------------------------------

class _Linear:
    """Logistic regression on median-imputed, standardised features plus missing indicators.

    Fitted with scikit-learn, applied with numpy (a 7-row request must score in well under 5 ms)."""

    kind = "logreg"

    def __init__(self, C: float) -> None:
        self.C = C

    def _design(self, x: np.ndarray) -> np.ndarray:
        missing = np.isnan(x)
        filled = np.where(missing, self.median_, x)
        return np.hstack([(filled - self.mean_) / self.scale_, missing.astype(float)])

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Linear:
        with np.errstate(all="ignore"):
            median = np.nanmedian(np.where(np.isnan(x).all(axis=0), 0.0, x), axis=0) if len(x) else np.zeros(x.shape[1])
        self.median_ = np.nan_to_num(median)
        filled = np.where(np.isnan(x), self.median_, x)
        self.mean_ = filled.mean(axis=0)
        std = filled.std(axis=0)
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        lr = LogisticRegression(C=self.C, max_iter=1000).fit(self._design(x), y)
        self.coef_, self.intercept_ = lr.coef_[0].copy(), float(lr.intercept_[0])
        return self

    def margin(self, x: np.ndarray) -> np.ndarray:
        return self._design(x) @ self.coef_ + self.intercept_


class _Boosted:
    """A small LightGBM (NaN handled natively); its raw score is the margin."""

    kind = "lightgbm"

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Boosted:
        from lightgbm import LGBMClassifier

        self.model_ = LGBMClassifier(n_estimators=120, learning_rate=0.05, num_leaves=8, min_child_samples=20,
                                     reg_lambda=1.0, random_state=self.seed, n_jobs=1, verbose=-1).fit(x, y)
        return self

    def margin(self, x: np.ndarray) -> np.ndarray:
        return self.model_.booster_.predict(x, raw_score=True, num_threads=1)


class _PartModel:
    """A fitted, calibrated model over some of the signal columns (by index into ``signals_``)."""

    def __init__(self, columns: np.ndarray, model: Any, calibrator: _Calibrator) -> None:
        self.columns, self.model, self.calibrator = columns, model, calibrator

    def __call__(self, signals: np.ndarray) -> np.ndarray:
        return self.calibrator(self.model.margin(signals[:, self.columns]))


class _Prior:
    """Too few rows, or one outcome only: nothing to learn a relation from. The part's own calibrated
    probability (``p_self``) where it has one is the best estimate there is; else its training accuracy
    (Laplace-smoothed, so 12 right out of 12 reads 0.93 rather than a certain 1.0)."""

    def __init__(self, p_self: int | None, accuracy: float) -> None:
        self.p_self, self.accuracy = p_self, accuracy

    def __call__(self, signals: np.ndarray) -> np.ndarray:
        out = np.full(len(signals), self.accuracy)
        if self.p_self is not None:
            own = signals[:, self.p_self]
            out = np.where(np.isnan(own), out, np.clip(own, 0.0, 1.0))
        return out


class ConfidenceScorer:
    name: ClassVar[str] = "confidence"
    primary_metric: ClassVar[str] = "brier_overall"
    higher_is_better: ClassVar[bool] = False
    input_columns: ClassVar[tuple[str, ...]] = ("request_id", "part")
    target_column: ClassVar[str] = "correct"

    def __init__(self, target_precision: float = 0.9, review_threshold: float | None = None, C: float = 1.0,
                 model: Literal["auto", "logreg", "lightgbm"] = "auto",
                 calibration: Literal["platt", "isotonic"] = "platt", min_part_rows: int = 30, folds: int = 5,
                 seed: int = 42) -> None:
        self.target_precision = target_precision
        self.review_threshold = review_threshold
        self.C = C
        self.model = model
        self.calibration = calibration
        self.min_part_rows = min_part_rows
        self.folds = folds
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in ("target_precision", "review_threshold", "C", "model",
                                                    "calibration", "min_part_rows", "folds", "seed")}

    @property
    def operating_threshold(self) -> float:
        """The review threshold in force: the one from the settings if set, else the one tuned at fit."""
        return float(self.review_threshold) if self.review_threshold is not None else self.review_threshold_

    # ---- input ---------------------------------------------------------------------------------

    def _check(self, frame: pd.DataFrame, stage: str, target: bool) -> None:
        require_columns(frame, [*self.input_columns, *([self.target_column] if target else [])], f"{self.name}.{stage}")
        if frame["part"].isna().any():
            raise InputError(f"{self.name}.{stage}: column 'part' has missing values, first at row "
                             f"{int(frame['part'].isna().to_numpy().argmax()) + 1}")

    def _numeric(self, column: pd.Series, stage: str) -> np.ndarray:
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            return column.to_numpy(dtype=float, na_value=np.nan)
        values = pd.to_numeric(column, errors="coerce")
        bad = values.isna() & column.notna()
        if bad.any():
            first = int(bad.to_numpy().argmax())
            raise InputError(f"{self.name}.{stage}: signal column {column.name!r} must be numeric; row {first + 1} "
                             f"has {column.iloc[first]!r}. Convert it or drop the column.")
        return values.to_numpy(dtype=float)

    def _signals(self, frame: pd.DataFrame, stage: str) -> np.ndarray:
        """The fitted signal columns as a float matrix: missing columns are NaN, extra ones ignored."""
        out = np.full((len(frame), len(self.signals_)), np.nan)
        for j, column in enumerate(self.signals_):
            if column in frame.columns:
                out[:, j] = self._numeric(frame[column], stage)
        return out

    def _labels(self, frame: pd.DataFrame, stage: str) -> np.ndarray:
        labels = pd.to_numeric(frame[self.target_column], errors="coerce")
        if not labels.isin([0, 1]).all():
            raise InputError(f"{self.name}.{stage}: column {self.target_column!r} must be 0 (wrong) or 1 (right)")
        return labels.to_numpy(dtype=int)

    # ---- fit -----------------------------------------------------------------------------------

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> Self:
        """Fit on ``train`` (and ``valid``, when given, appended: every estimate that needs held-out data
        is taken out-of-fold, so a separate validation set is not needed)."""
        frame = train if valid is None else pd.concat([train, valid], ignore_index=True)
        self._check(frame, "fit", target=True)
        for column in frame.columns:
            if column in _NOT_SIGNALS or column == self.target_column:
                continue
            col = frame[column]
            if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
                self._numeric(col, "fit")  # raises, naming the column, unless it is numbers stored as text
        self.signals_ = [c for c in frame.columns if c not in _NOT_SIGNALS and c != self.target_column]
        if not self.signals_:
            raise InputError(f"{self.name}.fit: no signal column; the frame has {list(frame.columns)}")
        self.request_signals_ = [c for c in self.signals_ if c.startswith("req_")]
        x, y = self._signals(frame, "fit"), self._labels(frame, "fit")
        parts = frame["part"].astype(str).to_numpy().astype(object)
        p_self = self.signals_.index("p_self") if "p_self" in self.signals_ else None

        self.parts_: dict[str, Any] = {}
        self.part_kind_: dict[str, str] = {}
        oof = np.empty(len(frame))
        for part in sorted(map(str, set(parts))):
            rows = np.flatnonzero(parts == part)
            self.parts_[part], oof[rows], self.part_kind_[part] = self._fit_part(x[rows], y[rows], p_self)
        # a part unseen at fit: its p_self where present, else one model over every part's rows
        pooled, _, self.part_kind_["(pooled)"] = self._fit_part(x, y, None)
        self.pooled_ = pooled
        self.p_self_ = p_self

        request_ids = frame["request_id"].astype(str).to_numpy()
        features, codes = self._request_features(request_ids, oof, x)
        overall_oof, target = self._fit_overall(features, codes, y)
        overall_oof = _single_parts_alone(overall_oof, oof, codes)  # as predict scores them
        self.review_threshold_, self.target_reached_ = self._tune_threshold(overall_oof, target)
        self.oof_precision_ = float(target[overall_oof >= self.review_threshold_].mean())
        return self

    def _fit_part(self, x: np.ndarray, y: np.ndarray, p_self: int | None) -> tuple[Any, np.ndarray, str]:
        n_pos = int(y.sum())
        if len(y) < self.min_part_rows or min(n_pos, len(y) - n_pos) < self.folds:
            prior = _Prior(p_self, (n_pos + 1) / (len(y) + 2))
            return prior, prior(x), "prior"
        present = np.flatnonzero(np.mean(~np.isnan(x), axis=0) >= _MIN_PRESENT)
        if len(present) == 0:
            prior = _Prior(None, (n_pos + 1) / (len(y) + 2))
            return prior, prior(x), "prior"
        x = x[:, present]
        candidates = {"logreg": lambda: _Linear(self.C), "lightgbm": lambda: _Boosted(self.seed)}
        if self.model == "logreg" or (self.model == "auto" and len(y) < 200):
            candidates.pop("lightgbm")  # too few rows for trees to beat a linear model
        elif self.model == "lightgbm":
            candidates.pop("logreg")
        best: tuple[float, str, np.ndarray, np.ndarray] | None = None
        for kind, make in candidates.items():
            margin = np.empty(len(y))
            splitter = StratifiedKFold(n_splits=self.folds, shuffle=True, random_state=self.seed)
            for fit_rows, score_rows in splitter.split(x, y):
                margin[score_rows] = make().fit(x[fit_rows], y[fit_rows]).margin(x[score_rows])
            calibrated = _cross_calibrated(margin, y, self.calibration, self.folds, self.seed)
            loss = log_loss(y, np.clip(calibrated, _EPS, 1 - _EPS), labels=[0, 1])
            if best is None or loss < best[0]:
                best = (loss, kind, margin, calibrated)
        _, kind, margin, calibrated = best
        model = candidates[kind]().fit(x, y)
        return _PartModel(present, model, _Calibrator(self.calibration).fit(margin, y)), calibrated, kind

    def _request_features(self, request_ids: np.ndarray, part_p: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One row per request (in order of first appearance): logit(min), logit(mean), log(product) and
        count of the part probabilities, then the ``req_*`` signals of its first row; and each row's request."""
        codes, _ = pd.factorize(request_ids)
        n = int(codes.max()) + 1 if len(codes) else 0
        count = np.bincount(codes, minlength=n).astype(float)
        p = np.clip(part_p, _EPS, 1 - _EPS)
        lowest = np.full(n, np.inf)
        np.minimum.at(lowest, codes, p)
        mean = np.bincount(codes, weights=p, minlength=n) / count
        log_product = np.bincount(codes, weights=np.log(p), minlength=n)
        first = np.full(n, -1)
        first[codes[::-1]] = np.arange(len(codes))[::-1]
        req = x[first][:, [self._column[c] for c in self.request_signals_]]
        return np.column_stack([_logit(lowest), _logit(mean), log_product, count, req]), codes

    def _fit_overall(self, features: np.ndarray, codes: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The request-level model; returns its out-of-fold overall probabilities."""
        target = np.ones(int(codes.max()) + 1, dtype=int)
        np.minimum.at(target, codes, y)   # every part right
        self.overall_kind_, oof = "prior", np.full(len(target), (target.sum() + 1) / (len(target) + 2))
        self.overall_ = _Prior(None, float(oof[0]))
        if min(target.sum(), len(target) - target.sum()) >= self.folds:
            margin = np.empty(len(target))
            splitter = StratifiedKFold(n_splits=self.folds, shuffle=True, random_state=self.seed)
            for fit_rows, score_rows in splitter.split(features, target):
                margin[score_rows] = _Linear(self.C).fit(features[fit_rows], target[fit_rows]).margin(features[score_rows])
            oof = _cross_calibrated(margin, target, self.calibration, self.folds, self.seed)
            self.overall_ = _PartModel(np.arange(features.shape[1]), _Linear(self.C).fit(features, target),
                                       _Calibrator(self.calibration).fit(margin, target))
            self.overall_kind_ = "logreg"
        return oof, target

    def _tune_threshold(self, overall: np.ndarray, target: np.ndarray) -> tuple[float, bool]:
        """The lowest threshold whose kept responses (overall >= it) are right at least ``target_precision``
        of the time; else the most precise one (the lowest such, so the most is kept)."""
        order = np.argsort(-overall, kind="stable")
        scores, right = overall[order], target[order]
        precision = np.cumsum(right) / np.arange(1, len(right) + 1)
        cuts = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])  # cut only between distinct scores
        reached = cuts[precision[cuts] >= self.target_precision]
        if len(reached):
            return float(scores[reached.max()]), True
        best = cuts[np.flatnonzero(precision[cuts] == precision[cuts].max()).max()]
        return float(scores[best]), False

    # ---- predict -------------------------------------------------------------------------------

    def _part_probabilities(self, frame: pd.DataFrame, x: np.ndarray) -> np.ndarray:
        parts = frame["part"].astype(str).to_numpy()
        out = np.empty(len(frame))
        for part in set(parts):
            rows = np.flatnonzero(parts == part)
            model = self.parts_.get(part)
            if model is None:  # unseen part: its own probability where it has one, else the pooled model
                own = x[rows, self.p_self_] if self.p_self_ is not None else np.full(len(rows), np.nan)
                out[rows] = np.where(np.isnan(own), self.pooled_(x[rows]), own)
            else:
                out[rows] = model(x[rows])
        return np.clip(out, 0.0, 1.0)

    def predict(self, batch: pd.DataFrame) -> pd.DataFrame:
        """``confidence`` per part, ``overall`` per request (on each of its rows), ``needs_review``."""
        self._check_fitted()
        self._check(batch, "predict", target=False)
        if batch.empty:
            return pd.DataFrame({"confidence": pd.Series(dtype=float), "overall": pd.Series(dtype=float),
                                 "needs_review": pd.Series(dtype=bool)}, index=batch.index)
        x = self._signals(batch, "predict")
        part_p = self._part_probabilities(batch, x)
        features, codes = self._request_features(batch["request_id"].astype(str).to_numpy(), part_p, x)
        overall = _single_parts_alone(np.clip(self.overall_(features), 0.0, 1.0), part_p, codes)[codes]
        return pd.DataFrame({"confidence": part_p, "overall": overall, "needs_review": overall < self.operating_threshold},
                            index=batch.index)

    # ---- evaluate ------------------------------------------------------------------------------

    def _scored(self, test: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
        """Predictions, and per request: overall score, fully right (0/1)."""
        self._check(test, "evaluate", target=True)
        predicted = self.predict(test)
        y = self._labels(test, "evaluate")
        codes, _ = pd.factorize(test["request_id"].astype(str))
        target = np.ones(int(codes.max()) + 1, dtype=int)
        np.minimum.at(target, codes, y)
        overall = np.zeros(len(target))
        overall[codes] = predicted["overall"].to_numpy()
        return predicted, y, overall, target

    def evaluate(self, test: pd.DataFrame) -> dict[str, float]:
        self._check_fitted()
        predicted, y, overall, target = self._scored(test)
        kept = overall >= self.operating_threshold
        top = np.argsort(-overall, kind="stable")[: max(1, int(round(0.8 * len(overall))))]
        metrics = {
            "ece_overall": expected_calibration_error(overall, target),
            "auroc_overall": _auroc(target, overall),
            "brier_overall": float(brier_score_loss(target, overall, pos_label=1)) if len(target) else float("nan"),
            "accuracy_at_80_coverage": float(target[top].mean()),
            "accuracy_overall": float(target.mean()),
            "review_share": float(1 - kept.mean()),
            "precision_without_review": float(target[kept].mean()) if kept.any() else float("nan"),
            "target_reached": float(self.target_reached_),
            "review_threshold": float(self.operating_threshold),
            "n_requests": float(len(target)),
        }
        parts = test["part"].astype(str).to_numpy()
        confidence = predicted["confidence"].to_numpy()
        for part in sorted(set(parts)):
            rows = parts == part
            metrics[f"ece_{part}"] = expected_calibration_error(confidence[rows], y[rows])
            metrics[f"auroc_{part}"] = _auroc(y[rows], confidence[rows])
            metrics[f"n_{part}"] = float(rows.sum())
        return metrics

    def figures(self, test: pd.DataFrame) -> dict[str, Figure]:
        from models.plots import risk_coverage_figure

        self._check_fitted()
        predicted, y, overall, target = self._scored(test)
        parts = test["part"].astype(str).to_numpy()
        confidence = predicted["confidence"].to_numpy()
        curves = [("overall", overall, target)] + [(part, confidence[parts == part], y[parts == part])
                                                   for part in sorted(set(parts))]
        fig = Figure(figsize=(7, 6))
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
        for label, p, right in curves:
            which = np.clip(np.digitize(p, np.linspace(0.0, 1.0, 11)[1:-1]), 0, 9)
            curve = pd.DataFrame({"bin": which, "p": p, "right": right.astype(float)}).groupby("bin").mean()
            ax.plot(curve["p"], curve["right"], "o-", lw=2.5 if label == "overall" else 1.0, ms=4,
                    label=f"{label} (ECE {expected_calibration_error(p, right):.3f}, n={len(p)})")
        ax.set_xlabel("predicted probability of being right")
        ax.set_ylabel("share right")
        ax.set_title("Reliability: the whole response and each part")
        ax.legend(fontsize=8)
        fig.tight_layout()
        return {"reliability.png": fig,
                "risk_coverage.png": risk_coverage_figure(overall, target.astype(bool), self.operating_threshold)}

    # ---- persistence ---------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        joblib.dump({"parts": self.parts_, "pooled": self.pooled_, "overall": self.overall_}, path / "models.joblib")
        fitted = {"signals": self.signals_, "request_signals": self.request_signals_, "p_self": self.p_self_,
                  "part_kind": self.part_kind_, "overall_kind": self.overall_kind_,
                  "review_threshold": self.review_threshold_, "target_reached": self.target_reached_,
                  "oof_precision": self.oof_precision_}
        (path / "params.json").write_text(json.dumps({"params": self.get_params(), "fitted": fitted}, indent=2))

    @classmethod
    def load(cls, path: Path) -> Self:
        path = Path(path)
        saved = json.loads((path / "params.json").read_text())
        scorer = cls(**saved["params"])
        models = joblib.load(path / "models.joblib")
        scorer.parts_, scorer.pooled_, scorer.overall_ = models["parts"], models["pooled"], models["overall"]
        fitted = saved["fitted"]
        scorer.signals_, scorer.request_signals_, scorer.p_self_ = fitted["signals"], fitted["request_signals"], fitted["p_self"]
        scorer.part_kind_, scorer.overall_kind_ = fitted["part_kind"], fitted["overall_kind"]
        scorer.review_threshold_, scorer.target_reached_ = fitted["review_threshold"], fitted["target_reached"]
        scorer.oof_precision_ = fitted["oof_precision"]
        return scorer

    def holdout(self, frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Whole requests held out (a request's parts are scored together); with a ``group`` column (e.g. the
        noisy copies of one ticket), whole groups, so no test request has a near-twin in training."""
        require_columns(frame, ["request_id"], f"{self.name}.holdout")
        groups = frame["group" if "group" in frame.columns else "request_id"].astype(str)
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        train_rows, test_rows = next(splitter.split(frame, groups=groups))
        return frame.iloc[train_rows].reset_index(drop=True), frame.iloc[test_rows].reset_index(drop=True)

    @property
    def _column(self) -> dict[str, int]:
        return {c: j for j, c in enumerate(self.signals_)}

    def _check_fitted(self) -> None:
        if not hasattr(self, "overall_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() or load() first")


def _auroc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")

"""The trained LLM router (capability ``llm_router``): which tier should answer a prompt.

    clf = RouteClassifier(tier_order=["cheap", "small", "large"]).fit(train_df)   # columns: text, tier
    clf.predict(batch_df)    # tier, complexity in [0, 1], p_<tier> for every tier
    clf.evaluate(test_df)    # accuracy, macro_f1, apgr, cpt_95, pgr, strong_share, n_samples
    clf.operating_point_     # the goal and, on validation data, strong_share, pgr, accuracy, tier_shares

Features: frozen all-MiniLM-L6-v2 sentence embeddings (``models.embeddings``, offline) and five
cheap lexical complexity signals (log word count, question marks, clause breaks, line breaks, code
tokens), standardised; a multinomial logistic regression over them gives a probability per tier.
Measured on the project's prompt set with whole template families held out, the lexical signals
lift accuracy from 0.44 (embeddings alone) to 0.70, and beat TF-IDF word+char n-grams (0.53), which
memorise templates (1.00 on a random split) but do not transfer to unseen phrasings.

``complexity`` is the expected position along the ordered tiers (weakest 0, strongest 1) under the
probabilities, renormalised over the ordered tiers. Thresholds on it split the order; they are the
ones that maximise routing accuracy on validation data (``valid``, else a stratified ``valid_size``
share of ``train`` that is folded back for a final refit), found exactly by dynamic programming
over the sorted scores. A specialist tier (a label outside the order, e.g. ``code``) is chosen when
its probability is the largest. One monotone score is what lets a deployment trade cost for quality
by moving a threshold, and what RouteLLM's APGR / CPT metrics sweep.

Accuracy favours the bulk tiers: a router that ranks prompts well can still send almost nothing to
the strongest tier when that tier's label is rare or noisy. So a goal may set the operating point
instead (at most one): ``strong_budget`` sends that share of the validation prompts to the strongest
ordered tier; ``quality_target`` sends the smallest share whose PGR on validation reaches the target
(PGR of the router's own decisions, middle tiers included, as the cut in front of the strongest tier
moves down the scores). Either way only that cut moves; the lower ones stay where accuracy put them
(clipped so the cuts stay non-decreasing). ``thresholds`` (``[llm_router] thresholds``) overrides the
tuned cuts at predict (it is saved with the model, so what serves is what was evaluated);
``operating_thresholds`` are the ones in force.

Any label set works. The order comes from ``tier_order`` when at least two labels are in it (other
labels become specialists); otherwise the labels are ordered by frequency, the most frequent taken
as the weakest (cheap traffic is usually the bulk), with a warning saying how to set the order.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from typing import Any, ClassVar, Self

import joblib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from models.base import InputError, require_columns, text_values
from models.embeddings import DEFAULT_MODEL, SentenceEncoder
from models.llm.routing_metrics import QualityModel, apgr, cpt, operating_pgr, pgr, pgr_curve, routing_accuracy
from models.plots import confusion_matrix_figure

_CLAUSE = re.compile(r"[.;:!?](?:\s|$)|,|\b(?:and|then|also|but|while|whether|versus|or)\b", re.IGNORECASE)
_CODE = re.compile(
    r"[{}()\[\]=<>_*/\\`]|\b(?:def|select|from|where|import|class|return|regex|sql|yaml|json|toml|python|pandas|"
    r"traceback|error:|\w+error)\b", re.IGNORECASE)


def lexical_features(texts: list[str]) -> np.ndarray:
    """(n, 5): log word count, question marks, clause breaks, line breaks, code tokens (the last four as log1p)."""
    rows = [
        (math.log1p(len(t.split())), math.log1p(t.count("?")), math.log1p(len(_CLAUSE.findall(t))),
         math.log1p(t.count("\n")), math.log1p(len(_CODE.findall(t))))
        for t in texts
    ]
    return np.array(rows, dtype=float).reshape(len(texts), 5)


class RouteClassifier:
    name: ClassVar[str] = "llm_router"
    #: the decision the router makes; APGR and CPT(95%) are reported beside it
    primary_metric: ClassVar[str] = "accuracy"
    input_columns: ClassVar[tuple[str, ...]] = ("text",)
    target_column: ClassVar[str] = "tier"

    def __init__(self, C: float = 4.0, valid_size: float = 0.15,
                 tier_order: list[str] | tuple[str, ...] = ("cheap", "small", "large"),
                 strong_budget: float | None = None, quality_target: float | None = None,
                 thresholds: list[float] | None = None, seed: int = 42) -> None:
        """``strong_budget`` / ``quality_target``: the goal the cut in front of the strongest tier is tuned
        for (None for both: the most accurate cuts); ``thresholds``: overrides the cuts tuned at fit."""
        for name, value in (("strong_budget", strong_budget), ("quality_target", quality_target)):
            if value is not None and not 0.0 < value <= 1.0:
                raise InputError(f"{self.name}: {name} must be in (0, 1], got {value}")
        if strong_budget is not None and quality_target is not None:
            raise InputError(f"{self.name}: set strong_budget ({strong_budget}) or quality_target ({quality_target}), "
                             "not both: each decides how many prompts go to the strongest tier")
        if thresholds is not None and list(thresholds) != sorted(thresholds):
            raise InputError(f"{self.name}: thresholds {list(thresholds)} must be non-decreasing (weakest tier's cut first)")
        self.C = C
        self.valid_size = valid_size
        self.tier_order = list(tier_order)
        self.strong_budget = strong_budget
        self.quality_target = quality_target
        self.thresholds = None if thresholds is None else [float(t) for t in thresholds]
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {"C": self.C, "valid_size": self.valid_size, "tier_order": self.tier_order,
                "strong_budget": self.strong_budget, "quality_target": self.quality_target,
                "thresholds": self.thresholds, "seed": self.seed}

    @property
    def operating_thresholds(self) -> list[float]:
        """The cuts in force: ``thresholds`` (settings) when set, else the ones tuned at fit."""
        self._check_fitted()
        if self.thresholds is None:
            return self.thresholds_
        if len(self.thresholds) != len(self.ordered_tiers_) - 1:
            raise InputError(f"[{self.name}] thresholds: the tiers {self.ordered_tiers_} need "
                             f"{len(self.ordered_tiers_) - 1} cut(s) on complexity, got {self.thresholds}")
        return self.thresholds

    # ---- training -------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> Self:
        require_columns(train, [*self.input_columns, self.target_column], f"{self.name}.fit")
        labels = train[self.target_column].astype(str)
        if labels.nunique() < 2:
            raise InputError(f"{self.name}.fit: column {self.target_column!r} has {labels.nunique()} distinct tier(s); "
                             "a router needs prompts labelled with at least 2 tiers")
        self.ordered_tiers_, self.specialist_tiers_ = self._tiers(labels)
        refit = valid is None
        if valid is None:
            stratify = labels if labels.value_counts().min() >= 2 else None
            train, valid = train_test_split(train, test_size=self.valid_size, random_state=self.seed, stratify=stratify)
        else:
            require_columns(valid, [*self.input_columns, self.target_column], f"{self.name}.fit (valid)")
        fit_texts, tune_texts = text_values(train), text_values(valid)
        fit_y = train[self.target_column].astype(str).to_numpy()
        tune_y = valid[self.target_column].astype(str).to_numpy()
        embeddings = self._encoder().encode(fit_texts + tune_texts, progress=len(fit_texts) > 2000)
        lexical = lexical_features(fit_texts + tune_texts)
        n = len(fit_texts)

        self._fit_members(embeddings[:n], lexical[:n], fit_y)
        proba = self._proba(embeddings[n:], lexical[n:])
        self.thresholds_ = self._tune_thresholds(proba, tune_y)
        if refit:  # every labelled prompt trains the final model; the tuned thresholds carry over
            self._fit_members(embeddings, lexical, np.concatenate([fit_y, tune_y]))
        return self

    def _tiers(self, labels: pd.Series) -> tuple[list[str], list[str]]:
        present = set(labels)
        ordered = [t for t in self.tier_order if t in present]
        if len(ordered) >= 2:
            return ordered, sorted(present - set(ordered))
        by_frequency = sorted(present, key=lambda t: (-int((labels == t).sum()), t))
        warnings.warn(
            f"{self.name}: fewer than 2 of the labels {sorted(present)} are in tier_order {self.tier_order}; "
            f"ordering tiers by frequency, most frequent as the weakest: {by_frequency}. "
            f"Set the order weakest first, e.g. `[router] tier_order = {json.dumps(by_frequency)}` in hybrid.toml.",
            UserWarning, stacklevel=3,
        )
        return by_frequency, []

    def _fit_members(self, embeddings: np.ndarray, lexical: np.ndarray, y: np.ndarray) -> None:
        self.scaler_ = StandardScaler().fit(lexical)
        features = np.hstack([embeddings, self.scaler_.transform(lexical)])
        self.classifier_ = LogisticRegression(C=self.C, max_iter=3000, random_state=self.seed).fit(features, y)
        self.classes_ = [str(c) for c in self.classifier_.classes_]

    def _tune_thresholds(self, proba: np.ndarray, y: np.ndarray) -> list[float]:
        """Cut points on complexity (one fewer than the ordered tiers): the most accurate on validation, the
        last one moved to meet the goal when there is one; records ``operating_point_``."""
        complexity, top = self._complexity(proba), self._top(proba)
        general = ~np.isin(top, self.specialist_tiers_)
        cuts = best_thresholds(complexity[general], y[general], self.ordered_tiers_)
        if self.strong_budget is not None or self.quality_target is not None:
            strong_cut = cut_above(complexity[general], self._strong_count(complexity, top, general, y, cuts))
            cuts = [*(min(cut, strong_cut) for cut in cuts[:-1]), strong_cut]
        self.operating_point_ = self._operating_point(self._route(complexity, top, cuts), y, cuts)
        return cuts

    def _goal(self) -> tuple[str, float | None]:
        if self.strong_budget is not None:
            return "strong_budget", self.strong_budget
        if self.quality_target is not None:
            return "quality_target", self.quality_target
        return "accuracy", None

    def _strong_count(self, complexity: np.ndarray, top: np.ndarray, general: np.ndarray, y: np.ndarray,
                      cuts: list[float]) -> int:
        """How many of the highest-scoring general validation prompts the goal sends to the strongest tier."""
        n = len(y)
        if self.strong_budget is not None:
            return math.floor(self.strong_budget * n + 1e-9)  # a budget is a ceiling; 1e-9: 0.29 * 100 is 28.999...
        # Below the strongest tier each prompt keeps the tier the lower cuts give it; moving the strongest
        # cut down one prompt at a time adds that prompt's quality gain, so PGR is exact at every reachable cut.
        quality = self.quality_model()
        below = quality.qualities(y, self._route(complexity, top, [*cuts[:-1], math.inf]))
        on_strongest = quality.qualities(y, [quality.strongest] * n)
        order = np.argsort(-complexity[general], kind="stable")
        scores = complexity[general][order]
        # a cut falls between two distinct scores, so ties move together
        counts = np.unique([0, *(np.flatnonzero(np.diff(scores) < 0) + 1), len(scores)])
        gained = np.concatenate([[0.0], np.cumsum((on_strongest - below)[general][order])])[counts]
        weakest = quality.qualities(y, [quality.weakest] * n).mean()
        recovered = np.array([pgr((below.sum() + g) / n, weakest, on_strongest.mean()) for g in gained])
        reached = np.flatnonzero(recovered >= self.quality_target)  # NaN (no gap to recover) reaches nothing
        if len(reached):
            return int(counts[reached[0]])
        best = 0 if np.isnan(recovered).all() else int(np.nanargmax(recovered))  # the fewest calls at the best PGR
        why = ("the strongest tier does no better than the weakest there" if np.isnan(recovered[best])
               else f"the best PGR is {recovered[best]:.3f}")
        warnings.warn(
            f"{self.name}: quality_target {self.quality_target} is out of reach on the validation data: {why}; "
            f"sending {counts[best] / n:.1%} of prompts to {quality.strongest!r}, the fewest that reach the best",
            UserWarning, stacklevel=4,
        )
        return int(counts[best])

    def _operating_point(self, routed: np.ndarray, y: np.ndarray, cuts: list[float]) -> dict[str, Any]:
        quality = self.quality_model()
        goal, value = self._goal()
        return {
            "goal": goal, "goal_value": value, "thresholds": cuts,
            "strong_share": float(np.mean(routed == quality.strongest)),
            "pgr": float(operating_pgr(y, routed, quality)),
            "accuracy": routing_accuracy(y, routed),
            "tier_shares": {t: float(np.mean(routed == t)) for t in [*self.ordered_tiers_, *self.specialist_tiers_]},
        }

    # ---- inference ------------------------------------------------------------------------
    def _encoder(self) -> SentenceEncoder:
        # One encoder per model, loaded on first use; a benchmark may hand several models the same one.
        if getattr(self, "_shared_encoder", None) is None:
            self._shared_encoder = SentenceEncoder()
        return self._shared_encoder

    def _proba(self, embeddings: np.ndarray, lexical: np.ndarray) -> np.ndarray:
        return self.classifier_.predict_proba(np.hstack([embeddings, self.scaler_.transform(lexical)]))

    def _top(self, proba: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_, dtype=object)[proba.argmax(axis=1)]

    def _route(self, complexity: np.ndarray, top: np.ndarray, cuts: list[float]) -> np.ndarray:
        """A specialist where it is the most probable tier, else the ordered tier ``cuts`` put the complexity in."""
        along_order = np.asarray(self.ordered_tiers_, dtype=object)[np.searchsorted(cuts, complexity, side="right")]
        return np.where(np.isin(top, self.specialist_tiers_), top, along_order)

    def _complexity(self, proba: np.ndarray) -> np.ndarray:
        columns = [self.classes_.index(t) for t in self.ordered_tiers_]
        ordered = proba[:, columns]
        positions = np.linspace(0.0, 1.0, len(columns))
        return ordered @ positions / np.clip(ordered.sum(axis=1), 1e-12, None)

    def predict(self, batch: pd.DataFrame) -> pd.DataFrame:
        """``tier``, ``complexity`` and ``p_<tier>`` for each tier, same index as ``batch``."""
        self._check_fitted()
        require_columns(batch, self.input_columns, f"{self.name}.predict")
        columns = ["tier", "complexity", *(f"p_{t}" for t in self.classes_)]
        if batch.empty:
            return pd.DataFrame({c: pd.Series(dtype=object if c == "tier" else float) for c in columns}, index=batch.index)
        texts = text_values(batch)
        proba = self._proba(self._encoder().encode(texts), lexical_features(texts))
        complexity = self._complexity(proba)
        tier = self._route(complexity, self._top(proba), self.operating_thresholds)
        frame = pd.DataFrame(proba, columns=[f"p_{t}" for t in self.classes_], index=batch.index)
        frame.insert(0, "complexity", complexity)
        frame.insert(0, "tier", tier)
        return frame

    def quality_model(self) -> QualityModel:
        self._check_fitted()
        return QualityModel(tuple(self.ordered_tiers_), tuple(self.specialist_tiers_))

    def evaluate(self, test: pd.DataFrame) -> dict[str, float]:
        self._check_fitted()
        require_columns(test, [*self.input_columns, self.target_column], f"{self.name}.evaluate")
        truth = test[self.target_column].astype(str)
        unknown = sorted(set(truth) - set(self.classes_))
        if unknown:
            raise InputError(f"{self.name}.evaluate: tier(s) {unknown} never appeared in training ({self.classes_}); "
                             "retrain with them or drop those rows")
        predicted = self.predict(test[list(self.input_columns)])
        quality = self.quality_model()
        curve = pgr_curve(truth, predicted["complexity"], predicted["tier"], quality)
        return {
            "accuracy": routing_accuracy(truth, predicted["tier"]),
            "macro_f1": float(f1_score(truth, predicted["tier"], average="macro", zero_division=0)),
            "apgr": apgr(curve),
            "cpt_95": cpt(curve, 0.95),
            "pgr": float(operating_pgr(truth, predicted["tier"], quality)),
            "strong_share": float((predicted["tier"] == quality.strongest).mean()),
            "n_samples": float(len(test)),
        }

    def figures(self, test: pd.DataFrame) -> dict[str, Figure]:
        predicted = self.predict(test[list(self.input_columns)])
        truth = test[self.target_column].astype(str)
        curve = pgr_curve(truth, predicted["complexity"], predicted["tier"], self.quality_model())
        return {"pgr_curve.png": pgr_curve_figure(curve), "confusion_matrix.png": confusion_matrix_figure(truth, predicted["tier"])}

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        joblib.dump({"scaler": self.scaler_, "classifier": self.classifier_}, path / "members.joblib")
        fitted = {"classes": self.classes_, "ordered_tiers": self.ordered_tiers_, "specialist_tiers": self.specialist_tiers_,
                  "thresholds": self.thresholds_, "operating_point": self.operating_point_, "encoder": DEFAULT_MODEL}
        (path / "params.json").write_text(json.dumps({"params": self.get_params(), "fitted": fitted}, indent=2))

    @classmethod
    def load(cls, path: Path) -> Self:
        path = Path(path)
        saved = json.loads((path / "params.json").read_text())
        clf = cls(**saved["params"])
        members = joblib.load(path / "members.joblib")
        clf.scaler_, clf.classifier_ = members["scaler"], members["classifier"]
        fitted = saved["fitted"]
        clf.classes_, clf.ordered_tiers_ = fitted["classes"], fitted["ordered_tiers"]
        clf.specialist_tiers_, clf.thresholds_ = fitted["specialist_tiers"], fitted["thresholds"]
        clf.operating_point_ = fitted.get("operating_point", {})  # champions saved before goals existed have none
        return clf

    def _check_fitted(self) -> None:
        if not hasattr(self, "classifier_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() or load() first")


def best_thresholds(complexity: np.ndarray, labels: np.ndarray, ordered_tiers: list[str]) -> list[float]:
    """Non-decreasing cut points that maximise exact-tier accuracy when tier k is chosen for
    threshold[k-1] <= complexity < threshold[k]. Exact: dynamic programming over the distinct scores
    in order, each tier index never decreasing. A tier no row should get has its cut at +inf (or 0)."""
    m = len(ordered_tiers)
    if m < 2:
        return []
    values, group = np.unique(np.asarray(complexity, dtype=float), return_inverse=True)
    if not len(values):
        return list(np.linspace(0.0, 1.0, m + 1)[1:-1])  # nothing to tune on: even cuts
    counts = np.zeros((len(values), m))
    index = {t: k for k, t in enumerate(ordered_tiers)}
    for g, label in zip(group, labels):
        if label in index:
            counts[g, index[label]] += 1
    best = np.zeros((len(values), m))
    came_from = np.zeros((len(values), m), dtype=int)
    for g in range(len(values)):
        previous = best[g - 1] if g else np.zeros(m)
        running_best, running_arg = -1.0, 0
        for k in range(m):
            if previous[k] > running_best:  # strict: ties keep the weaker (cheaper) tier
                running_best, running_arg = previous[k], k
            best[g, k], came_from[g, k] = counts[g, k] + running_best, running_arg
    assigned = np.zeros(len(values), dtype=int)
    assigned[-1] = int(np.argmax(best[-1]))
    for g in range(len(values) - 1, 0, -1):
        assigned[g - 1] = came_from[g, assigned[g]]
    cuts = []
    for k in range(1, m):
        at_or_above = np.flatnonzero(assigned >= k)
        if not len(at_or_above):
            cuts.append(math.inf)
        elif at_or_above[0] == 0:
            cuts.append(0.0)
        else:
            first = at_or_above[0]
            cuts.append(float((values[first - 1] + values[first]) / 2))
    return cuts


def cut_above(scores: np.ndarray, count: int) -> float:
    """The cut that sends the ``count`` highest ``scores`` to the strongest tier, or fewer where ties straddle
    it (a cut cannot split equal scores): midway between the last score sent and the first one kept back."""
    ranked = np.sort(np.asarray(scores, dtype=float))[::-1]
    if count >= len(ranked):
        return 0.0
    kept_back = ranked[count]
    sent = ranked[:count][ranked[:count] > kept_back]
    return float((sent.min() + kept_back) / 2) if len(sent) else math.inf


def pgr_curve_figure(curve: pd.DataFrame) -> Figure:
    """PGR against the share of calls to the strongest tier, with random routing's diagonal."""
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.add_subplot()
    ax.plot(curve["strong_share"], curve["pgr"], marker="o", label=f"router (APGR {apgr(curve):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random routing")
    ax.axhline(0.95, color="red", linewidth=0.8, linestyle=":", label="PGR 0.95 (CPT target)")
    ax.set_xlabel("share of calls to the strongest tier")
    ax.set_ylabel("performance gap recovered")
    ax.set_xlim(0, 1)
    ax.set_ylim(min(0.0, float(curve["pgr"].min())), 1.05)
    ax.set_title("Routing quality against strong-tier calls")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig

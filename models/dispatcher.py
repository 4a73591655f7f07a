"""The input classifier (capability ``dispatcher``): which paths a ``/predict`` request needs.

    clf = DispatchClassifier().fit(train_df)   # text, has_series, series_length, has_features, labels
    clf.predict(batch_df)    # labels (list of str), path, p_<label> for all seven labels
    clf.evaluate(test_df)    # f1_<label>, exact_match, path_accuracy, macro_f1, n_samples

Multi-label over ``answer`` (GenAI/RAG), ``intent``, ``sentiment``, ``ner``, ``anomaly``,
``forecast`` and ``tabular_anomaly``; the label semantics are in ``training/dispatch_data.py``.

Features: frozen all-MiniLM-L6-v2 sentence embeddings (``models.embeddings``, offline), the same
embedding gated by "structured data is attached" (so a phrase can mean one thing beside a series
and another without), cheap lexical cues (question marks, language verbs such as explain /
summarise / draft / translate / why / how, explicit task verbs such as classify / extract /
forecast / flag / score, emotion words, exclamation marks and capitals, capitalised names,
amounts) and the request's structure (has_series, log1p(series_length), has_features, empty text,
and the series/feature cues gated by the structure). One logistic regression per label.

Cues are read twice: over the whole text and over its *instruction* (quoted payload and whatever
follows a ``:`` removed, a trailing "... and draft a reply" kept), so the message an explicit task
runs on does not read as the request's own question. Embeddings are weighted by
``EMBEDDING_WEIGHT`` (3.0) beside the standardised cues, chosen among 0.3 / 1 / 3 / 6 on
bench/dispatcher.py's folds (so those figures are slightly optimistic).

Decision thresholds, one per label, are tuned at fit for the best F1 on validation data (``valid``;
else cross-fitted: ``round(1 / valid_size)`` folds, each holding out a ``valid_size`` share of the
families, score every row once with models that never saw its family), clipped to [0.15, 0.85], and
stored in ``thresholds_``; the final models are fitted on every row; the constructor's ``thresholds`` overrides any label at predict
(``[dispatcher] thresholds`` in hybrid.toml). Hard constraints follow: ``anomaly`` and
``forecast`` only with a series, ``tabular_anomaly`` only with features, and at least one label
(the most probable allowed one when none passes its threshold).
"""

from __future__ import annotations

import json
import math
import re
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

from models.base import InputError, require_columns
from models.embeddings import DEFAULT_MODEL, SentenceEncoder

LABELS: tuple[str, ...] = ("answer", "intent", "sentiment", "ner", "anomaly", "forecast", "tabular_anomaly")
SERIES_LABELS: frozenset[str] = frozenset({"anomaly", "forecast"})
FEATURE_LABELS: frozenset[str] = frozenset({"tabular_anomaly"})

_F = re.IGNORECASE
_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("language", re.compile(r"\b(?:explain\w*|summari[sz]\w*|sum (?:this|it) up|tl;?dr|draft\w*|write|compose|translat\w*|"
                            r"render|reply|response|answer|advise|recommend|suggest|describe|commentary|clarify|"
                            r"tell me|help me|what should|what to do|how do|how can|how long|how much|how many)\b", _F)),
    ("why_how", re.compile(r"\b(?:why|how|what|which|when|where|who|should|can you|could you)\b", _F)),
    ("task", re.compile(r"\b(?:classif\w*|extract\w*|forecast\w*|predict\w*|project|extrapolat\w*|flag\w*|detect\w*|"
                        r"score\w*|tag|label|rate|ner|only|sentiment|intent)\b", _F)),
    ("intent_task", re.compile(r"\b(?:intent\w*|classif\w*|categor\w*)\b", _F)),
    ("ner_task", re.compile(r"\b(?:entit\w*|ner|extract\w*|names|pull out)\b", _F)),
    ("sentiment_task", re.compile(r"\b(?:sentiment|feel\w*|tone|positive|negative)\b", _F)),
    ("forecast_cue", re.compile(r"\b(?:forecast\w*|predict\w*|project\w*|extrapolat\w*|next|coming|upcoming|will|expect\w*|"
                                r"plan|budget|capacity|trend|rest of the year)\b", _F)),
    ("anomaly_cue", re.compile(r"\b(?:anomal\w*|outlier\w*|spike\w*|dip\w*|drop\w*|fell|jump\w*|surge\w*|unusual|odd|weird|"
                               r"abnormal|flag\w*|detect\w*|suspicious|fraud|happened|went down|cliff)\b", _F)),
    ("row_cue", re.compile(r"\b(?:row|record|transaction|claim|booking|score)\b", _F)),
    ("emotion", re.compile(r"\b(?:furious|angry|livid|unacceptable|disgust\w*|worst|ridiculous|pathetic|joke|disgrace|"
                           r"fed up|sick and tired|nightmare|tears|kidding|frustrated|ruined|nobody|love|amazing|"
                           r"brilliant|thrilled|best|seriously|done with|so much|thank you so)\b", _F)),
)
_EXCLAIM = re.compile(r"!")
_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b[A-Z][a-z]+(?:\s[A-Z][a-z']+)+\b")
_MONEY = re.compile(r"[$€£]\s?\d|\b(?:USD|EUR|GBP)\s?\d|\d[\d,.]*\s?(?:dollars|euros|pounds)\b", _F)
_QUOTE = re.compile(r"[\"']")
_QUOTED = re.compile(r"\"[^\"]*\"?|(?<!\w)'[^']*'?")
_PAYLOAD = re.compile(r":\s|->|\n")
_TRAILING_TASK = re.compile(r"(?:[,;.]|\band\b|\bthen\b|\balso\b)\s+(?:please\s+|also\s+|then\s+)*(?:draft|write|reply|summari[sz]e|"
                            r"explain|translate|suggest|answer|respond)\b.*$", _F)
N_LEXICAL = len(_CUES) + 7
#: lexical columns after the embeddings: cues over the whole text and over the instruction, then structure
N_FEATURES = 2 * N_LEXICAL + 10
#: scale of the (unit-length) embeddings beside the standardised cues, under the same L2 penalty
EMBEDDING_WEIGHT = 3.0


def instruction(text: str) -> str:
    """The request's own words: quoted payload removed, and what follows a ``:`` or ``->`` dropped, so the
    message an explicit task is run on does not read as the request's question."""
    unquoted = _QUOTED.sub(" ", text)
    head = _PAYLOAD.split(unquoted, maxsplit=1)[0]
    tail = _TRAILING_TASK.search(unquoted[len(head):])  # "... and draft a reply" after the payload
    return head + (" " + tail.group(0) if tail else "")


#: "no commentary", "without an explanation", "don't explain": a language word that asks for no language
_NEGATED_LANGUAGE = re.compile(r"\b(?:no|not|without|don'?t|do not|never|skip(?: the)?)\s+(?:any\s+|an?\s+|the\s+)?"
                               + _CUES[0][1].pattern.removeprefix(r"\b"), _F)


def _cue_row(t: str) -> list[float]:
    cues = [math.log1p(len(p.findall(_NEGATED_LANGUAGE.sub(" ", t) if name == "language" else t)))
            for name, p in _CUES]
    return [*cues, math.log1p(t.count("?")), math.log1p(len(_EXCLAIM.findall(t))),
            math.log1p(len(_CAPS_WORD.findall(t))), math.log1p(len(_NAME.findall(t))),
            math.log1p(len(_MONEY.findall(t))), float(bool(_QUOTE.search(t))), math.log1p(len(t.split()))]


def lexical_features(texts: list[str], has_series: np.ndarray, series_length: np.ndarray,
                     has_features: np.ndarray) -> np.ndarray:
    """(n, N_FEATURES): cue counts (log1p), punctuation, names, amounts over the whole text and over its
    instruction (see ``instruction``), then structure and cues gated by the structure."""
    whole = np.array([_cue_row(t) for t in texts], dtype=float).reshape(len(texts), N_LEXICAL)
    head = np.array([_cue_row(instruction(t)) for t in texts], dtype=float).reshape(len(texts), N_LEXICAL)
    empty = np.array([0.0 if t.strip() else 1.0 for t in texts])
    series, features = has_series.astype(float), has_features.astype(float)
    names = [n for n, _ in _CUES]
    forecast, anomaly, row = (whole[:, names.index(k)] for k in ("forecast_cue", "anomaly_cue", "row_cue"))
    language = head[:, names.index("language")]
    # a series with no word of what to do with it gets both series models; a task word or a question narrows it
    unasked = series * (forecast == 0) * (anomaly == 0)
    structure = np.column_stack([series, np.log1p(series_length.astype(float)), features, empty,
                                 forecast * series, anomaly * series, row * features, language * (series + features),
                                 unasked, unasked * (language == 0)])
    return np.hstack([whole, head, structure])


def normalise_labels(values: pd.Series, where: str) -> list[list[str]]:
    """Each cell as a list of known labels: a list, a JSON list string, or a comma-separated string."""
    out = []
    for value in values:
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as error:
                    raise InputError(f"{where}: column 'labels' has {value!r}, not a JSON list ({error})") from error
            else:
                value = [part for part in re.split(r"[,;|]", text) if part.strip()]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise InputError(f"{where}: column 'labels' has an empty cell; give at least one of {list(LABELS)}")
        if not isinstance(value, list | tuple):
            raise InputError(f"{where}: column 'labels' has {value!r}; give a list such as [\"answer\", \"ner\"]")
        labels = [str(v).strip() for v in value]
        unknown = [v for v in labels if v not in LABELS]
        if unknown:
            raise InputError(f"{where}: column 'labels' has unknown label(s) {unknown}; use only {list(LABELS)}")
        out.append(list(dict.fromkeys(labels)))
    return out


def _flags(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    if column not in frame.columns:
        raise InputError(f"{where}: missing column {column!r} (true when the request carries "
                         f"{'a series' if column == 'has_series' else 'a feature row'}); the frame has {list(frame.columns)}")

    def one(v: Any) -> bool:
        if isinstance(v, str):
            lowered = v.strip().lower()
            if lowered in ("true", "1", "yes", "y", "t"):
                return True
            if lowered in ("false", "0", "no", "n", "f", ""):
                return False
            raise InputError(f"{where}: column {column!r} has {v!r}; use true or false")
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return False
        return bool(v)

    return np.array([one(v) for v in frame[column]], dtype=bool)


def _structure(frame: pd.DataFrame, where: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    require_columns(frame, ["text"], where)
    has_series, has_features = _flags(frame, "has_series", where), _flags(frame, "has_features", where)
    if "series_length" in frame.columns:
        length = pd.to_numeric(frame["series_length"], errors="coerce").fillna(0).clip(lower=0).to_numpy(dtype=float)
    else:
        length = np.zeros(len(frame))
    length = np.where(has_series, length, 0.0)
    texts = frame["text"].fillna("").astype(str).tolist()
    return texts, has_series, length, has_features


def _allowed(has_series: np.ndarray, has_features: np.ndarray) -> np.ndarray:
    """(n, 7) which labels a request's structure allows: series labels need a series, feature labels features."""
    allowed = np.ones((len(has_series), len(LABELS)), dtype=bool)
    for k, label in enumerate(LABELS):
        if label in SERIES_LABELS:
            allowed[:, k] = has_series
        elif label in FEATURE_LABELS:
            allowed[:, k] = has_features
    return allowed


def path_of(labels: list[str]) -> str:
    if "answer" in labels:
        return "genai" if len(labels) == 1 else "both"
    return "ml"


class DispatchClassifier:
    name: ClassVar[str] = "dispatcher"
    primary_metric: ClassVar[str] = "exact_match"
    input_columns: ClassVar[tuple[str, ...]] = ("text", "has_series", "series_length", "has_features")
    target_column: ClassVar[str] = "labels"

    def __init__(self, C: float = 4.0, valid_size: float = 0.2, thresholds: dict[str, float] | None = None,
                 seed: int = 42) -> None:
        self.C = C
        self.valid_size = valid_size
        self.thresholds = thresholds
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {"C": self.C, "valid_size": self.valid_size, "thresholds": self.thresholds, "seed": self.seed}

    # ---- splitting -----------------------------------------------------------------------------
    def holdout(self, frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Whole template families held out when a ``family`` column exists, so the test measures unseen
        phrasings; otherwise a random split. Every label keeps a training family *on the same path*
        (``sentiment`` asked for alone, ``sentiment`` beside an answer): the test asks for known kinds
        of request in unseen wording, not for a kind of request the classifier never saw."""
        if "family" not in frame.columns or frame["family"].nunique() < 2:
            train, test = train_test_split(frame, test_size=test_size, random_state=seed)
            return train.reset_index(drop=True), test.reset_index(drop=True)
        labels = normalise_labels(frame[self.target_column], f"{self.name}.holdout")
        family = frame["family"].astype(str).to_numpy()
        per_family: dict[str, set[tuple[str, bool]]] = {}
        for f, ls in zip(family, labels):
            per_family.setdefault(f, set()).update((label, "answer" in ls) for label in ls)
        families = sorted(per_family)
        target = max(1, round(test_size * len(families)))
        rng = np.random.default_rng(seed)
        held: list[str] = []
        for f in rng.permutation(families):
            if len(held) == target:
                break
            kept = [g for g in families if g not in held and g != f]
            if set().union(*(per_family[g] for g in kept)) >= per_family[f]:
                held.append(str(f))
        is_test = np.isin(family, held)
        return frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True)

    # ---- training ------------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> Self:
        where = f"{self.name}.fit"
        require_columns(train, ["text", self.target_column], where)
        normalise_labels(train[self.target_column], where)  # fail early, naming the bad label
        _structure(train, where)
        if len(train) < 4:
            raise InputError(f"{where}: {len(train)} rows; a dispatcher needs a few labelled requests per label")
        x_all, y_all = self._features(train, where), self._targets(train, where)
        if valid is None:
            # Cross-fitted: every row is scored once by models that did not see its family, so the
            # thresholds rest on all families, not on the few one split would hold out.
            proba, y_tune = self._out_of_fold(train, x_all, y_all), y_all
        else:
            require_columns(valid, ["text", self.target_column], f"{where} (valid)")
            self._fit_members(x_all, y_all)
            proba = self._raw_proba(self._features(valid, f"{where} (valid)"))
            y_tune = self._targets(valid, f"{where} (valid)")
        tuned_on = train if valid is None else valid
        _, has_series, _, has_features = _structure(tuned_on, where)
        proba = np.where(_allowed(has_series, has_features), proba, 0.0)  # as predict will see them
        self.thresholds_ = {label: _best_threshold(proba[:, k], y_tune[:, k]) for k, label in enumerate(LABELS)}
        self._fit_members(x_all, y_all)
        return self

    def _out_of_fold(self, train: pd.DataFrame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Probabilities for every row from models fitted without it: ``round(1 / valid_size)`` folds, each
        holding out a ``valid_size`` share of the families (rows, without a ``family`` column)."""
        n_folds = max(2, round(1 / self.valid_size))
        if "family" in train.columns and train["family"].nunique() >= n_folds:
            groups = train["family"].astype(str).to_numpy()
        else:
            groups = np.arange(len(train))
        distinct = np.array(sorted(set(groups)), dtype=object)
        order = np.random.default_rng(self.seed).permutation(len(distinct))
        fold_of = {g: i % n_folds for i, g in zip(range(len(distinct)), distinct[order])}
        fold = np.array([fold_of[g] for g in groups])
        proba = np.zeros(y.shape, dtype=float)
        for k in range(n_folds):
            held = fold == k
            if not held.any() or held.all():
                continue
            self._fit_members(x[~held], y[~held])
            proba[held] = self._raw_proba(x[held])
        return proba

    def _targets(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        labels = normalise_labels(frame[self.target_column], where)
        return np.array([[label in ls for label in LABELS] for ls in labels], dtype=int).reshape(len(frame), len(LABELS))

    def _features(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        texts, has_series, length, has_features = _structure(frame, where)
        embeddings = self._encoder().encode(texts, progress=len(texts) > 2000)
        lexical = lexical_features(texts, has_series, length, has_features)
        gate = (has_series | has_features).astype(float)[:, None]
        return np.hstack([embeddings, embeddings * gate, lexical])  # raw cues; _scaled standardises them

    def _fit_members(self, x: np.ndarray, y: np.ndarray) -> None:
        n_embed = x.shape[1] - N_FEATURES
        self.scaler_ = StandardScaler().fit(x[:, n_embed:])
        features = self._scaled(x)
        self.members_: dict[str, LogisticRegression | float] = {}
        for k, label in enumerate(LABELS):
            column = y[:, k]
            if column.min() == column.max():  # a label always or never present: a constant
                self.members_[label] = float(column[0]) if len(column) else 0.0
            else:
                self.members_[label] = LogisticRegression(C=self.C, max_iter=3000, random_state=self.seed).fit(features, column)

    def _scaled(self, x: np.ndarray) -> np.ndarray:
        n_embed = x.shape[1] - N_FEATURES
        return np.hstack([EMBEDDING_WEIGHT * x[:, :n_embed], self.scaler_.transform(x[:, n_embed:])])

    def _raw_proba(self, x: np.ndarray) -> np.ndarray:
        features = self._scaled(x)
        columns = []
        for label in LABELS:
            member = self.members_[label]
            columns.append(np.full(len(x), member) if isinstance(member, float) else member.predict_proba(features)[:, 1])
        return np.column_stack(columns) if columns else np.zeros((len(x), 0))

    # ---- inference -----------------------------------------------------------------------------
    def share_encoder(self, encoder: Any) -> None:
        """Embed with ``encoder`` (all-MiniLM-L6-v2 with its own length limit, e.g. serving's ONNX one)."""
        self._shared_encoder = encoder

    def _encoder(self) -> SentenceEncoder:
        if getattr(self, "_shared_encoder", None) is None:
            self._shared_encoder = SentenceEncoder()
        return self._shared_encoder

    def decision_thresholds(self) -> dict[str, float]:
        """The tuned thresholds, with the constructor's ``thresholds`` overriding any label they name."""
        self._check_fitted()
        overrides = dict(self.thresholds or {})
        unknown = sorted(set(overrides) - set(LABELS))
        if unknown:
            raise InputError(f"[dispatcher] thresholds: unknown label(s) {unknown}; use only {list(LABELS)}")
        return {label: float(overrides.get(label, self.thresholds_[label])) for label in LABELS}

    def predict(self, batch: pd.DataFrame) -> pd.DataFrame:
        """``labels`` (list of str), ``path`` and ``p_<label>`` for every label, same index as ``batch``."""
        self._check_fitted()
        where = f"{self.name}.predict"
        columns = ["labels", "path", *(f"p_{label}" for label in LABELS)]
        require_columns(batch, ["text", "has_series", "has_features"], where)
        if batch.empty:
            return pd.DataFrame({c: pd.Series(dtype=object if c in ("labels", "path") else float) for c in columns},
                                index=batch.index)
        _, has_series, _, has_features = _structure(batch, where)
        proba = self._raw_proba(self._features(batch, where))
        allowed = _allowed(has_series, has_features)
        proba = np.where(allowed, proba, 0.0)
        cut = np.array([self.decision_thresholds()[label] for label in LABELS])
        chosen = (proba >= cut) & allowed
        labels = []
        for i in range(len(batch)):
            picked = [LABELS[k] for k in np.flatnonzero(chosen[i])]
            if not picked:
                picked = [LABELS[int(np.argmax(np.where(allowed[i], proba[i], -1.0)))]]
            labels.append(picked)
        frame = pd.DataFrame(proba, columns=[f"p_{label}" for label in LABELS], index=batch.index)
        frame.insert(0, "path", [path_of(ls) for ls in labels])
        frame.insert(0, "labels", pd.Series(labels, index=batch.index, dtype=object))
        return frame

    def evaluate(self, test: pd.DataFrame) -> dict[str, float]:
        self._check_fitted()
        where = f"{self.name}.evaluate"
        require_columns(test, ["text", self.target_column], where)
        truth = self._targets(test, where)
        predicted = self.predict(test)
        guess = np.array([[label in ls for label in LABELS] for ls in predicted["labels"]], dtype=int).reshape(truth.shape)
        return multilabel_scores(truth, guess)

    def figures(self, test: pd.DataFrame) -> dict[str, Figure]:
        scores = self.evaluate(test)
        return {"per_label_f1.png": per_label_f1_figure(scores)}

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        joblib.dump({"scaler": self.scaler_, "members": self.members_}, path / "members.joblib")
        fitted = {"labels": list(LABELS), "thresholds": self.thresholds_, "encoder": DEFAULT_MODEL}
        (path / "params.json").write_text(json.dumps({"params": self.get_params(), "fitted": fitted}, indent=2))

    @classmethod
    def load(cls, path: Path) -> Self:
        path = Path(path)
        saved = json.loads((path / "params.json").read_text())
        clf = cls(**saved["params"])
        members = joblib.load(path / "members.joblib")
        clf.scaler_, clf.members_ = members["scaler"], members["members"]
        clf.thresholds_ = {k: float(v) for k, v in saved["fitted"]["thresholds"].items()}
        return clf

    def _check_fitted(self) -> None:
        if not hasattr(self, "members_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() or load() first")


def _best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """The cut with the best F1 on validation; 0.5 when validation has no positive for the label."""
    if truth.sum() == 0:
        return 0.5
    candidates = np.unique(np.concatenate([np.linspace(0.05, 0.95, 19), scores]))
    best, best_cut = -1.0, 0.5
    for cut in candidates:
        guess = scores >= cut
        tp = float((guess & (truth == 1)).sum())
        f1 = 2 * tp / (guess.sum() + truth.sum()) if guess.sum() + truth.sum() else 0.0
        # ties prefer the cut closest to 0.5, so a threshold is not pushed to an edge by a few rows
        if f1 > best + 1e-12 or (abs(f1 - best) <= 1e-12 and abs(cut - 0.5) < abs(best_cut - 0.5)):
            best, best_cut = f1, float(cut)
    if best_cut not in (0.05, 0.95):  # between two validation scores rather than on one
        above = scores[scores >= best_cut]
        below = scores[scores < best_cut]
        if len(above) and len(below):
            best_cut = float((above.min() + below.max()) / 2)
    return float(min(max(best_cut, 0.15), 0.85))


def multilabel_scores(truth: np.ndarray, guess: np.ndarray) -> dict[str, float]:
    """Per-label F1, exact match (every label right), path accuracy, macro F1 over labels, rows."""
    scores: dict[str, float] = {}
    f1s = []
    for k, label in enumerate(LABELS):
        f1 = float(f1_score(truth[:, k], guess[:, k], zero_division=0)) if truth[:, k].any() or guess[:, k].any() else 1.0
        scores[f"f1_{label}"] = f1
        if truth[:, k].any():
            f1s.append(f1)
    paths_true = [path_of([LABELS[k] for k in np.flatnonzero(row)]) for row in truth]
    paths_guess = [path_of([LABELS[k] for k in np.flatnonzero(row)]) for row in guess]
    scores["exact_match"] = float((truth == guess).all(axis=1).mean()) if len(truth) else float("nan")
    scores["path_accuracy"] = float(np.mean([a == b for a, b in zip(paths_true, paths_guess)])) if len(truth) else float("nan")
    scores["macro_f1"] = float(np.mean(f1s)) if f1s else float("nan")
    scores["n_samples"] = float(len(truth))
    return scores


def per_label_f1_figure(scores: dict[str, float]) -> Figure:
    fig = Figure(figsize=(6.5, 4))
    ax = fig.add_subplot()
    values = [scores.get(f"f1_{label}", float("nan")) for label in LABELS]
    bars = ax.bar(LABELS, values, color="#4c72b0")
    for bar, value in zip(bars, values):
        ax.annotate(f"{value:.2f}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("F1 on held-out requests")
    ax.set_title(f"Input classifier: exact match {scores.get('exact_match', float('nan')):.3f}, "
                 f"path accuracy {scores.get('path_accuracy', float('nan')):.3f}", fontsize=9)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    return fig

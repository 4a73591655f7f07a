"""The prompt-injection detector (the ``injection`` capability): a trained classifier plus rules.

    detector = InjectionDetector().fit(train)          # columns: text, label (1 injection, 0 benign)
    detector.predict(pd.DataFrame({"text": ["Ignore all previous instructions and ..."]}))
    #    label  score  rule
    # 0      1    1.0  override
    detector.evaluate(test)   # precision, recall, f1, average_precision, false_positive_rate, ...

Two kinds of evidence, combined as ``score = max(classifier probability, 1.0 if a rule matched)``:

- a logistic regression over TF-IDF word 1-2-grams and char 2-5-grams, which generalises from
  examples to paraphrases;
- regular expressions for well-known phrasings (``RULES``), which are precise and need no data.

Both read the text after ``normalise``, which undoes common obfuscation (spaced letters, leetspeak,
hyphen-split words, base64 payloads) so neither has to learn it from examples.

The decision threshold is tuned on validation data (best F1 within a false-positive budget,
``max_false_positive_rate``): ``valid`` when given, otherwise a ``valid_size`` share of ``train``
held out by attack family (see ``holdout``), so the threshold is set on attack styles the
classifier did not train on; the classifier is then refitted on all rows.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Any, ClassVar, Self

import joblib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, precision_recall_curve
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline

from models.base import InputError, require_columns, text_values

_FLAGS = re.IGNORECASE | re.DOTALL
_SCOPE = r"(?:all|any|every|the|your|my|these|those|previous|prior|above|earlier|preceding|original|initial|system)"
_RULE_OBJECTS = r"(?:instructions?|rules|guidelines|directions|prompts?|constraints|policies|programming|system messages?)"
#: (name, pattern) for phrasings that are injections wherever they appear; first match wins
RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("override", re.compile(
        rf"\b(?:ignore|disregard|forget|override|bypass|set aside|stop following|throw away)\b\s+(?:{_SCOPE}\s+){{1,3}}"
        rf"(?:\w+\s+)?{_RULE_OBJECTS}", _FLAGS)),
    ("override", re.compile(rf"\b(?:new|real|updated) (?:instructions|rules)\s*(?::|are)|\bthe {_RULE_OBJECTS} above no longer apply", _FLAGS)),
    ("override", re.compile(r"\b(?:ignore|disregard|forget|override|skip)\b (?:what|everything) you were (?:told|given)", _FLAGS)),
    ("exfiltration", re.compile(
        r"\b(?:reveal|show|print|repeat|output|display|paste|dump|leak|quote|spell out|tell me|what (?:is|are|were))\b"
        r".{0,40}\b(?:system prompt|initial prompt|pre-?prompt|hidden instructions|developer message|"
        r"confidential rules|api key|secret key)", _FLAGS)),
    ("exfiltration", re.compile(
        r"\b(?:reveal|print|repeat|output|paste|dump|leak|quote|spell out)\b.{0,20}\byour (?:instructions|configuration|rules)",
        _FLAGS)),
    ("jailbreak", re.compile(
        r"\b(?:do anything now|(?:enable|enter|activate|in) developer mode(?! on)|jailbr(?:eak|oken)|you are now (?:dan|an? (?:ai|assistant) (?:with|without))|"
        r"(?:no|without any) (?:rules|restrictions|filters|content policy|limitations))\b", _FLAGS)),
    ("fake_system_message", re.compile(
        r"(?:^|\n|\s)(?:#{2,}\s*system\b|\[system\]\s*:|system\s*message\s*:|<\|im_start\|>\s*system|<<sys>>|"
        r"</?system>|admin (?:override|instruction))|(?:^|\n)\s*system\s*:|\"role\"\s*:\s*\"system\"", _FLAGS)),
    ("hidden_instruction", re.compile(
        r"\b(?:if you are an ai|ai (?:assistants?|models?) reading this|to any (?:automated|ai) assistant|"
        r"note to the (?:language model|ai|assistant)|instructions? for (?:the )?(?:chatbot|ai|assistant|ai models))\b", _FLAGS)),
    ("multilingual_override", re.compile(
        r"\b(?:ignorez|ignora|ignoriere|negeer|zignoruj|oubliez|olvida|vergiss|dimentica|esqueça)\b.{0,30}"
        r"\b(?:instructions|instrucciones|anweisungen|istruzioni|instruções|instructies|instrukcje|règles|reglas|regeln|regole|regras|consignes)\b",
        _FLAGS)),
)

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_SPACED = re.compile(r"\b(?:\w ){3,}\w\b")
_LEET_WORD = re.compile(r"\b(?=\w*[a-z])(?=\w*[0134579])[a-z0134579]+\b", re.IGNORECASE)
_LEET = str.maketrans({"4": "a", "3": "e", "1": "i", "0": "o", "5": "s", "7": "t", "9": "g"})
_SPLIT_WORD = re.compile(r"\b([a-z]{1,3})-([a-z]{3,})\b", re.IGNORECASE)
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{16,}={0,2}")


def normalise(text: str) -> str:
    """Lowercased text with obfuscation undone; decoded base64 payloads are appended."""
    text = _ZERO_WIDTH.sub("", text)
    decoded = [_decode_base64(token) for token in _BASE64.findall(text)]
    text = _SPACED.sub(lambda m: m.group(0).replace(" ", ""), text)
    text = _SPLIT_WORD.sub(r"\1\2", text)
    text = _LEET_WORD.sub(lambda m: m.group(0).translate(_LEET), text)
    return " ".join([text.lower(), *(d.lower() for d in decoded if d)])


def _decode_base64(token: str) -> str:
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    # Random identifiers can decode by chance; a payload decodes to mostly printable words.
    return text if sum(c.isalpha() or c == " " for c in text) >= 0.8 * len(text) else ""


def rule_match(text: str) -> str:
    """The name of the first rule that matches the normalised ``text``, or ``""``."""
    normalised = normalise(text)
    return next((name for name, pattern in RULES if pattern.search(normalised)), "")


class InjectionDetector:
    name: ClassVar[str] = "injection"
    primary_metric: ClassVar[str] = "average_precision"
    input_columns: ClassVar[tuple[str, ...]] = ("text",)
    target_column: ClassVar[str] = "label"

    def __init__(self, C: float = 8.0, valid_size: float = 0.15, max_false_positive_rate: float = 0.01,
                 threshold: float | None = None, seed: int = 42) -> None:
        """``threshold``: overrides the one tuned at fit (None keeps the tuned one)."""
        self.C = C
        self.valid_size = valid_size
        self.max_false_positive_rate = max_false_positive_rate
        self.threshold = threshold
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {"C": self.C, "valid_size": self.valid_size, "max_false_positive_rate": self.max_false_positive_rate,
                "threshold": self.threshold, "seed": self.seed}

    @property
    def operating_threshold(self) -> float:
        """The score at or above which a text is an injection: the override, else the one tuned at fit."""
        return self.threshold if self.threshold is not None else self.threshold_

    # ---- splitting --------------------------------------------------------------------------
    def holdout(self, frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Whole attack families held out (plus a ``test_size`` share of each benign source), so the test
        measures attack styles the model never saw. Without a ``family`` column: a stratified split."""
        labels = _labels(frame, f"{self.name}.holdout")
        if "family" not in frame.columns or frame.loc[labels == 1, "family"].nunique() < 2:
            train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=labels)
            return train.reset_index(drop=True), test.reset_index(drop=True)
        rng = np.random.default_rng(seed)
        attacks = np.array(sorted(frame.loc[labels == 1, "family"].astype(str).unique()))
        held_families = rng.choice(attacks, size=max(1, round(test_size * len(attacks))), replace=False)
        is_test = (labels == 1).to_numpy() & frame["family"].astype(str).isin(held_families).to_numpy()
        for _, rows in frame[labels == 0].groupby(frame["family"].astype(str), sort=True):
            is_test[frame.index.get_indexer(rows.sample(frac=test_size, random_state=seed).index)] = True
        return frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True)

    # ---- training ---------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> Self:
        y = _labels(train, f"{self.name}.fit")
        if y.nunique() < 2:
            raise InputError(f"{self.name}.fit: column 'label' needs both injections (1) and benign texts (0)")
        refit = valid is None
        fit_part, tune_part = self.holdout(train, self.valid_size, self.seed) if refit else (train, valid)
        tune_y = _labels(tune_part, f"{self.name}.fit (valid)")
        self.pipeline_ = self._pipeline().fit(_normalised(fit_part), _labels(fit_part, self.name))
        self.threshold_ = _tuned_threshold(tune_y.to_numpy(), self.component_scores(tune_part)[0], self.max_false_positive_rate)
        if refit:
            self.pipeline_ = self._pipeline().fit(_normalised(train), y)
        return self

    def _pipeline(self) -> Pipeline:
        features = FeatureUnion([
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        ])
        classifier = LogisticRegression(C=self.C, max_iter=3000, class_weight="balanced", random_state=self.seed)
        return Pipeline([("features", features), ("classifier", classifier)])

    # ---- inference --------------------------------------------------------------------------
    def component_scores(self, batch: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Combined score, classifier probability and matched rule name per row."""
        texts = text_values(batch)
        proba = self.pipeline_.predict_proba([normalise(t) for t in texts])[:, 1] if texts else np.zeros(0)
        rules = [rule_match(t) for t in texts]
        combined = np.maximum(proba, np.array([1.0 if r else 0.0 for r in rules]))
        return combined, proba, rules

    def predict(self, batch: pd.DataFrame) -> pd.DataFrame:
        """``label`` (1 when ``score >= operating_threshold``), ``score`` in [0, 1] and the matched ``rule`` (or "")."""
        self._check_fitted()
        require_columns(batch, self.input_columns, f"{self.name}.predict")
        score, _, rules = self.component_scores(batch)
        return pd.DataFrame(
            {"label": (score >= self.operating_threshold).astype(int), "score": score, "rule": rules}, index=batch.index
        )

    def evaluate(self, test: pd.DataFrame) -> dict[str, float]:
        """Combined detector metrics, the same for the classifier and the rules alone, and recall per attack family."""
        self._check_fitted()
        y = _labels(test, f"{self.name}.evaluate").to_numpy()
        combined, proba, rules = self.component_scores(test)
        fired = np.array([bool(r) for r in rules])
        metrics = {**binary_metrics(y, combined, self.operating_threshold), "n_samples": float(len(test)), "threshold": self.operating_threshold}
        metrics |= {f"classifier_{k}": v for k, v in binary_metrics(y, proba, self.operating_threshold).items()}
        metrics |= {f"rules_{k}": v for k, v in binary_metrics(y, fired.astype(float), 0.5).items() if k != "average_precision"}
        if "family" in test.columns:
            predicted = combined >= self.operating_threshold
            for family in sorted(test.loc[y == 1, "family"].astype(str).unique()):
                rows = (y == 1) & (test["family"].astype(str) == family).to_numpy()
                metrics[f"recall_{family}"] = float(predicted[rows].mean())
        return metrics

    def figures(self, test: pd.DataFrame) -> dict[str, Figure]:
        """Precision-recall curves of the classifier and the combined detector, with the threshold marked."""
        self._check_fitted()
        y = _labels(test, f"{self.name}.figures").to_numpy()
        combined, proba, _ = self.component_scores(test)
        fig = Figure(figsize=(6, 5))
        ax = fig.add_subplot()
        for label, scores in (("classifier", proba), ("classifier + rules", combined)):
            precision, recall, _ = precision_recall_curve(y, scores)
            ax.plot(recall, precision, label=f"{label} (AP {average_precision_score(y, scores):.3f})")
        at = binary_metrics(y, combined, self.operating_threshold)
        ax.plot([at["recall"]], [at["precision"]], "o", color="black", label=f"threshold {self.operating_threshold:.2f}")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title(f"Prompt-injection detection ({len(y)} texts, {int(y.sum())} injections)")
        ax.legend(loc="lower left")
        fig.tight_layout()
        return {"precision_recall.png": fig}

    # ---- persistence ------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.pipeline_, path / "pipeline.joblib")
        (path / "params.json").write_text(json.dumps({"params": self.get_params(), "threshold": self.threshold_}, indent=2))

    @classmethod
    def load(cls, path: Path) -> Self:
        path = Path(path)
        saved = json.loads((path / "params.json").read_text())
        detector = cls(**saved["params"])
        detector.pipeline_ = joblib.load(path / "pipeline.joblib")
        detector.threshold_ = float(saved["threshold"])
        return detector

    def _check_fitted(self) -> None:
        if not hasattr(self, "pipeline_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() or load() first")


def _normalised(frame: pd.DataFrame) -> list[str]:
    return [normalise(text) for text in text_values(frame)]


def _labels(frame: pd.DataFrame, where: str) -> pd.Series:
    """The label column as 0/1 integers; anything else is a clear error."""
    require_columns(frame, ["text", "label"], where)
    labels = pd.to_numeric(frame["label"].map(lambda v: int(v) if isinstance(v, bool) else v), errors="coerce")
    if labels.isna().any() or not labels.isin([0, 1]).all():
        bad = frame.loc[labels.isna() | ~labels.isin([0, 1]), "label"].head(3).tolist()
        raise InputError(f"{where}: column 'label' must be 1 (injection) or 0 (benign); found {bad}")
    return labels.astype(int)


def _tuned_threshold(y: np.ndarray, scores: np.ndarray, max_false_positive_rate: float) -> float:
    """The threshold with the best validation F1 among those that flag at most ``max_false_positive_rate``
    of the benign validation texts (0.5 when validation has one class).

    The budget matters because validation attacks are an unseen family: F1 alone drags the threshold
    down to catch them and the false positives that costs then carry over to every benign text."""
    if len(np.unique(y)) < 2:
        return 0.5
    benign = np.sort(scores[y == 0])[::-1]
    allowed = int(np.floor(max_false_positive_rate * len(benign)))
    floor = float(np.nextafter(benign[allowed], np.inf)) if allowed < len(benign) else 0.0
    candidates = np.unique(np.append(scores[scores >= floor], floor))
    f1 = [binary_metrics(y, scores, t)["f1"] for t in candidates]
    return float(candidates[int(np.argmax(f1))])


def binary_metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = scores >= threshold
    tp, fp = int((predicted & (y == 1)).sum()), int((predicted & (y == 0)).sum())
    positives, negatives = int((y == 1).sum()), int((y == 0).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / positives if positives else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "average_precision": float(average_precision_score(y, scores)) if positives and negatives else float("nan"),
        "false_positive_rate": fp / negatives if negatives else float("nan"),
    }

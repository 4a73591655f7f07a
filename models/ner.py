"""Named-entity recognition: a spaCy pipeline trained from a config file kept in the repo.

The model (models/configs/ner.cfg) is spaCy's transition-based NER over a CNN encoder fed with
hash embeddings and word features from MiniLM, which is fine-tuned along (models/ner_layers.py).
Training is spaCy's own loop (progress table and bar on stderr, best model by dev F1, early
stopping); a few knobs come from the settings. Entity scores come from beam search over the
trained model: an entity's raw score is the probability mass of the beam's parses that contain it,
mapped by isotonic regression (fitted on the validation split) to the observed chance that such an
entity is right.

    ner = EntityRecognizer().fit(train_df, valid_df)  # columns: text, entities (, tokens)
    ner.predict(batch_df)   # entities: [{"label", "start", "end", "text", "score"}, ...] per row

``entities`` holds character spans ``{"start", "end", "label"}`` into ``text`` (a JSON string is
accepted too, as CSV files carry it). An optional ``tokens`` column (from CoNLL files) fixes the
tokenisation, so gold spans always line up with tokens.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import joblib
import numpy as np
import pandas as pd
import spacy
from matplotlib.figure import Figure
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.util import filter_spans
from sklearn.isotonic import IsotonicRegression

from models.base import InputError, require_columns
from models.metrics import Span, entity_scores, expected_calibration_error
from models.ner_layers import cached_features  # also registers the architectures the config names
from models.plots import per_type_scores_figure, reliability_figure

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "ner.cfg"
# spaCy's batcher grows to ~1000 words a step: used to keep at least one dev evaluation per epoch.
WORDS_PER_STEP = 1000
PIPE_BATCH = 256


class EntityRecognizer:
    name: ClassVar[str] = "ner"
    primary_metric: ClassVar[str] = "f1"
    input_columns: ClassVar[tuple[str, ...]] = ("text",)
    target_column: ClassVar[str] = "entities"

    def __init__(
        self,
        config: str | None = None,
        max_epochs: int = 5,
        patience: int = 1600,
        eval_frequency: int = 400,
        beam_width: int = 8,
        decode: Literal["greedy", "beam"] = "greedy",
        valid_size: float = 0.1,
        seed: int = 42,
    ) -> None:
        self.config = config
        self.max_epochs = max_epochs
        self.patience = patience
        self.eval_frequency = eval_frequency
        self.beam_width = beam_width
        self.decode = decode
        self.valid_size = valid_size
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in
                ("config", "max_epochs", "patience", "eval_frequency", "beam_width", "decode", "valid_size", "seed")}

    # -- training -----------------------------------------------------------------------------

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> Self:
        from spacy.training.initialize import init_nlp
        from spacy.training.loop import train as spacy_train

        train = _checked(train, "train")
        if valid is None:
            shuffled = train.sample(frac=1.0, random_state=self.seed)
            n_valid = max(1, int(round(self.valid_size * len(train))))
            valid, train = shuffled.iloc[:n_valid], shuffled.iloc[n_valid:]
        else:
            valid = _checked(valid, "valid")
        if train.empty:
            raise InputError("train: no rows left to train on after holding out validation rows")

        blank = spacy.blank("en")
        with tempfile.TemporaryDirectory(prefix="hybrid-ner-") as tmp:
            paths, n_words = {}, 0
            for split, frame in (("train", train), ("dev", valid)):
                docs = _gold_docs(frame, blank)
                paths[split] = Path(tmp) / f"{split}.spacy"
                DocBin(docs=docs).to_disk(paths[split])
                if split == "train":
                    n_words = sum(len(doc) for doc in docs)
            overrides = {
                "paths.train": str(paths["train"]),
                "paths.dev": str(paths["dev"]),
                "system.seed": self.seed,
                "training.max_epochs": self.max_epochs,
                "training.patience": self.patience,
                # at least one dev evaluation per epoch, or a tiny run would keep the untrained model
                "training.eval_frequency": max(1, min(self.eval_frequency, n_words // WORDS_PER_STEP)),
            }
            config = spacy.util.load_config(self._config_path(), overrides=overrides, interpolate=False)
            # the console table as before, and the same rows as JSON lines for the learning curve
            log_file = Path(tmp) / "train_log.jsonl"
            config["training"]["logger"] = {"@loggers": "spacy.ConsoleLogger.v3", "progress_bar": "eval",
                                            "output_file": str(log_file)}
            (Path(tmp) / "output").mkdir()
            with cached_features():
                nlp = init_nlp(config)
                spacy_train(nlp, Path(tmp) / "output", stdout=sys.stderr, stderr=sys.stderr)
            self.nlp_ = spacy.load(Path(tmp) / "output" / "model-best")
            self.learning_curve_ = _learning_curve(log_file)
        self.labels_ = list(self.nlp_.get_pipe("ner").labels)
        self.calibrator_ = None  # raw beam scores while the calibrator is fitted on them
        self.calibrator_ = self._fit_calibrator(valid)
        return self

    def _fit_calibrator(self, valid: pd.DataFrame) -> IsotonicRegression | None:
        """Raw beam scores are overconfident; learn what they mean on validation entities."""
        raw, correct = self._score(valid)[1:]
        if len(raw) < 20 or correct.all() or not correct.any():
            return None  # too little evidence either way: keep the raw scores
        return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, correct.astype(float))

    def _config_path(self) -> Path:
        path = Path(self.config) if self.config else DEFAULT_CONFIG
        if not path.exists():
            raise InputError(f"ner.config: spaCy config file {path} not found")
        return path

    # -- inference ----------------------------------------------------------------------------

    def predict(self, batch: pd.DataFrame) -> pd.DataFrame:
        require_columns(batch, self.input_columns, "ner.predict")
        texts = _texts(batch["text"])
        docs = [self.nlp_.make_doc(text) for text in texts]
        return pd.DataFrame({"entities": self._annotate(docs)}, index=batch.index)

    def _annotate(self, docs: list[Doc]) -> list[list[dict]]:
        ner = self.nlp_.get_pipe("ner")
        results = []
        for first in range(0, len(docs), PIPE_BATCH):
            chunk = docs[first : first + PIPE_BATCH]
            with cached_features():
                beams = ner.beam_parse(chunk, beam_width=self.beam_width)
                scores = ner.scored_ents(beams)
                # Greedy decoding is what the model was trained for; the beam only supplies the scores.
                ner.set_annotations(chunk, ner.predict(chunk) if self.decode == "greedy" else beams)
            for doc, doc_scores in zip(chunk, scores):
                raw = np.array([min(1.0, doc_scores.get((e.start, e.end, e.label_), 0.0)) for e in doc.ents], dtype=float)
                calibrated = self.calibrator_.predict(raw) if self.calibrator_ is not None and len(raw) else raw
                results.append([
                    {"label": e.label_, "start": e.start_char, "end": e.end_char, "text": e.text, "score": round(float(p), 6)}
                    for e, p in zip(doc.ents, calibrated)
                ])
        return results

    def serve_with_onnx(self, threads: int = 1) -> None:
        """Fine-tuned MiniLM features through ONNX Runtime for the rest of this model's life (serving):
        the same entities, in less time. Training it further goes back to PyTorch."""
        from models.ner_layers import serve_with_onnx

        serve_with_onnx(self.nlp_.get_pipe("ner").model, threads)

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, test: pd.DataFrame) -> dict[str, float]:
        scores, confidence, correct = self._score(test)
        metrics = {k: scores["overall"][k] for k in ("precision", "recall", "f1")}
        for label, values in scores.items():
            if label != "overall":
                metrics |= {f"{k}_{label}": values[k] for k in ("precision", "recall", "f1")}
        metrics["span_ece"] = expected_calibration_error(confidence, correct)
        metrics["n_sentences"] = float(len(test))
        metrics["n_entities"] = scores["overall"]["support"]
        return metrics

    def figures(self, test: pd.DataFrame) -> dict[str, Figure]:
        scores, confidence, correct = self._score(test)
        figures = {"per_type_f1.png": per_type_scores_figure(scores)}
        if len(confidence):
            figures["calibration.png"] = reliability_figure(confidence, correct)
        return figures

    def _score(self, test: pd.DataFrame) -> tuple[dict, np.ndarray, np.ndarray]:
        """Entity scores on the gold tokenisation, and each predicted span's score and correctness."""
        test = _checked(test, "test")
        docs = [Doc(self.nlp_.vocab, words=tokens, spaces=spaces) for tokens, spaces in _token_lists(test, self.nlp_, with_spaces=True)]
        predicted = self._annotate(docs)
        gold_sets = [{(e["start"], e["end"], e["label"]) for e in entities} for entities in test["entities"]]
        predicted_sets: list[set[Span]] = [{(e["start"], e["end"], e["label"]) for e in entities} for entities in predicted]
        flat = [(e["score"], (e["start"], e["end"], e["label"]) in gold) for entities, gold in zip(predicted, gold_sets) for e in entities]
        confidence = np.array([s for s, _ in flat], dtype=float)
        correct = np.array([c for _, c in flat], dtype=bool)
        return entity_scores(gold_sets, predicted_sets), confidence, correct

    # -- persistence --------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.nlp_.to_disk(path / "spacy")
        joblib.dump(self.calibrator_, path / "calibrator.joblib")
        (path / "params.json").write_text(json.dumps(self.get_params(), indent=2))

    @classmethod
    def load(cls, path: Path) -> Self:
        path = Path(path)
        model = cls(**json.loads((path / "params.json").read_text()))
        model.nlp_ = spacy.load(path / "spacy")
        model.calibrator_ = joblib.load(path / "calibrator.joblib") if (path / "calibrator.joblib").exists() else None
        model.labels_ = list(model.nlp_.get_pipe("ner").labels)
        return model


def _learning_curve(log_file: Path) -> list[dict[str, float]]:
    """One row per dev evaluation of spaCy's training loop: step, epoch, training loss, dev scores."""
    rows = []
    for line in log_file.read_text(encoding="utf-8").splitlines() if log_file.exists() else []:
        entry = json.loads(line)
        row = {"step": float(entry["step"]), "epoch": float(entry["epoch"]), "dev_score": float(entry["score"])}
        row |= {f"train_loss_{pipe}": float(v) for pipe, v in entry.get("losses", {}).items()}
        # spaCy logs the dev scores as percentages (speed aside); the curve keeps the 0-1 scale of dev_score
        row |= {f"dev_{name}": float(v) / (1 if name == "speed" else 100)
                for name, v in entry.get("scores", {}).items() if isinstance(v, (int, float))}
        rows.append(row)
    return rows


def _texts(column: pd.Series) -> list[str]:
    bad = [i for i, v in column.items() if not isinstance(v, str)]
    if bad:
        raise InputError(f"text: row {bad[0]} is {type(column[bad[0]]).__name__}, expected a string")
    return list(column)


def _checked(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Validate text and entities; entities parsed from JSON strings and sorted."""
    require_columns(frame, ("text", "entities"), where)
    texts = _texts(frame["text"])
    parsed = []
    for row, (text, entities) in enumerate(zip(texts, frame["entities"])):
        if isinstance(entities, str):
            try:
                entities = json.loads(entities)
            except json.JSONDecodeError as error:
                raise InputError(f"{where}: row {row}: entities is not valid JSON ({error})") from error
        if entities is None or (isinstance(entities, float) and np.isnan(entities)):
            entities = []
        if not isinstance(entities, list | np.ndarray):
            raise InputError(f"{where}: row {row}: entities must be a list of {{start, end, label}}, got {type(entities).__name__}")
        spans = []
        for entity in entities:
            try:
                start, end, label = int(entity["start"]), int(entity["end"]), str(entity["label"])
            except (KeyError, TypeError, ValueError) as error:
                raise InputError(f"{where}: row {row}: each entity needs integer start, end and a label; got {entity!r}") from error
            if not 0 <= start < end <= len(text):
                raise InputError(f"{where}: row {row}: entity {entity!r} lies outside its text of {len(text)} characters")
            spans.append({"start": start, "end": end, "label": label, "text": text[start:end]})
        parsed.append(sorted(spans, key=lambda s: (s["start"], s["end"])))
    frame = frame.copy()
    frame["entities"] = parsed
    return frame


def _token_lists(frame: pd.DataFrame, nlp: Language, with_spaces: bool = False) -> list:
    """Each row's tokens: the given ``tokens`` (CoNLL) when present, else spaCy's tokeniser."""
    given = frame["tokens"] if "tokens" in frame.columns else [None] * len(frame)
    out = []
    for text, tokens in zip(frame["text"], given):
        if tokens is None or (isinstance(tokens, float) and np.isnan(tokens)):
            doc = nlp.make_doc(text)
            words, spaces = [t.text for t in doc], [bool(t.whitespace_) for t in doc]
        else:
            words = [str(t) for t in tokens]
            spaces = [True] * (len(words) - 1) + [False]
            if " ".join(words) != text:
                raise InputError("tokens: a row's tokens joined by single spaces must equal its text")
        out.append((words, spaces) if with_spaces else words)
    return out


def _gold_docs(frame: pd.DataFrame, nlp: Language) -> list[Doc]:
    """Docs with gold entities; a span that does not fall on token boundaries is widened to them."""
    docs = []
    for (words, spaces), entities in zip(_token_lists(frame, nlp, with_spaces=True), frame["entities"]):
        doc = Doc(nlp.vocab, words=words, spaces=spaces)
        spans = [doc.char_span(e["start"], e["end"], label=e["label"], alignment_mode="expand") for e in entities]
        doc.ents = filter_spans([s for s in spans if s is not None])
        docs.append(doc)
    return docs

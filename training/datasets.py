"""Loading training data: any table file, mapped onto a capability's canonical columns, then split.

Files are read by extension (CSV, TSV, JSONL, Parquet). User column names are mapped onto the
names capabilities use (``text``, ``label``), so a capability never needs to know a dataset's
schema. With no file given, the bundled sample data is used (generated on first use).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from models.base import Capability, InputError
from models.series import SERIES_COLUMNS, parse_timestamps
from models.settings import HybridSettings
from models.tables import read_table

#: the bundled sample file and its column names, per capability
SAMPLE_DATASETS: dict[str, dict[str, str]] = {
    "intent": {"file": "tickets.jsonl", "text": "text", "label": "intent"},
    "sentiment": {"file": "tickets.jsonl", "text": "text", "label": "sentiment"},
    "ner": {"file": "tickets.jsonl", "text": "text", "label": "entities"},
    "anomaly": {"file": "series.csv", "label": "label"},
    "forecast": {"file": "series.csv", "label": "value"},
    "injection": {"file": "injection_prompts.jsonl", "text": "text", "label": "label"},
    "llm_router": {"file": "router_prompts.jsonl", "text": "text", "label": "tier"},
    "dispatcher": {"file": "dispatch_requests.jsonl", "text": "text", "label": "labels"},
}
#: how a training/test file is read: by extension as a table, as CoNLL, or guessed from the extension
FORMATS = ("auto", "table", "conll")


@dataclass
class DatasetSplits:
    train: pd.DataFrame
    test: pd.DataFrame
    valid: pd.DataFrame | None = None
    #: where each split came from and how big it is, logged as run parameters
    description: dict[str, str] = field(default_factory=dict)


def sample_data_dir(settings: HybridSettings) -> Path:
    """The bundled sample data folder, generated on first use."""
    from training.sample_data import write_sample_data

    folder = settings.data.sample_dir
    # A folder written by an older version may lack files added since: regenerate it whole (same seed, same bytes).
    expected = {"knowledge_base.jsonl", *(sample["file"] for sample in SAMPLE_DATASETS.values())}
    if not all((folder / name).exists() for name in expected):
        write_sample_data(folder, seed=settings.data.seed)
    return folder


def load_frame(
    capability: Capability,
    path: Path | str,
    text_col: str | None = None,
    label_col: str | None = None,
    format: str = "auto",
) -> pd.DataFrame:
    """Read one file and rename its columns onto the capability's canonical ones.

    ``format="conll"`` (or ``"auto"`` with a .conll/.txt/.iob/.bio file) reads token-per-line NER
    data; only capabilities whose target is ``entities`` accept it.
    """
    from training.conll import looks_like_conll, read_conll

    if format not in FORMATS:
        raise InputError(f"--format: {format!r} is not one of {list(FORMATS)}")
    if format == "conll" or (format == "auto" and looks_like_conll(path)):
        if capability.target_column != "entities":
            raise InputError(f"{path}: CoNLL files hold entities; {capability.name!r} needs a table with text and labels")
        return read_conll(path)
    frame = read_table(path)
    if capability.input_columns == SERIES_COLUMNS:
        return _series_frame(frame, path, label_col, capability.target_column)
    if not capability.input_columns:  # feature rows: the capability picks its columns when it fits
        if label_col and label_col != capability.target_column:
            if label_col not in frame.columns:
                raise InputError(f"{path}: --label-col {label_col!r} not found; it has {list(frame.columns)}")
            frame = frame.drop(columns=[capability.target_column], errors="ignore")
            frame = frame.rename(columns={label_col: capability.target_column})
        return frame
    text, label = capability.input_columns[0], capability.target_column
    source = {text: text_col or text, label: label_col or label}
    needed = [text, label]
    missing = [source[c] for c in needed if source[c] not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: column(s) {missing} not found; it has {list(frame.columns)}. "
            "Name the right ones with --text-col and --label-col."
        )
    renames = {source[c]: c for c in needed if source[c] != c}
    # A column already called "label" that is not the chosen one must not shadow it.
    frame = frame.drop(columns=[c for c in renames.values() if c in frame.columns]).rename(columns=renames)
    before = len(frame)
    frame = frame.dropna(subset=needed)
    if frame.empty:
        raise InputError(f"{path}: no usable rows ({before} rows, all missing {needed})")
    return frame.reset_index(drop=True)


def _series_frame(frame: pd.DataFrame, path: Path | str, label_col: str | None, target: str) -> pd.DataFrame:
    """The long series format. ``--label-col`` names the target: anomaly labels (optional, needed to tune and
    evaluate) or, for forecasting, the values."""
    if label_col and label_col != target:
        if label_col not in frame.columns:
            raise InputError(f"{path}: --label-col {label_col!r} not found; it has {list(frame.columns)}")
        frame = frame.drop(columns=[target], errors="ignore").rename(columns={label_col: target})
    missing = [c for c in SERIES_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: column(s) {missing} not found; it has {list(frame.columns)}. "
                         f"Series files are long: {', '.join(SERIES_COLUMNS)}[, label], one row per observation.")
    # Parsed here, so the model's logged signature says datetime and every caller passes one.
    return frame.reset_index(drop=True).assign(timestamp=parse_timestamps(frame["timestamp"], str(path)))


def load_splits(
    capability: Capability,
    settings: HybridSettings,
    train: Path | None = None,
    test: Path | None = None,
    valid: Path | None = None,
    text_col: str | None = None,
    label_col: str | None = None,
    format: str = "auto",
) -> DatasetSplits:
    """Train/test(/valid) frames for ``capability``: from files, or from the bundled sample data."""
    if train is None:
        if capability.name not in SAMPLE_DATASETS:
            raise InputError(f"no bundled sample data for {capability.name!r}: pass --train PATH")
        sample = SAMPLE_DATASETS[capability.name]
        train = sample_data_dir(settings) / sample["file"]
        text_col, label_col = text_col or sample.get("text"), label_col or sample["label"]
    read = partial(load_frame, capability, text_col=text_col, label_col=label_col, format=format)
    train_frame = read(train)
    test_frame = read(test) if test else None
    valid_frame = read(valid) if valid else None
    description = {"train_path": str(train), "test_path": str(test) if test else f"held out {settings.training.test_size:.0%} of train"}
    if test_frame is None and hasattr(capability, "holdout"):
        # Series cannot be shuffled row by row; the capability knows how to hold out part of them.
        train_frame, test_frame = capability.holdout(train_frame, settings.training.test_size, settings.training.seed)
    elif test_frame is None:
        train_frame, test_frame = _holdout(train_frame, capability.target_column, settings)
    description |= {
        "train_rows": str(len(train_frame)),
        "test_rows": str(len(test_frame)),
        "train_sha256": _fingerprint(train_frame),
        "test_sha256": _fingerprint(test_frame),
    }
    if valid_frame is not None:
        description |= {"valid_path": str(valid), "valid_rows": str(len(valid_frame))}
    return DatasetSplits(train=train_frame, test=test_frame, valid=valid_frame, description=description)


def _holdout(frame: pd.DataFrame, label: str, settings: HybridSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    # Stratify class labels when every class can appear on both sides; otherwise (or for
    # structured targets such as entity lists) a plain shuffle split.
    scalar = frame[label].map(lambda v: isinstance(v, str | int | bool)).all()
    stratify = frame[label] if scalar and frame[label].value_counts().min() >= 2 else None
    train, test = train_test_split(
        frame, test_size=settings.training.test_size, random_state=settings.training.seed, stratify=stratify
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _fingerprint(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame.astype(str), index=False).values.tobytes()).hexdigest()[:16]

"""The one contract every trained model follows, and how a capability is saved and found again.

A capability is a small scikit-learn-style estimator over pandas batches:

    clf = IntentClassifier(C=10.0)          # __init__ only stores configuration
    clf.fit(train_df, valid_df)             # fitted state lives in attributes ending in "_"
    clf.predict(batch_df)                   # batch in, batch out, same index
    clf.evaluate(test_df)                   # {"accuracy": ..., "macro_f1": ...}
    clf.save(folder); IntentClassifier.load(folder)

Batch in, batch out is what lets MLflow pyfunc, BentoML adaptive batching, chunked batch scoring
and Spark UDFs all call the same ``predict`` without special cases.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import pandas as pd
from matplotlib.figure import Figure

MANIFEST = "capability.json"


class InputError(ValueError):
    """Bad input from a user or caller. The message names the field and says what to do."""


@runtime_checkable
class Capability(Protocol):
    name: ClassVar[str]
    #: the metric the champion/challenger gate compares (higher is better, unless the class sets
    #: ``higher_is_better = False``, as a forecaster's error does)
    primary_metric: ClassVar[str]
    #: columns ``predict`` reads; ``fit``/``evaluate`` also read ``target_column``
    input_columns: ClassVar[tuple[str, ...]]
    target_column: ClassVar[str]

    def get_params(self) -> dict[str, Any]: ...
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> Self: ...
    def predict(self, batch: pd.DataFrame) -> pd.DataFrame: ...
    def evaluate(self, test: pd.DataFrame) -> dict[str, float]: ...
    def figures(self, test: pd.DataFrame) -> dict[str, Figure]: ...
    def save(self, path: Path) -> None: ...
    @classmethod
    def load(cls, path: Path) -> Self: ...


def require_columns(frame: pd.DataFrame, columns: tuple[str, ...] | list[str], where: str) -> None:
    """Fail with a message that names the missing column and the ones that are there."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{where}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{where}: missing column(s) {missing}; the frame has {list(frame.columns)}. "
            "Rename your columns or pass --text-col/--label-col."
        )


def text_values(frame: pd.DataFrame) -> list[str]:
    """The ``text`` column as strings. Missing text is scored as empty rather than crashing a whole
    batch; it gets a low confidence."""
    return frame["text"].fillna("").astype(str).tolist()


def save_capability(capability: Capability, folder: Path) -> Path:
    """Save a fitted capability with a manifest naming its class, so it can be loaded generically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    capability.save(folder / "model")
    cls = type(capability)
    manifest = {
        "name": capability.name,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "params": capability.get_params(),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    return folder


def load_capability(folder: Path) -> Capability:
    """Load any capability saved by :func:`save_capability`."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path} not found: is {folder} a folder written by save_capability?")
    manifest = json.loads(manifest_path.read_text())
    module_name, _, qualname = manifest["class"].partition(":")
    cls = getattr(importlib.import_module(module_name), qualname)
    return cls.load(folder / "model")

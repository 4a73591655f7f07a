"""Reading and writing table files by extension: CSV, TSV, JSONL, Parquet.

Every layer reads the same formats (training data, batch scoring, a router's examples), so this sits
at the bottom, beside the capabilities.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from models.base import InputError

READERS = {
    ".csv": lambda p: pd.read_csv(p),
    ".tsv": lambda p: pd.read_csv(p, sep="\t"),
    ".jsonl": lambda p: pd.read_json(p, lines=True),
    ".ndjson": lambda p: pd.read_json(p, lines=True),
    ".parquet": lambda p: pd.read_parquet(p),
}


def read_table(path: Path | str) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise InputError(f"file not found: {path}")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(f"cannot read {path}: unsupported extension {path.suffix!r}; use one of {sorted(READERS)}")
    try:
        return reader(path)
    except ValueError as error:  # pandas' parse errors are ValueErrors
        raise InputError(f"cannot parse {path} as {path.suffix}: {error}") from error


def write_table(frame: pd.DataFrame, path: Path | str) -> None:
    """Write ``frame`` by extension, atomically: into a hidden file beside ``path``, moved into place only when
    complete, so a failed or killed write never leaves half a file under the real name."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise InputError(f"cannot write {path}: unsupported extension {suffix!r}; use one of {sorted(READERS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    if suffix in (".csv", ".tsv"):
        frame = _nested_as_json(frame)
    if suffix == ".csv":
        frame.to_csv(partial, index=False)
    elif suffix == ".tsv":
        frame.to_csv(partial, sep="\t", index=False)
    elif suffix in (".jsonl", ".ndjson"):
        frame.to_json(partial, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(partial, index=False)
    os.replace(partial, path)


def refuse_overwrite(existing: Iterable[str], added: Iterable[str]) -> None:
    """Scores are added beside the input's columns, never over them."""
    clashes = sorted(set(added) & set(existing))
    if clashes:
        raise InputError(f"input already has column(s) {clashes}; rename them so no data is overwritten")


def _nested_as_json(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists and dicts (e.g. NER entities) as JSON text, so a CSV cell can be read back."""
    nested = [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, list | dict)).any()]
    if not nested:
        return frame
    frame = frame.copy()
    for column in nested:
        frame[column] = frame[column].map(lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v)
    return frame

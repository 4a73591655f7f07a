"""Reading the Numenta Anomaly Benchmark corpus into the long series format.

NAB ships one ``timestamp,value`` CSV per series under ``data/`` and the labelled anomaly windows
in ``labels/combined_windows.json``. :func:`read_nab` returns one long frame,
``series_id,timestamp,value,label``, where ``label`` is 1 inside an anomaly window: the format every
anomaly command reads, so NAB is scored by the same code as a user's file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from models.base import InputError


def read_nab(folder: Path, limit: int | None = None) -> pd.DataFrame:
    """The NAB corpus in ``folder`` (holding data/ and labels/) as one long, labelled frame.

    ``limit`` keeps the first series in name order, for quick runs.
    """
    folder = Path(folder)
    windows_file = folder / "labels" / "combined_windows.json"
    if not windows_file.exists():
        raise InputError(f"{windows_file} not found: pass the folder of a NAB checkout (holding data/ and labels/)")
    windows = json.loads(windows_file.read_text())
    names = sorted(windows)[:limit] if limit else sorted(windows)
    frames = []
    for name in names:
        series = pd.read_csv(folder / "data" / name, parse_dates=["timestamp"])
        label = pd.Series(0, index=series.index)
        for start, end in windows[name]:
            label[(series["timestamp"] >= pd.Timestamp(start)) & (series["timestamp"] <= pd.Timestamp(end))] = 1
        frames.append(series.assign(series_id=name.removesuffix(".csv"), label=label))
    return pd.concat(frames, ignore_index=True)[["series_id", "timestamp", "value", "label"]]

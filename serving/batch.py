"""Batch scoring with pandas: read a file, score it in chunks with a progress bar, write it back.

Every input column is kept; predictions are added as ``<capability>_<field>`` columns. Forecasting
is the exception: its output is the forecast table, one row per series and future step. The output
is written atomically (``write_table``), so a failed run never leaves half a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fusion.champions import Champions
from models.base import InputError
from models.series import parse_timestamps
from models.settings import HybridSettings
from models.tables import read_table, refuse_overwrite, write_table


@dataclass(frozen=True)
class ScoreReport:
    rows: int
    output: Path
    columns_added: list[str]
    models: dict[str, int]


def score_frame(
    frame: pd.DataFrame, pipeline: Champions, text_col: str = "text", chunk_size: int = 2000, progress: bool = True
) -> pd.DataFrame:
    model_input = _model_input(frame, pipeline, text_col)
    parts = []
    with tqdm(total=len(frame), unit="rows", desc="scoring", disable=not progress) as bar:
        for chunk in _chunks(model_input, chunk_size):
            parts.append(pipeline.run(chunk))
            bar.update(len(chunk))
    predictions = pd.concat(parts) if parts else pipeline.run(model_input)
    refuse_overwrite(frame.columns, predictions.columns)
    return pd.concat([frame, predictions], axis=1)


def forecast_frame(frame: pd.DataFrame, pipeline: Champions, chunk_size: int = 2000, progress: bool = True) -> pd.DataFrame:
    """Forecasts for every series in ``frame`` (long format), over the model's horizon."""
    model_input = _model_input(frame, pipeline, "text")
    parts = []
    with tqdm(total=len(frame), unit="rows", desc="forecasting", disable=not progress) as bar:
        for chunk in _chunks(model_input, chunk_size):
            parts.append(pipeline.predict("forecast", chunk))
            bar.update(len(chunk))
    return pd.concat(parts, ignore_index=True)


def _model_input(frame: pd.DataFrame, pipeline: Champions, text_col: str) -> pd.DataFrame:
    """The columns the loaded models read; ``text`` comes from ``text_col``."""
    needed = list(dict.fromkeys(c for name in pipeline.models for c in pipeline.input_columns(name)))
    source = {c: text_col if c == "text" else c for c in needed}
    missing = [source[c] for c in needed if source[c] not in frame.columns]
    if missing:
        hint = "; pass --text-col" if "text" in needed else "; series files are long: series_id, timestamp, value"
        raise InputError(f"input has no column(s) {missing} (columns: {list(frame.columns)}){hint}")
    model_input = pd.DataFrame({c: frame[source[c]] for c in needed}, index=frame.index)
    if "timestamp" in needed:  # files hold text; the models' signatures say datetime
        model_input["timestamp"] = parse_timestamps(model_input["timestamp"], "input").to_numpy()
    return model_input


def _chunks(model_input: pd.DataFrame, chunk_size: int):
    """Row chunks of about ``chunk_size``; a series is never split, since its scores depend on its past."""
    if "series_id" not in model_input.columns:
        for start in range(0, len(model_input), chunk_size):
            yield model_input.iloc[start : start + chunk_size]
        return
    series = model_input["series_id"]
    starts = np.flatnonzero(series.ne(series.shift()).to_numpy())
    begin = 0
    for start in [*starts[1:].tolist(), len(model_input)]:
        if start - begin >= chunk_size or start == len(model_input):
            yield model_input.iloc[begin:start]
            begin = start


def score_file(
    input_path: Path, output_path: Path, capabilities: list[str], settings: HybridSettings, text_col: str = "text"
) -> ScoreReport:
    if "forecast" in capabilities and len(capabilities) > 1:
        raise InputError("--capabilities: forecast writes one row per future step, not per input row; run it on its own")
    frame = read_table(input_path)
    pipeline = Champions.from_registry(capabilities, settings)
    if capabilities == ["forecast"]:
        scored = forecast_frame(frame, pipeline, chunk_size=settings.score.chunk_size)
    else:
        scored = score_frame(frame, pipeline, text_col=text_col, chunk_size=settings.score.chunk_size)
    output_path = Path(output_path)
    write_table(scored, output_path)
    return ScoreReport(
        rows=len(scored),
        output=output_path,
        columns_added=[c for c in scored.columns if c not in frame.columns],
        models={name: info.version for name, info in pipeline.loaded.items()},
    )

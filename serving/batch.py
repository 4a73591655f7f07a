"""Batch scoring with pandas: read a file, score it in chunks with a progress bar, write it back.

Every input column is kept; predictions are added as ``<capability>_<field>`` columns. The output
is written to a temporary file and moved into place, so a failed run never leaves half a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from fusion.pipeline import HybridPipeline
from models.base import InputError
from models.settings import HybridSettings
from training.datasets import read_table, write_table


@dataclass(frozen=True)
class ScoreReport:
    rows: int
    output: Path
    columns_added: list[str]
    models: dict[str, int]


def score_frame(
    frame: pd.DataFrame, pipeline: HybridPipeline, text_col: str = "text", chunk_size: int = 2000, progress: bool = True
) -> pd.DataFrame:
    if text_col not in frame.columns:
        raise InputError(f"input has no column {text_col!r} (columns: {list(frame.columns)}); pass --text-col")
    model_input = pd.DataFrame({"text": frame[text_col]}, index=frame.index)
    parts = []
    with tqdm(total=len(frame), unit="rows", desc="scoring", disable=not progress) as bar:
        for start in range(0, len(frame), chunk_size):
            chunk = model_input.iloc[start : start + chunk_size]
            parts.append(pipeline.run(chunk))
            bar.update(len(chunk))
    predictions = pd.concat(parts) if parts else pipeline.run(model_input)
    clashes = sorted(set(predictions.columns) & set(frame.columns))
    if clashes:
        raise InputError(f"input already has column(s) {clashes}; rename them so no data is overwritten")
    return pd.concat([frame, predictions], axis=1)


def score_file(
    input_path: Path, output_path: Path, capabilities: list[str], settings: HybridSettings, text_col: str = "text"
) -> ScoreReport:
    frame = read_table(input_path)
    pipeline = HybridPipeline.from_registry(capabilities, settings)
    scored = score_frame(frame, pipeline, text_col=text_col, chunk_size=settings.score.chunk_size)
    output_path = Path(output_path)
    partial = output_path.with_name(f".{output_path.stem}.partial{output_path.suffix}")
    write_table(scored, partial)
    os.replace(partial, output_path)
    return ScoreReport(
        rows=len(scored),
        output=output_path,
        columns_added=[c for c in scored.columns if c not in frame.columns],
        models={name: info.version for name, info in pipeline.loaded.items()},
    )

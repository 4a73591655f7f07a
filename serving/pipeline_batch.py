"""Batch scoring of the whole hybrid pipeline with pandas: chunked, resumable, atomic.

    hybrid score --pipeline --input requests.parquet --output scored.parquet

Each input row is one request (fusion/table.py: text, question, series, features, tasks, ...). The
registered pipeline (``models:/hybrid@champion`` by default) scores the file chunk by chunk; every finished
chunk is written beside the output (``.<output>.parts/``), so a killed run started again with the same
input, model and chunk size skips the chunks it finished, and says so. The output keeps every input column
and the row order, adds fusion/table.py's ``RESPONSE_COLUMNS``, and is moved into place only when complete.
A row that fails validation gets its message in ``error``; the job goes on.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import mlflow.models
import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException
from tqdm.auto import tqdm

from fusion.table import RESPONSE_COLUMNS, request_frame, typed
from models.base import InputError
from models.registry import champion_uri, connect_store
from models.settings import HybridSettings
from models.tables import read_table, refuse_overwrite, write_table

PIPELINE_MODEL = "hybrid"


@dataclass(frozen=True)
class PipelineScoreReport:
    rows: int
    output: Path
    model_uri: str
    chunks: int
    resumed_chunks: int
    errors: int


def pipeline_model_uri(settings: HybridSettings, model_uri: str | None = None) -> str:
    return model_uri or champion_uri(PIPELINE_MODEL, settings)


def load_pipeline_model(uri: str, settings: HybridSettings, metadata_only: bool = False):
    """The registered pipeline (or, with ``metadata_only``, its ``ModelInfo``: a check that reads no
    weights); says what to run when there is none yet."""
    connect_store(settings)
    try:
        return mlflow.models.get_model_info(uri) if metadata_only else mlflow.pyfunc.load_model(uri)
    except MlflowException as error:
        raise InputError(f"cannot load {uri}: {error.message}. Register the pipeline first: "
                         "`hybrid register pipeline`.") from None


def score_pipeline_file(input_path: Path, output_path: Path, settings: HybridSettings, model_uri: str | None = None,
                        text_col: str = "text", chunk_size: int | None = None, progress: bool = True,
                        model: mlflow.pyfunc.PyFuncModel | None = None, say=print) -> PipelineScoreReport:
    input_path, output_path = Path(input_path), Path(output_path)
    frame = read_table(input_path).reset_index(drop=True)
    refuse_overwrite(frame.columns, RESPONSE_COLUMNS)
    requests = request_frame(frame, text_col)
    uri = pipeline_model_uri(settings, model_uri)
    model = model or load_pipeline_model(uri, settings)
    chunk_size = chunk_size or settings.score.chunk_size
    starts = list(range(0, len(frame), chunk_size))

    parts = output_path.with_name(f".{output_path.name}.parts")
    job = {"input": str(input_path.resolve()), "input_bytes": input_path.stat().st_size,
           "input_mtime_ns": input_path.stat().st_mtime_ns, "rows": len(frame), "chunk_size": chunk_size,
           "model_uri": uri, "model_run": model.metadata.run_id, "text_col": text_col}
    done = _finished_chunks(parts, job, len(starts), say)
    if done:
        say(f"resuming: {len(done)} of {len(starts)} chunks already scored in {parts}")
    with tqdm(total=len(frame), unit="rows", desc="scoring requests", disable=not progress) as bar:
        bar.update(sum(min(chunk_size, len(frame) - starts[i]) for i in done))
        for i, start in enumerate(starts):
            if i in done:
                continue
            chunk = requests.iloc[start : start + chunk_size]
            scored = typed(model.predict(chunk)).set_axis(chunk.index)
            write_table(scored, parts / f"part-{i:05d}.parquet")  # atomic: a killed write leaves no chunk
            bar.update(len(chunk))

    scored = pd.concat([_read_part(parts, i) for i in range(len(starts))]) if starts else typed(
        pd.DataFrame(columns=list(RESPONSE_COLUMNS)))
    result = pd.concat([frame, scored.reset_index(drop=True)], axis=1)
    write_table(result, output_path)
    shutil.rmtree(parts, ignore_errors=True)
    return PipelineScoreReport(rows=len(result), output=output_path, model_uri=uri, chunks=len(starts),
                               resumed_chunks=len(done), errors=int(result["error"].notna().sum()))


def _finished_chunks(parts: Path, job: dict, n_chunks: int, say) -> set[int]:
    """Chunks a previous run of the same job finished; a different job's leftovers are cleared."""
    manifest = parts / "job.json"
    if parts.exists():
        previous = json.loads(manifest.read_text()) if manifest.exists() else None
        if previous == job:
            return {i for i in range(n_chunks) if (parts / f"part-{i:05d}.parquet").exists()}
        say(f"starting over: {parts} holds chunks of another input, model or chunk size")
        shutil.rmtree(parts)
    parts.mkdir(parents=True)
    manifest.write_text(json.dumps(job, indent=2))
    return set()


def _read_part(parts: Path, i: int) -> pd.DataFrame:
    return typed(pd.read_parquet(parts / f"part-{i:05d}.parquet"))

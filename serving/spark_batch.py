"""Batch scoring with Spark, for when the data outgrows one machine: the same registered models, loaded on
every executor with ``mlflow.pyfunc``.

    hybrid score --pipeline --engine spark --master local[2] --input requests.parquet --output scored.parquet

The pipeline (``models:/hybrid@champion``) reads the request columns of fusion/table.py and returns
``RESPONSE_COLUMNS``, exactly what the pandas engine writes; a single text capability (``--capabilities
intent``) adds its ``<capability>_<field>`` columns through ``mlflow.pyfunc.spark_udf``. Each executor
loads the model once from its own copy (no registry look-ups on the executors). Input and output are Parquet or CSV; the output is written to a
temporary folder by Spark, then gathered into one file in input order and moved into place.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from fusion.table import RESPONSE_COLUMNS, request_frame, typed
from models.base import InputError
from models.registry import champion_uri, connect_store, model_info
from serving.pipeline_batch import PIPELINE_MODEL, load_pipeline_model
from models.settings import HybridSettings
from models.tables import read_table, refuse_overwrite, write_table

_ROW = "__row"  # the input order, carried through Spark's partitions


def spark_session(master: str = "local[2]"):
    """A Spark session whose Python workers use this interpreter (so they have pandas and the project),
    bound to the loopback interface (local mode needs no network)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName("hybrid-score")
    if master.startswith("local"):
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    return (builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.ui.enabled", "false").getOrCreate())


def score_with_spark(input_path: Path, output_path: Path, settings: HybridSettings, master: str = "local[2]",
                     pipeline: bool = True, capabilities: list[str] | None = None, model_uri: str | None = None,
                     text_col: str = "text", spark=None) -> dict[str, Any]:
    input_path, output_path = Path(input_path), Path(output_path)
    connect_store(settings)  # spark_udf resolves models:/ URIs against the configured registry
    if pipeline:
        uri = model_uri or champion_uri(PIPELINE_MODEL, settings)
        frame = read_table(input_path).reset_index(drop=True)
        refuse_overwrite(frame.columns, RESPONSE_COLUMNS)
        model_input = request_frame(frame, text_col)
        result_columns = dict(RESPONSE_COLUMNS)
    else:
        if not capabilities or len(capabilities) != 1:
            raise InputError("--engine spark scores the pipeline (--pipeline) or one capability at a time (--capabilities NAME)")
        uri = model_uri or champion_uri(capabilities[0], settings)
        frame = read_table(input_path).reset_index(drop=True)
        model_input, result_columns = _capability_io(uri, frame, text_col)
    if pipeline:  # fails here, naming the command to run, rather than inside an executor
        load_pipeline_model(uri, settings, metadata_only=True)

    own_session = spark is None
    spark = spark or spark_session(master)
    try:
        scored = _score(spark, uri, model_input, result_columns, pipeline)
    finally:
        if own_session:
            spark.stop()
    if pipeline:
        scored = typed(scored)
    else:
        prefix = capabilities[0]
        scored = scored.add_prefix(f"{prefix}_")
    result = pd.concat([frame, scored.reset_index(drop=True)], axis=1)
    write_table(result, output_path)
    return {"rows": len(result), "output": str(output_path), "model_uri": uri, "engine": "spark", "master": master}


def _score(spark, uri: str, model_input: pd.DataFrame, result_columns: dict[str, str], pipeline: bool) -> pd.DataFrame:
    """Model input -> Spark (via Parquet, so large inputs stream), the model over it, the result back in order."""
    with tempfile.TemporaryDirectory(prefix="hybrid-spark-") as tmp:
        staged = Path(tmp) / "input.parquet"
        model_input.assign(**{_ROW: range(len(model_input))}).to_parquet(staged, index=False)
        frame = spark.read.parquet(str(staged))
        columns = list(model_input.columns)
        scored = _pipeline_over(spark, uri, frame, columns, result_columns, Path(tmp)) if pipeline else \
            _udf_over(spark, uri, frame, columns, result_columns)
        written = Path(tmp) / "output"
        scored.write.parquet(str(written))
        out = pd.read_parquet(written).sort_values(_ROW).drop(columns=_ROW).reset_index(drop=True)
    return out[list(result_columns)]


def _udf_over(spark, uri: str, frame, columns: list[str], result_columns: dict[str, str]):
    """A capability through ``mlflow.pyfunc.spark_udf``: its outputs have no gaps, which the UDF's casts need."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    schema = ", ".join(f"`{c}` {t}" for c, t in result_columns.items())
    udf = mlflow.pyfunc.spark_udf(spark, uri, result_type=schema, env_manager="local")
    return frame.select(F.col(_ROW), udf(F.struct(*[F.col(f"`{c}`") for c in columns])).alias("result")).select(_ROW, "result.*")


def _pipeline_over(spark, uri: str, frame, columns: list[str], result_columns: dict[str, str], tmp: Path):
    """The pipeline model on every executor through ``mapInPandas``. Not ``spark_udf``: it casts each struct
    field with numpy, so a missing string becomes the text "None" and a missing boolean fails the task, and a
    response has gaps by design (no answer on an ML-only request). The model folder is shipped to the executors
    (``addFile``), loaded once per Python worker and fed Arrow batches."""
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp / "hybrid-model"))
    spark.sparkContext.addFile(local, recursive=True)
    name = Path(local).name
    schema = ", ".join([f"`{_ROW}` long", *(f"`{c}` {t}" for c, t in result_columns.items())])

    def predict_partition(batches):
        from pyspark import SparkFiles

        model = _loaded(SparkFiles.get(name))
        for batch in batches:
            predicted = typed(model.predict(batch[columns].reset_index(drop=True)))
            yield pd.concat([batch[[_ROW]].reset_index(drop=True), predicted.reset_index(drop=True)], axis=1)

    return frame.mapInPandas(predict_partition, schema=schema)


_MODELS: dict[str, Any] = {}


def _loaded(path: str):
    """One load per Python worker (Spark reuses workers across tasks)."""
    if path not in _MODELS:
        import mlflow.pyfunc

        _MODELS[path] = mlflow.pyfunc.load_model(path)
    return _MODELS[path]


def _capability_io(uri: str, frame: pd.DataFrame, text_col: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """A single capability's input columns and its output schema, from the model's own signature (its
    metadata only: the executors load the model)."""
    model = model_info(uri)
    needed = model.signature.inputs.input_names()
    source = {c: text_col if c == "text" else c for c in needed}
    missing = [source[c] for c in needed if source[c] not in frame.columns]
    if missing:
        raise InputError(f"input has no column(s) {missing} (columns: {list(frame.columns)}); pass --text-col")
    if "series_id" in needed:
        raise InputError("--engine spark scores row-wise capabilities; series capabilities need each series whole: "
                         "use --engine pandas")
    spark_types = {"string": "string", "double": "double", "float": "double", "long": "long", "integer": "long",
                   "boolean": "boolean"}
    outputs = model.signature.outputs
    result = {}
    for spec in outputs.inputs:
        kind = getattr(spec.type, "name", str(spec.type))
        result[spec.name] = spark_types.get(kind, "string")
    return pd.DataFrame({c: frame[source[c]] for c in needed}), result

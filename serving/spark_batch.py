"""Batch scoring with Spark, for when the data outgrows one machine: the same registered models, loaded on
every executor with ``mlflow.pyfunc``, over data Spark itself reads and writes.

    hybrid score --pipeline --engine spark --master local[2] --input requests.parquet --output scored.parquet
    hybrid score --pipeline --engine spark --master yarn --input hdfs:///requests/ --output hdfs:///scored/

The pipeline (``models:/hybrid@champion``) reads the request columns of fusion/table.py and returns
``RESPONSE_COLUMNS``, exactly what the pandas engine writes; a single text capability (``--capabilities
intent``) adds its ``<capability>_<field>`` columns through ``mlflow.pyfunc.spark_udf``. Each executor
loads the model once from its own copy (no registry look-ups on the executors).

The input (a Parquet, CSV, TSV or JSONL file, or a folder of Parquet files) is read by Spark, never by the
driver. An ``--output`` with no extension is a Parquet dataset written by the executors (part files in input
order; Spark's committer publishes it only when the job succeeds), so neither side has to fit one machine.
An ``--output`` file (``.parquet``, ``.csv``, ...) is gathered on the driver into one file in input order and
moved into place atomically: convenient, but it must fit the driver's memory.
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
from models.tables import READERS, refuse_overwrite, write_table

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


def score_with_spark(input_path: Path | str, output_path: Path | str, settings: HybridSettings,
                     master: str = "local[2]", pipeline: bool = True, capabilities: list[str] | None = None,
                     model_uri: str | None = None, text_col: str = "text", spark=None) -> dict[str, Any]:
    input_path, output_path = str(input_path), str(output_path)
    gathered = Path(output_path).suffix.lower() in READERS  # one file on the driver, else a dataset
    if _is_local(output_path) and Path(output_path).exists() and (not gathered or Path(output_path).is_dir()):
        raise InputError(f"--output: {output_path} already exists; a Spark dataset is never written over, "
                         "remove it or pick another folder")
    connect_store(settings)  # spark_udf resolves models:/ URIs against the configured registry
    if pipeline:
        uri = model_uri or champion_uri(PIPELINE_MODEL, settings)
        load_pipeline_model(uri, settings, metadata_only=True)  # fails here, naming the command to run
    else:
        if not capabilities or len(capabilities) != 1:
            raise InputError("--engine spark scores the pipeline (--pipeline) or one capability at a time (--capabilities NAME)")
        uri = model_uri or champion_uri(capabilities[0], settings)

    own_session = spark is None
    spark = spark or spark_session(master)
    try:
        frame = _read(spark, input_path)
        if pipeline:
            request_frame(pd.DataFrame(columns=frame.columns), text_col)  # the column checks, before any task runs
            refuse_overwrite(frame.columns, RESPONSE_COLUMNS)
        with tempfile.TemporaryDirectory(prefix="hybrid-spark-") as tmp:
            if pipeline:
                scored = _pipeline_over(spark, uri, frame, text_col, Path(tmp))
            else:
                scored = _udf_over(spark, uri, frame, capabilities[0], text_col)
            if gathered:
                written = Path(tmp) / "output"
                scored.write.parquet(str(written))
                result = pd.read_parquet(written).sort_values(_ROW).drop(columns=_ROW).reset_index(drop=True)
                write_table(typed(result) if pipeline else result, output_path)
                rows = len(result)
            else:
                scored.drop(_ROW).write.parquet(output_path)
                rows = spark.read.parquet(output_path).count()
    finally:
        if own_session:
            spark.stop()
    return {"rows": rows, "output": output_path, "model_uri": uri, "engine": "spark", "master": master,
            "written_by": "driver, one file" if gathered else "executors, a Parquet dataset"}


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _read(spark, path: str):
    """The input as a Spark DataFrame, read by Spark (the driver never holds it), with each row's position in
    ``_ROW`` so that the output keeps the input order."""
    from pyspark.sql import functions as F

    if _is_local(path) and not Path(path.removeprefix("file://")).exists():
        raise InputError(f"--input: file not found: {path}")
    suffix = Path(path.rstrip("/")).suffix.lower()
    if suffix in ("", ".parquet"):
        reader = spark.read.parquet
    elif suffix in (".csv", ".tsv"):
        # quoted cells may hold commas, quotes doubled the way pandas writes them, and newlines
        reader = spark.read.options(header=True, multiLine=True, escape='"', inferSchema=True,
                                    sep="\t" if suffix == ".tsv" else ",").csv
    elif suffix in (".jsonl", ".ndjson"):
        reader = spark.read.json
    else:
        raise InputError(f"--input: cannot read {path} with Spark: use Parquet (a file or a folder), CSV, TSV or JSONL")
    try:
        frame = reader(path)
    except Exception as error:  # noqa: BLE001 - Spark's AnalysisException: an empty folder, a corrupt file
        raise InputError(f"--input: Spark cannot read {path}: {str(error).splitlines()[0]}") from error
    if _ROW in frame.columns:
        raise InputError(f"--input: the column {_ROW!r} is reserved for the row order; rename it")
    frame = frame.withColumn(_ROW, F.monotonically_increasing_id())
    cores = spark.sparkContext.defaultParallelism
    if frame.rdd.getNumPartitions() < cores:
        # one file under the block size is one partition, which one core scores while the rest wait: spread it
        # over every core, in ranges of the row order, each range in order, so the part files stay in order
        frame = frame.repartitionByRange(cores, _ROW).sortWithinPartitions(_ROW)
    return frame


def _udf_over(spark, uri: str, frame, capability: str, text_col: str):
    """A capability through ``mlflow.pyfunc.spark_udf``: every input column, then ``<capability>_<field>``."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    source, result_columns = _capability_io(uri, frame.columns, text_col)
    added = [f"{capability}_{c}" for c in result_columns]
    refuse_overwrite(frame.columns, added)
    schema = ", ".join(f"`{c}` {t}" for c, t in result_columns.items())
    udf = mlflow.pyfunc.spark_udf(spark, uri, result_type=schema, env_manager="local")
    inputs = F.struct(*[F.col(f"`{column}`").alias(name) for name, column in source.items()])
    scored = frame.withColumn("__result", udf(inputs))
    return scored.select(*[F.col(f"`{c}`") for c in frame.columns],
                         *[F.col(f"__result.`{c}`").alias(name) for c, name in zip(result_columns, added)])


def _pipeline_over(spark, uri: str, frame, text_col: str, tmp: Path):
    """The pipeline model on every executor through ``mapInPandas``: every input column, then
    ``RESPONSE_COLUMNS``. Not ``spark_udf``: it casts each struct field with numpy, so a missing string
    becomes the text "None" and a missing boolean fails the task, and a response has gaps by design (no
    answer on an ML-only request). The model folder is shipped to the executors (``addFile``), loaded once
    per Python worker and fed Arrow batches; each batch's request columns are built there too."""
    import mlflow.artifacts
    from pyspark.sql.types import BooleanType, DoubleType, StringType, StructField, StructType

    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp / "hybrid-model"))
    spark.sparkContext.addFile(local, recursive=True)
    name = Path(local).name
    spark_types = {"string": StringType(), "double": DoubleType(), "boolean": BooleanType()}
    schema = StructType([*frame.schema.fields,
                         *(StructField(c, spark_types[t], nullable=True) for c, t in RESPONSE_COLUMNS.items())])
    inputs = [c for c in frame.columns if c != _ROW]

    def predict_partition(batches):
        from pyspark import SparkFiles

        model = _loaded(SparkFiles.get(name))
        for batch in batches:
            batch = batch.reset_index(drop=True)
            predicted = typed(model.predict(request_frame(batch[inputs], text_col)))
            yield pd.concat([batch, predicted.reset_index(drop=True)], axis=1)

    return frame.mapInPandas(predict_partition, schema=schema)


_MODELS: dict[str, Any] = {}


def _loaded(path: str):
    """One load per Python worker (Spark reuses workers across tasks)."""
    if path not in _MODELS:
        import mlflow.pyfunc

        _MODELS[path] = mlflow.pyfunc.load_model(path)
    return _MODELS[path]


def _capability_io(uri: str, columns: list[str], text_col: str) -> tuple[dict[str, str], dict[str, str]]:
    """A single capability's inputs (its column -> the input's column) and its output schema, from the model's
    own signature (its metadata only: the executors load the model)."""
    model = model_info(uri)
    needed = model.signature.inputs.input_names()
    if "series_id" in needed:
        raise InputError("--engine spark scores row-wise capabilities; series capabilities need each series whole: "
                         "use --engine pandas")
    source = {c: text_col if c == "text" else c for c in needed}
    missing = [column for column in source.values() if column not in columns]
    if missing:
        raise InputError(f"input has no column(s) {missing} (columns: {[c for c in columns if c != _ROW]}); "
                         "pass --text-col")
    spark_types = {"string": "string", "double": "double", "float": "double", "long": "long", "integer": "long",
                   "boolean": "boolean"}
    result = {}
    for spec in model.signature.outputs.inputs:
        kind = getattr(spec.type, "name", str(spec.type))
        result[spec.name] = spark_types.get(kind, "string")
    return source, result

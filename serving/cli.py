"""The `hybrid` command: generate data, train, evaluate, promote, serve, score, demo.

Progress goes to stderr; commands meant for scripts end with one JSON object on stdout.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from models.base import InputError
from models.catalog import CAPABILITIES
from models.settings import get_settings

app = typer.Typer(
    help="Hybrid GenAI + classical-ML service: train models into MLflow, serve them with BentoML, score files.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # help texts name settings sections such as "[data].seed"; rich markup would swallow the brackets
    rich_markup_mode=None,
)

CapabilityArg = Annotated[str, typer.Argument(
    help=f"which capability: {', '.join(sorted(CAPABILITIES))} (llm-router may be written with a hyphen)",
    callback=lambda name: name.replace("-", "_"))]
TextCol = Annotated[Optional[str], typer.Option("--text-col", help="column holding the input text (default: text)")]
LabelCol = Annotated[Optional[str], typer.Option("--label-col", help="column holding the label (default: label; entities for ner)")]
Format = Annotated[str, typer.Option(
    "--format", help="how to read the files: table (.csv .tsv .jsonl .parquet), conll (TOKEN TAG lines, for ner), "
    "or auto (conll for .conll .txt .iob .bio, else table)")]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _emit(payload: dict[str, Any]) -> None:
    typer.echo(json.dumps(payload, default=str))


@app.command()
def data(
    out: Annotated[Optional[Path], typer.Option(help="folder to write to (default: [data].sample_dir)")] = None,
    seed: Annotated[Optional[int], typer.Option(help="random seed (default: [data].seed)")] = None,
) -> None:
    """Generate the bundled sample data: support tickets, knowledge-base articles, daily series."""
    from training.sample_data import write_sample_data

    settings = get_settings()
    paths = write_sample_data(out or settings.data.sample_dir, seed=settings.data.seed if seed is None else seed)
    _emit({name: str(path) for name, path in paths.items()})


@app.command()
def train(
    capability: CapabilityArg,
    train: Annotated[Optional[Path], typer.Option("--train", help="training file (.csv .tsv .jsonl .parquet, or CoNLL for ner); default: bundled sample data")] = None,
    test: Annotated[Optional[Path], typer.Option("--test", help="held-out test file; default: a stratified split of --train")] = None,
    valid: Annotated[Optional[Path], typer.Option("--valid", help="validation file, for capabilities that tune on it")] = None,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    format: Format = "auto",
    horizon: Annotated[Optional[int], typer.Option("--horizon", min=1, help="forecast only: steps ahead (default: [forecast].horizon)")] = None,
    collection: Annotated[Optional[str], typer.Option("--collection", help="reranker only: the collection its labelled queries search (default: kb)")] = None,
    strong_budget: Annotated[Optional[float], typer.Option("--strong-budget", help="llm-router only: send this share of validation prompts to the strongest tier (default: [llm_router].strong_budget)")] = None,
    quality_target: Annotated[Optional[float], typer.Option("--quality-target", help="llm-router only: the fewest strongest-tier calls whose validation PGR reaches this (default: [llm_router].quality_target)")] = None,
    no_register: Annotated[bool, typer.Option("--no-register", help="log the run but do not register or promote")] = False,
) -> None:
    """Train a capability, log it to MLflow, register it, and promote it if it beats the champion.

    The last line of output is one JSON object: run_id, model_uri, version, promoted, metrics.
    Hyperparameters come from hybrid.toml / HYBRID_<CAPABILITY>__* (e.g. HYBRID_INTENT__MODEL=lightgbm).
    anomaly and forecast read long series files: series_id, timestamp, value (and label, for anomaly), one row per
    observation; without --test, anomaly holds out whole series and forecast the last --horizon points of each.
    reranker reads labelled queries (query, doc_id[, relevance]: one row per relevant document) against
    --collection; by default the sample tickets, each relevant to the knowledge-base articles of its intent.
    confidence runs the trained champions on fresh, harder sample requests and learns when each part is right
    (or reads --train signal rows: request_id, part, numeric signals, correct); train it after the others.
    """
    from models.catalog import build_capability
    from training.datasets import load_splits
    from training.pipeline import train_capability

    settings = get_settings()
    if horizon is not None:
        if capability != "forecast":
            _fail(f"--horizon applies to forecast only, not {capability!r}")
        settings = settings.model_copy(update={"forecast": settings.forecast.model_copy(update={"horizon": horizon})})
    if collection is not None and capability != "reranker":
        _fail(f"--collection applies to reranker only, not {capability!r}")
    if strong_budget is not None or quality_target is not None:
        if capability != "llm_router":
            _fail(f"--strong-budget and --quality-target apply to llm-router only, not {capability!r}")
        # A goal given here replaces hybrid.toml's (both given here: the model refuses, naming both).
        goal = {"strong_budget": strong_budget, "quality_target": quality_target}
        settings = settings.model_copy(update={"llm_router": settings.llm_router.model_copy(update=goal)})
    try:
        model = build_capability(capability, settings)
        if capability == "reranker":
            splits = _reranker_splits(settings, collection or "kb", train, test)
        elif capability == "confidence":
            splits = _confidence_splits(settings, model, train, test)
        else:
            splits = load_splits(model, settings, train, test, valid, text_col, label_col, format)
        # Libraries print to stdout; keep it for the one JSON line.
        with redirect_stdout(sys.stderr):
            result = train_capability(model, splits, settings, register=not no_register)
    except InputError as error:
        _fail(str(error))
    _emit(result.summary())


def _reranker_splits(settings, collection: str, train: Path | None, test: Path | None):
    """Candidates from the collection for labelled queries (a file, or the sample tickets against the sample KB)."""
    from models.rag.factory import open_retriever
    from training.rerank_data import read_labelled_queries, reranker_splits, sample_labelled_queries

    retriever = open_retriever(collection, settings, load_reranker=False)
    labelled = read_labelled_queries(train) if train else sample_labelled_queries(settings)
    source = {"train_path": str(train) if train else "sample tickets x knowledge base"}
    return reranker_splits(retriever, labelled, settings, read_labelled_queries(test) if test else None, source)


def _confidence_splits(settings, model, train: Path | None, test: Path | None):
    """Signal rows (request_id, part, signals, correct): from files, or harvested by running the pipeline's
    champions on fresh, harder sample requests (fusion/confidence_data.py)."""
    from fusion.confidence_data import confidence_splits, harvest, sample_requests
    from fusion.pipeline import HybridPipeline
    from models.tables import read_table
    from training.datasets import DatasetSplits

    if train is not None:
        frame = read_table(train)
        if test is not None:
            return DatasetSplits(train=frame, test=read_table(test), description={"train_path": str(train), "test_path": str(test)})
        return confidence_splits(frame, model, settings, str(train))
    if test is not None:
        _fail("--test applies to confidence only together with --train (signal rows)")
    pipeline = HybridPipeline.from_settings(settings)
    frame = harvest(pipeline, sample_requests(settings))
    return confidence_splits(frame, model, settings, "fresh sample tickets (noisy copies) + unanswerable questions")


@app.command()
def evaluate(
    capability: CapabilityArg,
    test: Annotated[Path, typer.Option("--test", help="labelled test file (.csv .tsv .jsonl .parquet)")],
    model_uri: Annotated[Optional[str], typer.Option("--model-uri", help="default: models:/<capability>@champion")] = None,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    format: Format = "auto",
    collection: Annotated[Optional[str], typer.Option("--collection", help="reranker only: the collection the labelled queries search (default: kb)")] = None,
) -> None:
    """Evaluate a registered model on a labelled file; prints one JSON object of metrics.

    For reranker, --test holds labelled queries (query, doc_id[, relevance]) searched in --collection.
    """
    from models.catalog import capability_class
    from training.datasets import load_frame
    from models.registry import NoChampionError, champion_uri, connect_store, load_capability_from_uri

    settings = get_settings()
    try:
        capability_class(capability)  # an unknown name fails here, listing the known ones
        connect_store(settings)
        uri = model_uri or champion_uri(capability, settings)
        model = load_capability_from_uri(uri)
        if capability == "reranker":
            from models.rag.factory import open_retriever
            from training.rerank_data import candidate_frame, read_labelled_queries

            retriever = open_retriever(collection or "kb", settings, load_reranker=False)
            frame = candidate_frame(retriever, read_labelled_queries(test))
        else:
            frame = load_frame(model, test, text_col, label_col, format)
        metrics = model.evaluate(frame)
    except (InputError, NoChampionError) as error:
        _fail(str(error))
    _emit({"model_uri": uri, "test": str(test), "metrics": metrics})


@app.command()
def promote(
    capability: CapabilityArg,
    version: Annotated[int, typer.Argument(help="the registered version to make champion")],
) -> None:
    """Make a version the champion by hand (e.g. to roll back), bypassing the gate."""
    from mlflow.exceptions import MlflowException

    from models.registry import connect_store
    from training.registry import promote as set_champion

    settings = get_settings()
    try:
        set_champion(connect_store(settings), capability, version, settings)
    except MlflowException as error:
        _fail(f"cannot promote {capability} v{version}: {error.message}")
    _emit({"capability": capability, "champion": version})


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="default: [serve].host")] = None,
    port: Annotated[Optional[int], typer.Option(help="default: [serve].port")] = None,
) -> None:
    """Run the BentoML service in the foreground (POST /predict, /classify, /sentiment, /ner, /anomaly, /forecast, /search,
    /ask, /ask/stream, /route, /models; GET /readyz, /metrics).

    Every capability with a champion is served; an endpoint whose model is missing answers 404 naming the command to train it.
    """
    from models.rag.factory import collection_store
    from serving.server import serve_command
    from models.registry import champion_version, connect_store

    settings = get_settings()
    client = connect_store(settings)
    if (all(champion_version(client, name, settings.mlflow.champion_alias) is None for name in CAPABILITIES)
            and not collection_store(settings).names()):
        _fail(f"no champion model in {settings.tracking_uri} and no search collection: run `hybrid train intent` "
              "or `hybrid ingest PATH` (or `make demo`) first")
    command = serve_command(host or settings.serve.host, port or settings.serve.port)
    typer.echo(f"starting: {' '.join(command)}", err=True)
    os.execv(command[0], command)


@app.command()
def score(
    input: Annotated[str, typer.Option("--input", help="file to score (.csv .tsv .jsonl .parquet); with --engine "
                                       "spark also a folder of Parquet files or a cluster URI (hdfs://, s3a://)")],
    output: Annotated[str, typer.Option("--output", help="where to write it; format from the extension. With "
                                        "--engine spark, a path with no extension is a Parquet dataset written by "
                                        "the executors (for data that does not fit one machine)")],
    capabilities: Annotated[str, typer.Option("--capabilities", help="comma-separated capabilities to run")] = "intent",
    pipeline: Annotated[bool, typer.Option("--pipeline", help="score every row as one /predict request through the "
                                           "registered hybrid pipeline (columns: text, question, series, features, "
                                           "tasks, collection, tenant, horizon)")] = False,
    model_uri: Annotated[Optional[str], typer.Option("--model-uri", help="with --pipeline: the pipeline model "
                                                     "(default: models:/hybrid@champion)")] = None,
    engine: Annotated[str, typer.Option("--engine", help="pandas (chunked, resumable) or spark "
                                        "(Spark reads and writes the data; Parquet, CSV or JSONL)")] = "pandas",
    master: Annotated[str, typer.Option("--master", help="with --engine spark: the Spark master")] = "local[2]",
    chunk_size: Annotated[Optional[int], typer.Option("--chunk-size", min=1, help="rows per chunk "
                                                      "(default: [score].chunk_size)")] = None,
    text_col: Annotated[str, typer.Option("--text-col", help="column holding the text")] = "text",
) -> None:
    """Score a file in batch with the champion models; keeps every input column and the row order.

    Per capability (default): adds <capability>_<field> columns. Text capabilities read --text-col; anomaly reads a
    long series file (series_id, timestamp, value) and adds anomaly_score and anomaly_alarm to every row, each series
    scored from its own past only.

    With --pipeline: each row is one request, answered as /predict would (route_path, <capability>_label and
    _confidence, answer, confidence_overall, needs_review, review_reasons, degraded, error). A killed pandas run
    started again with the same arguments continues after the last finished chunk. A row that fails validation
    gets its message in the error column and the job goes on.
    """
    from models.registry import NoChampionError

    settings = get_settings()
    if engine not in ("pandas", "spark"):
        _fail(f"--engine: {engine!r} is not one of pandas, spark")
    names = [c.strip() for c in capabilities.split(",") if c.strip()]
    unknown = [c for c in names if c not in CAPABILITIES]
    if not pipeline and (not names or unknown):
        _fail(f"--capabilities: unknown {unknown or names}; choose from {sorted(CAPABILITIES)}")
    try:
        if engine == "spark":
            from serving.spark_batch import score_with_spark

            report = score_with_spark(input, output, settings, master=master, pipeline=pipeline, capabilities=names,
                                      model_uri=model_uri, text_col=text_col)
            _emit(report)
        elif pipeline:
            from serving.pipeline_batch import score_pipeline_file

            result = score_pipeline_file(Path(input), Path(output), settings, model_uri=model_uri, text_col=text_col,
                                         chunk_size=chunk_size, say=lambda m: typer.echo(m, err=True))
            _emit({"rows": result.rows, "output": str(result.output), "model_uri": result.model_uri,
                   "chunks": result.chunks, "resumed_chunks": result.resumed_chunks, "rows_with_error": result.errors})
        else:
            from serving.batch import score_file

            if chunk_size:
                settings = settings.model_copy(update={"score": settings.score.model_copy(update={"chunk_size": chunk_size})})
            report = score_file(Path(input), Path(output), names, settings, text_col=text_col)
            _emit({"rows": report.rows, "output": str(report.output), "columns_added": report.columns_added,
                   "models": report.models})
    except (InputError, NoChampionError) as error:
        _fail(str(error))


@app.command()
def register(
    what: Annotated[str, typer.Argument(help="what to register: pipeline (the whole hybrid pipeline as models:/hybrid)")],
    tickets: Annotated[int, typer.Option("--tickets", min=5, help="fresh sample tickets for the end-to-end evaluation "
                                         "(each at four noise rates, plus unanswerable questions)")] = 40,
    register_model: Annotated[bool, typer.Option("--register/--no-register", help="register the version and gate it")] = True,
) -> None:
    """Log the hybrid pipeline as one MLflow model that pins every champion it composes.

    Copies today's champions (dispatcher, every ML capability, confidence scorer, router, injection detector,
    reranker) and the search collections' current versions into one pyfunc model, evaluates it end to end on fresh
    labelled requests, and promotes it to models:/hybrid@champion unless it does worse than the champion on the
    same requests. The model loads anywhere with mlflow.pyfunc.load_model, with no registry look-ups.
    """
    from fusion.pipeline_model import register_pipeline

    if what != "pipeline":
        _fail(f"register: {what!r} is not something to register; try `hybrid register pipeline`")
    try:
        result = register_pipeline(get_settings(), n_tickets=tickets, register=register_model)
    except InputError as error:
        _fail(str(error))
    _emit(result.summary())


@app.command()
def ingest(
    path: Annotated[Optional[Path], typer.Argument(help="a file or a folder of .txt .md .html .pdf .jsonl documents")] = None,
    collection: Annotated[str, typer.Option("--collection", help="the collection to add to (created if new)")] = "kb",
    delete: Annotated[Optional[list[str]], typer.Option("--delete", help="remove a document by its doc_id (repeatable)")] = None,
) -> None:
    """Add documents to a search collection: chunk, embed, and index them (dense + BM25), atomically.

    Re-ingesting unchanged files adds nothing; a changed file replaces its old chunks; files that cannot be
    read are reported and skipped. Ends with one JSON object: counts, the new version, skipped files.
    """
    from models.rag.factory import build_ingestor
    from models.rag.loaders import load_documents

    if path is None and not delete:
        _fail("give a PATH to ingest, or --delete DOC_ID")
    settings = get_settings()
    try:
        documents, skipped = load_documents(path) if path is not None else ([], [])
        for item in skipped:
            typer.echo(f"skipped {item.path}: {item.reason}", err=True)
        if path is not None and not documents:
            _fail(f"{path}: no readable documents ({len(skipped)} skipped)")
        with redirect_stdout(sys.stderr):
            report = build_ingestor(settings).ingest(collection, documents, delete=delete or [], skipped=skipped)
    except InputError as error:
        _fail(str(error))
    _emit(report.summary())


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="what to look for, in words")],
    collection: Annotated[str, typer.Option("--collection", help="the collection to search")] = "kb",
    k: Annotated[int, typer.Option("--k", min=1, max=1000, help="how many chunks to return")] = 10,
    mode: Annotated[Optional[str], typer.Option(
        "--mode", help="dense | bm25 | hybrid (fused) | rerank (hybrid, reordered by the trained reranker); "
        "default: [rag].default_mode")] = None,
    context: Annotated[bool, typer.Option("--context", help="print the assembled context (numbered passages within "
                                          "[rag].context_tokens, duplicates dropped) instead of JSON")] = False,
) -> None:
    """Search a collection; prints one JSON object with the hits, best first."""
    from models.rag.context import assemble_context
    from models.rag.factory import open_retriever
    from models.rag.tokens import TokenCounter

    settings = get_settings()
    mode = mode or settings.rag.default_mode
    try:
        retriever = open_retriever(collection, settings, load_reranker=mode == "rerank")
        hits = retriever.search(query, k=k, mode=mode)
    except InputError as error:
        _fail(str(error))
    if context:
        assembled = assemble_context(hits, TokenCounter(settings.rag.embedding_model), settings.rag.context_tokens)
        typer.echo(assembled.render())
        typer.echo(f"({len(assembled.passages)} passages, {assembled.tokens} tokens; dropped "
                   f"{assembled.duplicates_dropped} duplicates, {assembled.over_budget_dropped} over budget)", err=True)
        return
    _emit({"collection": collection, "version": retriever.collection.version, "mode": mode,
           "hits": [hit.__dict__ for hit in hits]})


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="the question, in words")],
    collection: Annotated[str, typer.Option("--collection", help="the collection whose passages answer it")] = "kb",
    tier: Annotated[Optional[str], typer.Option("--tier", help="answer with this [llm.tiers] tier instead of the router's choice")] = None,
    tenant: Annotated[str, typer.Option("--tenant", help="the semantic cache's scope")] = "default",
    stream: Annotated[bool, typer.Option("--stream", help="print the answer as it is written, then the JSON")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="neither read nor write the semantic cache")] = False,
) -> None:
    """Answer a question from a collection, citing its passages; prints one JSON object (the /ask response).

    With no LLM endpoint configured ([llm.tiers] in hybrid.toml) the answer is extractive: the retrieved sentences
    that best answer the question, each citing its passage. Otherwise the router picks a tier, failures fall back
    along [llm].fallback and then to the extractive answer, and `degraded` says what happened.
    """
    from fusion.ask import AskRequest
    from fusion.pipeline import HybridPipeline

    settings = get_settings()
    request = AskRequest(question, collection, tenant, tier, {}, use_cache=not no_cache)
    try:
        with redirect_stdout(sys.stderr):
            pipeline = HybridPipeline.from_settings(settings)
        response = None
        for event in pipeline.ask_stream(request, stream=stream):
            if "token" in event and stream:
                typer.echo(event["token"], nl=False)
            response = event.get("response", response)
    except InputError as error:
        _fail(str(error))
    if stream:
        typer.echo()
    typer.echo(response.model_dump_json())


@app.command()
def predict(
    text: Annotated[Optional[str], typer.Argument(help="a message, question or instruction")] = None,
    question: Annotated[Optional[str], typer.Option("--question", help="what the GenAI path answers (default: TEXT)")] = None,
    series: Annotated[Optional[Path], typer.Option("--series", help="a long series file (series_id, timestamp, value)")] = None,
    features: Annotated[Optional[str], typer.Option("--features", help='one feature row as JSON, e.g. \'{"amount": 912.5}\'')] = None,
    tasks: Annotated[Optional[str], typer.Option("--tasks", help="comma-separated tasks to run instead of the input "
                                                  "classifier's choice: answer, intent, sentiment, ner, anomaly, "
                                                  "forecast, tabular_anomaly")] = None,
    collection: Annotated[str, typer.Option("--collection", help="the collection the GenAI path answers from")] = "kb",
    horizon: Annotated[Optional[int], typer.Option("--horizon", min=1, help="forecast steps ahead")] = None,
) -> None:
    """Run one request through the whole pipeline, as POST /predict does; prints the same JSON.

    The input classifier (`hybrid train dispatcher`) decides which paths run unless --tasks says; the ML models run,
    the GenAI path answers with their results as facts, and the confidence scorer (`hybrid train confidence`) says
    how far to trust each part. A capability with no champion is skipped and named in `degraded`.
    """
    from pydantic import ValidationError

    from fusion.pipeline import HybridPipeline
    from fusion.schemas import PredictRequest
    from models.registry import NoChampionError

    settings = get_settings()
    try:
        body: dict[str, Any] = {"text": text, "question": question, "collection": collection, "horizon": horizon}
        if features is not None:
            body["features"] = json.loads(features)
        if tasks is not None:
            body["tasks"] = [t.strip() for t in tasks.split(",") if t.strip()]
        if series is not None:
            body["series"] = _series_body(series)
        request = PredictRequest(**body)
        with redirect_stdout(sys.stderr):
            pipeline = HybridPipeline.from_settings(settings)
            response = pipeline.predict(request)
    except json.JSONDecodeError as error:
        _fail(f"--features: not JSON ({error}); give one object, e.g. '{{\"amount\": 912.5}}'")
    except ValidationError as error:
        _fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in error.errors()))
    except (InputError, NoChampionError) as error:
        _fail(str(error))
    typer.echo(response.model_dump_json())


def _series_body(path: Path) -> list[dict[str, Any]]:
    """A long series file as the request's list of series."""
    from models.tables import read_table

    frame = read_table(path)
    missing = [c for c in ("series_id", "timestamp", "value") if c not in frame.columns]
    if missing:
        raise InputError(f"--series: {path} lacks column(s) {missing}; series files are long: series_id, timestamp, value")
    return [{"series_id": str(name), "timestamps": rows["timestamp"].astype(str).tolist(), "values": rows["value"].tolist()}
            for name, rows in frame.groupby("series_id", sort=False)]


@app.command()
def demo(
    keep_running: Annotated[bool, typer.Option("--keep-running", help="leave the server up after the sample request")] = False,
) -> None:
    """The whole path on sample data: generate, train, register, promote, serve, request, stop."""
    from serving.demo import run_demo

    try:
        run_demo(get_settings(), keep_running=keep_running)
    except (InputError, RuntimeError, TimeoutError) as error:
        _fail(str(error))


if __name__ == "__main__":
    app()

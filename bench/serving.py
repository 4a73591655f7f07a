"""What serving costs: the same requests in-process and over HTTP (a real `bentoml serve` on loopback), in
one run, plus batch scoring against the raw model and Spark beside pandas.

    .venv/bin/python bench/serving.py          # after `make demo` (and `hybrid register pipeline` for the batch part)

Closed-loop load: ``c`` clients (threads), each sending its next request when the last one is answered,
for ``--seconds`` per level, at concurrency 1, 4, 16, 64. Requests (fresh sample tickets, each text sent
once in the whole run, every kind and level on texts of its own, so nothing is answered from memory of an
earlier identical text):
- ``/classify``: one ticket per request (intent);
- ``/predict`` ``ml text`` (tasks intent, sentiment, ner), ``series`` (anomaly, forecast on a sample
  series), ``genai`` (answer only, offline extractive generator), ``both`` (routed by the dispatcher).
Over HTTP ``/classify`` runs twice: as configured (adaptive batching off by default) and with BentoML's
adaptive batching on.

Ratios (the machine is noisy: only figures measured side by side are compared):
- HTTP / in-process throughput on ``/classify``, each at its best concurrency (target >= 0.70);
- p99 / p50 at half of saturation: an open-loop load (requests sent on a fixed schedule, whatever the
  answers) at half of the best closed-loop ``/classify`` throughput over HTTP (target <= 3);
- batch scoring rows/s over the raw model's rows/s on the same texts (target >= 0.80): `hybrid score`'s
  code path (read, chunks, progress bar, write) against ``predict`` on the whole frame in memory; and the
  pipeline's `hybrid score --pipeline` against its model's ``predict`` on the same requests;
- Spark ``local[2]`` rows/s beside pandas, for intent and for the pipeline (``--no-spark`` skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

# the project first: this file's own name would otherwise shadow the `serving` package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion.confidence_data import sample_series  # noqa: E402
from fusion.pipeline import HybridPipeline  # noqa: E402
from fusion.schemas import PredictRequest  # noqa: E402
from models.settings import get_settings  # noqa: E402
from report import machine, write_report  # noqa: E402
from serving.server import ServiceProcess  # noqa: E402
from training.sample_data import generate_tickets  # noqa: E402

PREDICT_KINDS = ("ml text", "series", "genai", "both")


def predict_body(kind: str, text: str, series: dict) -> dict:
    if kind == "ml text":
        return {"text": text, "tasks": ["intent", "sentiment", "ner"]}
    if kind == "series":
        return {"series": [series], "tasks": ["anomaly", "forecast"], "horizon": 7}
    if kind == "genai":
        return {"text": text, "tasks": ["answer"]}
    return {"text": text}


def closed_loop(call, texts: list[str], concurrency: int, seconds: float) -> dict:
    """``concurrency`` clients calling ``call(text)`` back to back for ``seconds``; each text used once."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    position = [0]
    deadline = time.perf_counter() + seconds

    def client() -> None:
        while time.perf_counter() < deadline:
            with lock:
                if position[0] >= len(texts):
                    return
                text = texts[position[0]]
                position[0] += 1
            started = time.perf_counter()
            try:
                call(text)
            except Exception:  # noqa: BLE001 - counted and reported, the load goes on
                with lock:
                    errors[0] += 1
                continue
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(client)
    wall = time.perf_counter() - started
    return summary(latencies, wall, errors[0])


def open_loop(call, texts: list[str], rate: float, seconds: float) -> dict:
    """Requests sent on a fixed schedule (``rate`` per second), however long the answers take."""
    n = min(len(texts), max(10, int(rate * seconds)))
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = time.perf_counter() + 0.05

    def one(i: int) -> None:
        time.sleep(max(0.0, start + i / rate - time.perf_counter()))
        began = time.perf_counter()
        try:
            call(texts[i])
        except Exception:  # noqa: BLE001
            with lock:
                errors[0] += 1
            return
        with lock:
            latencies.append((time.perf_counter() - began) * 1000)

    with ThreadPoolExecutor(64) as pool:
        list(pool.map(one, range(n)))
    return {**summary(latencies, time.perf_counter() - start, errors[0]), "offered_rps": rate}


def summary(latencies: list[float], wall: float, errors: int) -> dict:
    values = np.array(latencies) if latencies else np.array([np.nan])
    return {"requests": len(latencies), "errors": errors, "rps": len(latencies) / wall if wall else 0.0,
            "p50_ms": float(np.nanmedian(values)), "p99_ms": float(np.nanpercentile(values, 99))}


def load_levels(call, pool: list[str], levels: list[int], seconds: float) -> dict:
    """One closed-loop run per level, each on texts of its own: serving remembers recent texts (embeddings,
    entities), so a level reusing an earlier level's texts would be timed faster than new traffic."""
    call(pool[-1])  # first call outside the timing, on a text no level sends
    size = (len(pool) - 1) // len(levels)
    return {str(c): closed_loop(call, pool[k * size:(k + 1) * size], c, seconds) for k, c in enumerate(levels)}


def best(levels: dict) -> dict:
    concurrency, figures = max(levels.items(), key=lambda kv: kv[1]["rps"])
    return {"concurrency": int(concurrency), **figures}


def http_section(settings, env: dict, pools: dict, series: dict, levels: list[int], seconds: float, kinds,
                 open_loop_seconds: float | None = None) -> dict:
    """Closed-loop levels for /classify and each /predict kind over HTTP; with ``open_loop_seconds``, then an
    open-loop /classify load at half of its best closed-loop rate on the same server (``"open_loop"``)."""
    port = 3000 + os.getpid() % 2000
    with tempfile.TemporaryDirectory() as tmp, ServiceProcess(port=port, log_path=Path(tmp) / "server.log", env=env) as server:
        local = threading.local()

        def client() -> httpx.Client:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=server.url, timeout=60)
            return local.client

        def classify(text: str) -> None:
            client().post("/classify", json={"texts": [text]}).raise_for_status()

        out = {"/classify": load_levels(classify, pools["classify"], levels, seconds)}
        for kind in kinds:
            def predict(text: str, kind=kind) -> None:
                client().post("/predict", json=predict_body(kind, text, series)).raise_for_status()
            out[f"/predict {kind}"] = load_levels(predict, pools[kind], levels, seconds)
        if open_loop_seconds:
            out["open_loop"] = open_loop(classify, pools["open_loop"], best(out["/classify"])["rps"] / 2, open_loop_seconds)
        return out


def in_process_section(pipeline: HybridPipeline, pools: dict, series: dict, levels: list[int], seconds: float) -> dict:
    def classify(text: str) -> None:
        pipeline.champions.predict("intent", pd.DataFrame({"text": [text]}))

    out = {"/classify": load_levels(classify, pools["classify"], levels, seconds)}
    for kind in PREDICT_KINDS:
        def predict(text: str, kind=kind) -> None:
            pipeline.predict(PredictRequest(**predict_body(kind, text, series)))
        out[f"/predict {kind}"] = load_levels(predict, pools[kind], levels, seconds)
    return out


def batch_section(settings, texts: list[str], pipeline_rows: int, spark: bool) -> dict:
    from fusion.champions import Champions
    from fusion.table import request_frame
    from serving.batch import score_file
    from serving.pipeline_batch import load_pipeline_model, score_pipeline_file

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "texts.parquet"
        pd.DataFrame({"text": texts}).to_parquet(source, index=False)
        champions = Champions.from_registry(["intent"], settings)
        frame = pd.DataFrame({"text": texts})
        champions.predict("intent", frame.head(50))
        started = time.perf_counter()
        champions.predict("intent", frame)
        raw = len(texts) / (time.perf_counter() - started)
        started = time.perf_counter()
        score_file(source, Path(tmp) / "scored.parquet", ["intent"], settings)
        batch = len(texts) / (time.perf_counter() - started)
        out["intent"] = {"rows": len(texts), "raw_rows_per_s": raw, "batch_rows_per_s": batch, "ratio": batch / raw}

        # three sets of distinct texts: the model remembers texts it saw (embeddings, entities), so the raw run,
        # the batch run and Spark must not share any, or whichever comes later is flattered
        def requests_of(start: int) -> pd.DataFrame:
            chunk = texts[start:start + pipeline_rows]
            return pd.DataFrame({"text": chunk, "tasks": ['["intent", "sentiment", "ner"]'] * len(chunk)})

        raw_requests, requests = requests_of(0), requests_of(pipeline_rows)
        requests_path, spark_requests_path = Path(tmp) / "requests.parquet", Path(tmp) / "spark_requests.parquet"
        requests.to_parquet(requests_path, index=False)
        requests_of(2 * pipeline_rows).to_parquet(spark_requests_path, index=False)
        try:
            model = load_pipeline_model(f"models:/hybrid@{settings.mlflow.champion_alias}", settings)
        except Exception as error:  # noqa: BLE001
            out["pipeline"] = {"skipped": f"{error}"}
            model = None
        if model is not None:
            model.predict(request_frame(raw_requests.tail(3)))
            started = time.perf_counter()
            model.predict(request_frame(raw_requests))
            raw = pipeline_rows / (time.perf_counter() - started)
            started = time.perf_counter()
            score_pipeline_file(requests_path, Path(tmp) / "pipeline.parquet", settings, model=model, progress=False,
                                say=lambda m: None)
            batch = pipeline_rows / (time.perf_counter() - started)
            out["pipeline"] = {"rows": pipeline_rows, "raw_rows_per_s": raw, "batch_rows_per_s": batch, "ratio": batch / raw}

        if spark:
            from serving.spark_batch import score_with_spark, spark_session

            session = spark_session("local[2]")
            try:
                started = time.perf_counter()
                score_with_spark(source, Path(tmp) / "spark.parquet", settings, pipeline=False, capabilities=["intent"],
                                 spark=session)
                out["intent"]["spark_local2_rows_per_s"] = len(texts) / (time.perf_counter() - started)
                if model is not None:
                    started = time.perf_counter()
                    score_with_spark(spark_requests_path, Path(tmp) / "spark_pipeline.parquet", settings, spark=session)
                    out["pipeline"]["spark_local2_rows_per_s"] = pipeline_rows / (time.perf_counter() - started)
            finally:
                session.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="closed-loop seconds per concurrency level")
    parser.add_argument("--concurrency", default="1,4,16,64", help="comma-separated client counts")
    parser.add_argument("--batch-rows", type=int, default=20000, help="texts for the intent batch comparison")
    parser.add_argument("--pipeline-rows", type=int, default=200, help="requests for the pipeline batch comparison")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark local[2] figures")
    parser.add_argument("--batch-only", action="store_true", help="only the batch and Spark comparison")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "serving.json")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    if not levels or min(levels) < 1 or args.seconds <= 0:
        parser.error("--concurrency needs positive client counts and --seconds must be positive")

    began = time.perf_counter()
    settings = get_settings()
    # enough distinct tickets that every kind and level gets texts of its own (about 1,600 each)
    texts = generate_tickets(n=max(args.batch_rows, 40000), seed=args.seed)["text"].tolist()
    distinct = list(dict.fromkeys(texts))
    names = ["classify", *PREDICT_KINDS, "open_loop"]
    share = len(distinct) // len(names)
    pools = {name: distinct[i * share:(i + 1) * share] for i, name in enumerate(names)}
    series = sample_series(settings)

    if args.batch_only:
        batch = batch_section(settings, texts[: args.batch_rows], args.pipeline_rows, spark=not args.no_spark)
        report = {"batch": batch, "args": {k: str(v) for k, v in vars(args).items()},
                  "seconds": time.perf_counter() - began, "machine": machine()}
        write_report(report, args.out)
        print(json.dumps(batch, indent=2))
        return
    print("in-process ...", file=sys.stderr)
    pipeline = HybridPipeline.from_settings(settings)
    in_process = in_process_section(pipeline, pools, series, levels, args.seconds)
    del pipeline
    print("HTTP, as configured (then open loop at half of saturation) ...", file=sys.stderr)
    http = http_section(settings, {}, pools, series, levels, args.seconds, PREDICT_KINDS,
                        open_loop_seconds=max(args.seconds, 8.0))
    half = http.pop("open_loop")
    print("HTTP, adaptive batching on ...", file=sys.stderr)
    batched = http_section(settings, {"HYBRID_SERVE__ADAPTIVE_BATCHING": "true"}, pools, series, levels,
                           args.seconds, kinds=())
    print("batch scoring ...", file=sys.stderr)
    batch = batch_section(settings, texts[: args.batch_rows], args.pipeline_rows, spark=not args.no_spark)

    classify_http, classify_local = best(http["/classify"]), best(in_process["/classify"])
    ratios = {
        "classify_http_over_in_process": classify_http["rps"] / classify_local["rps"],
        "classify_p99_over_p50_at_half_saturation": half["p99_ms"] / half["p50_ms"],
        "intent_batch_over_raw": batch["intent"]["ratio"],
        "pipeline_batch_over_raw": batch.get("pipeline", {}).get("ratio"),
        "classify_batching_on_over_as_configured": best(batched["/classify"])["rps"] / classify_http["rps"],
    }
    report = {"in_process": in_process, "http": http, "http_adaptive_batching": batched,
              "serve": {**settings.serve.model_dump(), "workers": settings.serve.worker_count()},
              "open_loop_half_saturation": half, "batch": batch, "ratios": ratios,
              "targets": {"classify_http_over_in_process": ">= 0.70", "classify_p99_over_p50_at_half_saturation": "<= 3",
                          "intent_batch_over_raw": ">= 0.80"},
              "args": {k: str(v) for k, v in vars(args).items()}, "seconds": time.perf_counter() - began,
              "machine": machine()}
    write_report(report, args.out)

    print(f"\n{'endpoint':24s} {'mode':12s} " + " ".join(f"{'c=' + str(c):>22s}" for c in levels))
    for label, section in (("in-process", in_process), ("http", http), ("http, batching", batched)):
        for endpoint, by_level in section.items():
            cells = " ".join(f"{v['rps']:7.1f}/s {v['p50_ms']:5.0f}/{v['p99_ms']:5.0f}ms" for v in by_level.values())
            print(f"{endpoint:24s} {label:12s} {cells}")
    print(f"\nopen loop at {half['offered_rps']:.1f}/s: p50 {half['p50_ms']:.0f} ms, p99 {half['p99_ms']:.0f} ms")
    print(json.dumps({"ratios": ratios, "batch": batch}, indent=2))
    print(f"report: {args.out} ({report['seconds']:.0f} s)")


if __name__ == "__main__":
    main()

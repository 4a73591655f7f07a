"""`hybrid demo`: the whole path on the bundled sample data, narrated on the terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pandas as pd

from fusion.confidence_data import confidence_splits, harvest, sample_requests
from fusion.pipeline import HybridPipeline
from models.catalog import build_capability
from models.rag.factory import build_ingestor
from models.rag.loaders import load_documents
from models.settings import HybridSettings
from serving.server import ServiceProcess, free_port, port_in_use
from training.datasets import load_splits, sample_data_dir
from training.pipeline import train_capability

SAMPLE_REQUEST = {
    "texts": [
        "I was charged twice for order 48213, please refund the extra payment",
        "my new card still hasnt arrived and it's been two weeks. Regards, Maria Garcia",
        "How do I reset my password? The login page keeps rejecting me.",
    ]
}
SAMPLE_SERIES = "refunds_amount"
SAMPLE_QUESTION = "my card was stolen, can I still use it if I find it?"
#: three requests to /predict: text alone, a series alone, and both (the input classifier routes each)
PREDICT_TEXT = "This is Maria Garcia from Redwood Retail. I was charged twice for order 48213 and I am furious, how do I get my money back?"
PREDICT_MIXED = "Refunds jumped this month. Why could that be, and what should we check first?"
# Enough for the sample tickets (dev F1 stops improving after the first epochs); `hybrid train ner` uses [ner].max_epochs.
DEMO_NER_EPOCHS = 2
#: fresh sample tickets the demo's confidence scorer is harvested on (each at four noise rates)
DEMO_CONFIDENCE_TICKETS = 40
#: what /predict dispatches to, then the models around the GenAI path
DEMO_CAPABILITIES = ("intent", "sentiment", "ner", "anomaly", "forecast", "dispatcher", "injection", "llm_router")


def run_demo(settings: HybridSettings, keep_running: bool = False) -> None:
    _say(f"[1/4] sample data in {sample_data_dir(settings)}")

    _say(f"[2/4] training {', '.join(DEMO_CAPABILITIES)} (MLflow store: {settings.tracking_uri})")
    demo_settings = settings.model_copy(update={"ner": settings.ner.model_copy(update={"max_epochs": DEMO_NER_EPOCHS})})
    for name in DEMO_CAPABILITIES:
        model = build_capability(name, demo_settings)
        result = train_capability(model, load_splits(model, settings), settings)
        _say(json.dumps(result.summary()))
    _say("        indexing the sample knowledge base for search (collection 'kb': MiniLM vectors + BM25)")
    documents, _ = load_documents(sample_data_dir(settings) / "knowledge_base.jsonl")
    _say(json.dumps(build_ingestor(settings).ingest("kb", documents).summary()))
    _say("        and the confidence scorer, on the champions' outcomes on fresh, harder sample requests")
    scorer = build_capability("confidence", settings)
    requests = sample_requests(settings, n_tickets=DEMO_CONFIDENCE_TICKETS)
    frame = harvest(HybridPipeline.from_settings(settings), requests)
    result = train_capability(scorer, confidence_splits(frame, scorer, settings, "demo sample requests"), settings)
    _say(json.dumps(result.summary()))

    host, port = settings.serve.host, settings.serve.port
    if port_in_use(host, port):
        port = free_port(host)
        _say(f"port {settings.serve.port} is busy; using {port}")
    log_path = Path("mlruns/demo-server.log")
    _say(f"[3/4] starting the BentoML service on http://{host}:{port} (log: {log_path})")
    server = ServiceProcess(host, port, log_path=log_path).start()
    try:
        _say(f"[4/4] POST {server.url}/classify {json.dumps(SAMPLE_REQUEST)}")
        print(json.dumps(_post(f"{server.url}/classify"), indent=2))
        series = _sample_series(settings)
        for title, body in (("a customer message", {"text": PREDICT_TEXT}),
                            (f"the sample series {series['series_id']!r} ({len(series['values'])} days)", {"series": [series]}),
                            ("a question about that series", {"text": PREDICT_MIXED, "series": [series]})):
            _say(f"POST {server.url}/predict with {title}: classify, dispatch, fuse, score")
            print(json.dumps(_fused(_post(f"{server.url}/predict", body)), indent=2))
        _say(f"POST {server.url}/ask {SAMPLE_QUESTION!r} (retrieve, route, generate, check; offline: extractive)")
        answer = httpx.post(f"{server.url}/ask", json={"question": SAMPLE_QUESTION}, timeout=60).raise_for_status().json()
        print(json.dumps({k: answer[k] for k in ("answer", "generator", "route", "citations", "guardrail_events", "degraded")},
                         indent=2))
    finally:
        if keep_running:
            _say(f"server left running at {server.url} (pid {server.process.pid}); stop it with: kill {server.process.pid}")
        else:
            server.stop()
            _say("server stopped. `make serve` runs it in the foreground.")


def _fused(response: dict) -> dict:
    """The parts of a /predict response worth reading on a terminal."""
    results = response["results"]
    shown = {name: value for name, value in results.items() if value is not None and name not in ("anomaly", "forecast")}
    for item in results.get("anomaly") or []:
        shown["anomaly"] = {"series_id": item["series_id"], "alarms": item["anomalies"]}
    for item in results.get("forecast") or []:
        shown["forecast"] = {"series_id": item["series_id"], "model": item["model"],
                             "next": [round(v, 1) for v in item["forecast"][:3]]}
    answer = response["answer"]
    return {"route": response["route"], "results": shown,
            "answer": answer and {"text": answer["answer"], "citations": [c["doc_id"] for c in answer["citations"]]},
            "conflicts": response["conflicts"], "confidence": response["confidence"],
            "needs_review": response["needs_review"], "review_reasons": response["review_reasons"],
            "degraded": response["degraded"], "timings_ms": {k: response["timings_ms"][k] for k in ("ml", "total")
                                                             if k in response["timings_ms"]}}


def _sample_series(settings: HybridSettings) -> dict:
    series = pd.read_csv(sample_data_dir(settings) / "series.csv")
    one = series[series["series_id"] == SAMPLE_SERIES]
    return {"series_id": SAMPLE_SERIES, "timestamps": one["timestamp"].tolist(), "values": one["value"].tolist()}


def _post(url: str, body: dict = SAMPLE_REQUEST):
    response = httpx.post(url, json=body, timeout=60)
    response.raise_for_status()
    return response.json()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

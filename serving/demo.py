"""`hybrid demo`: the whole path on the bundled sample data, narrated on the terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pandas as pd

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
# Enough for the sample tickets; `hybrid train ner` uses [ner].max_epochs.
DEMO_NER_EPOCHS = 3


def run_demo(settings: HybridSettings, keep_running: bool = False) -> None:
    _say(f"[1/4] sample data in {sample_data_dir(settings)}")

    _say("[2/4] training the intent classifier, the entity recognizer, the anomaly detector, the prompt-injection "
         "detector and the LLM router (MLflow store: %s)" % settings.tracking_uri)
    demo_settings = settings.model_copy(update={"ner": settings.ner.model_copy(update={"max_epochs": DEMO_NER_EPOCHS})})
    for name in ("intent", "ner", "anomaly", "injection", "llm_router"):
        model = build_capability(name, demo_settings)
        result = train_capability(model, load_splits(model, settings), settings)
        _say(json.dumps(result.summary()))
    _say("        and indexing the sample knowledge base for search (collection 'kb': MiniLM vectors + BM25)")
    documents, _ = load_documents(sample_data_dir(settings) / "knowledge_base.jsonl")
    _say(json.dumps(build_ingestor(settings).ingest("kb", documents).summary()))

    host, port = settings.serve.host, settings.serve.port
    if port_in_use(host, port):
        port = free_port(host)
        _say(f"port {settings.serve.port} is busy; using {port}")
    log_path = Path("mlruns/demo-server.log")
    _say(f"[3/4] starting the BentoML service on http://{host}:{port} (log: {log_path})")
    server = ServiceProcess(host, port, log_path=log_path).start()
    try:
        _say(f"[4/4] POST {server.url}/classify and /ner {json.dumps(SAMPLE_REQUEST)}")
        intents, entities = (_post(f"{server.url}/{route}") for route in ("classify", "ner"))
        answer = [
            {"text": text, "intent": intent, "entities": [{k: e[k] for k in ("label", "text", "score")} for e in found]}
            for text, intent, found in zip(SAMPLE_REQUEST["texts"], intents, entities)
        ]
        print(json.dumps(answer, indent=2))
        series = _sample_series(settings)
        _say(f"POST {server.url}/anomaly with the sample series {series['series_id']!r} ({len(series['values'])} days)")
        [found] = _post(f"{server.url}/anomaly", {"series": [series]})
        print(json.dumps({"series_id": found["series_id"], "alarms": found["anomalies"]}, indent=2))
        _say(f"POST {server.url}/search {SAMPLE_QUESTION!r} (hybrid: dense + BM25, fused)")
        result = httpx.post(f"{server.url}/search", json={"query": SAMPLE_QUESTION, "k": 2}, timeout=30).raise_for_status().json()
        print(json.dumps([{k: hit[k] for k in ("doc_id", "title", "score", "text")} for hit in result["hits"]], indent=2))
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


def _sample_series(settings: HybridSettings) -> dict:
    series = pd.read_csv(sample_data_dir(settings) / "series.csv")
    one = series[series["series_id"] == SAMPLE_SERIES]
    return {"series_id": SAMPLE_SERIES, "timestamps": one["timestamp"].tolist(), "values": one["value"].tolist()}


def _post(url: str, body: dict = SAMPLE_REQUEST) -> list:
    response = httpx.post(url, json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

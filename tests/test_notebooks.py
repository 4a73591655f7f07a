"""Notebooks are executed top to bottom, against the session's trained champion."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REPO

pytestmark = pytest.mark.integration


def execute(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    # The kernel inherits this process's environment, so it sees the session's MLflow store.
    NotebookClient(notebook, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(path.parent)}}).execute()
    return notebook


def outputs_of(notebook: nbformat.NotebookNode) -> list[dict]:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]


def test_intent_notebook_shows_champion_metrics_and_plots(champion) -> None:
    notebook = execute(REPO / "notebooks" / "01_intent.ipynb")
    outputs = outputs_of(notebook)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(str(o.get("data", {}).get("text/plain", "")) + o.get("text", "") for o in outputs)
    assert str(champion.run_id) in text
    assert "macro_f1" in text and "accuracy" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # confusion matrix, per-intent F1, reliability


def text_of(outputs: list[dict]) -> str:
    return "\n".join(str(o.get("data", {}).get("text/plain", "")) + o.get("text", "") for o in outputs)


def errors_of(outputs: list[dict]) -> list[str]:
    return [f"{o['ename']}: {o['evalue']}" for o in outputs if o.get("output_type") == "error"]


def images_of(outputs: list[dict]) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs)


def test_models_notebook_lists_versions_and_shows_champion_plots_and_curves(
        settings, champion, ner_champion, anomaly_champion, forecast_champion) -> None:
    from models.registry import connect_store

    outputs = outputs_of(execute(REPO / "notebooks" / "02_models.ipynb"))
    assert not errors_of(outputs), errors_of(outputs)
    text = text_of(outputs)
    assert f"intent: champion v{champion.version} (run {champion.run_id})" in text
    for name, result in (("ner", ner_champion), ("anomaly", anomaly_champion), ("forecast", forecast_champion)):
        assert f"{name}: champion v{result.version} (run {result.run_id})" in text
    client = connect_store(settings)
    logged = sum(a.path.endswith(".png") for r in (champion, ner_champion, anomaly_champion, forecast_champion)
                 for a in client.list_artifacts(r.run_id, "plots"))
    assert logged >= 6  # intent: confusion matrix, calibration; ner: 2; anomaly: 1; forecast: 1
    # NER logs its dev score per evaluation as a step metric; the notebook plots it
    assert client.get_metric_history(ner_champion.run_id, "curve_dev_score")
    assert f"ner v{ner_champion.version}: learning curve from" in text and "curve_dev_score" in text
    # the versions chart, every logged plot of these champions, the NER learning curve
    assert images_of(outputs) >= 1 + logged + 1


def test_hybrid_notebook_shows_routes_results_confidence_and_review(
        champion, ner_champion, anomaly_champion, forecast_champion, kb_collection) -> None:
    outputs = outputs_of(execute(REPO / "notebooks" / "03_hybrid.ipynb"))
    assert not errors_of(outputs), errors_of(outputs)
    text = text_of(outputs)
    routes = next(line for line in text.splitlines() if line.startswith("routes taken:"))
    assert all(f"'{path}'" in routes for path in ("genai", "ml", "both")), routes
    assert "ticket, ML tasks   -> ml" in text and "question: refund   -> genai" in text
    assert "answer (extractive, cites ['KB" in text           # a plain question answered with citations
    assert "forecast: latency_ms: 14 steps by" in text       # the series request forecast HORIZON steps
    assert "15 labelled requests" in text                   # 3 tickets x 4 noise levels + 3 unanswerable
    assert "go to review" in text
    assert images_of(outputs) >= 5  # series, timings, reliability, risk-coverage, review reasons


def test_service_notebook_calls_predict_streams_an_answer_and_stops_the_server(
        champion, ner_champion, anomaly_champion, forecast_champion, kb_collection) -> None:
    import re

    from serving.server import port_in_use

    outputs = outputs_of(execute(REPO / "notebooks" / "04_service.ipynb"))
    assert not errors_of(outputs), errors_of(outputs)
    text = text_of(outputs)
    assert "GET /readyz -> 200" in text and f"'intent': {champion.version}" in text
    assert "POST /predict (text) -> 200" in text and "POST /predict (series) -> 200" in text
    assert "route: both ['intent', 'ner', 'answer']" in text and "route: ml ['anomaly', 'forecast']" in text
    assert "POST /ask/stream -> 200 (text/event-stream" in text
    assert "event: token" in text and "event: response" in text and "event: done (data: [DONE])" in text
    assert "the tokens joined are the final answer: True; stream ended with [DONE]: True" in text
    assert "GET /metrics -> 200" in text and 'endpoint="/predict"' in text
    assert "server stopped: True" in text
    port = int(re.search(r"serving at http://127\.0\.0\.1:(\d+)", text).group(1))
    assert not port_in_use("127.0.0.1", port)
    assert images_of(outputs) >= 2  # the series and its forecast, the request counts


def test_batch_notebook_scores_with_pandas_and_spark_alike(
        settings, champion, ner_champion, anomaly_champion, forecast_champion, kb_collection) -> None:
    import importlib.util
    import shutil

    from models.registry import champion_version, connect_store

    outputs = outputs_of(execute(REPO / "notebooks" / "05_batch.ipynb"))
    assert not errors_of(outputs), errors_of(outputs)
    text = text_of(outputs)
    # registered by the notebook itself when the session had no pipeline yet
    registered = champion_version(connect_store(settings), "hybrid", settings.mlflow.champion_alias)
    assert registered is not None and f"scoring with hybrid v{registered.version} (run {registered.run_id})" in text
    assert "pandas: 20 rows in 3 chunks, 2 with an error" in text
    assert "rows/s" in text and images_of(outputs) >= 1
    if importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None:
        failure = [line for line in text.splitlines() if "Spark scoring FAILED" in line]
        assert "pandas and Spark tables equal apart from request_id: True" in text, failure or text[-2000:]

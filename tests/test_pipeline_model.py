"""The whole pipeline as one registered MLflow model, and batch scoring through it with pandas and Spark.

The session's champions (sample data) are composed into ``models:/hybrid@champion`` by the real
registration; the model is then loaded as users load it: in this process, in a fresh virtual environment
built from its own logged requirements outside the repository, and on Spark executors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pandas as pd
import pytest

from fusion.table import RESPONSE_COLUMNS
from models.base import InputError
from models.tables import read_table

pytestmark = pytest.mark.integration

ROWS = pd.DataFrame({
    "id": [11, 12, 13, 14, 15, 16, 17],
    "message": ["my card was stolen and I am furious", "how do I reset my password?", "bad features",
                "Classify the intent: I want a refund", "", "Anna Schmidt from Berlin wants her money back",
                "readings"],
    "tasks": ["", '["answer"]', "", "intent", "", "ner,intent", '["anomaly"]'],
    "features": ["", "", "{not json", "", "", "", ""],
    "series": ["", "", "", "", "", "",
               json.dumps([{"series_id": "latency",  # hourly, a weekly-ish pattern and one spike at 2024-01-21 20:00
                            "timestamps": [f"2024-01-{1 + i // 24:02d}T{i % 24:02d}:00:00" for i in range(600)],
                            "values": [400.0 if i == 500 else 100.0 + (i % 7) for i in range(600)]}])],
})


@pytest.fixture(scope="module")
def registered(settings, champion, ner_champion, anomaly_champion, forecast_champion, kb_collection):
    from fusion.pipeline_model import register_pipeline

    result = register_pipeline(settings, n_tickets=5)
    assert result.promoted, result.decision
    return result


@pytest.fixture(scope="module")
def pipeline_model(registered):
    return mlflow.pyfunc.load_model(registered.model_uri)


@pytest.fixture(scope="module")
def requests_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("batch") / "requests.csv"
    ROWS.to_csv(path, index=False)
    return path


def test_registration_pins_every_champion_and_the_collection(registered, champion, ner_champion) -> None:
    params = mlflow.get_run(registered.run_id).data.params
    assert params["pinned.intent"] == str(champion.version) and params["pinned.ner"] == str(ner_champion.version)
    assert params["collection.kb"].startswith("v")
    metrics = registered.metrics
    assert 0 < metrics["parts_correct"] <= 1 and {"intent_accuracy", "ner_accuracy", "answer_accuracy"} <= set(metrics)
    model = mlflow.pyfunc.load_model(registered.model_uri)
    assert model.metadata.get_input_schema().input_names()[:2] == ["text", "question"]
    assert model.metadata.flavors["python_function"]["code"]  # the project's packages travel with it


def test_registering_the_same_champions_again_is_not_worse_so_it_is_promoted(settings, registered) -> None:
    from fusion.pipeline_model import register_pipeline

    again = register_pipeline(settings, n_tickets=5)
    assert again.promoted and again.version == registered.version + 1, again.decision
    assert again.metrics["parts_correct"] == pytest.approx(registered.metrics["parts_correct"])


def test_the_model_answers_a_table_of_requests(pipeline_model, champion) -> None:
    from fusion.table import request_frame

    out = pipeline_model.predict(request_frame(ROWS, text_col="message"))
    assert list(out.columns) == list(RESPONSE_COLUMNS) and len(out) == len(ROWS)
    assert out.loc[3, "route_path"] == "ml" and out.loc[3, "intent_label"] and pd.isna(out.loc[3, "answer"])
    assert json.loads(out.loc[3, "models"])["intent"] == champion.version
    assert out.loc[1, "route_path"] == "genai" and out.loc[1, "answer"] and json.loads(out.loc[1, "answer_citations"])
    assert "features" in out.loc[2, "error"] and "text, series, features" in out.loc[4, "error"]
    assert out.loc[6, "anomaly_count"] >= 1 and "2024-01-21T20:00:00" in out.loc[6, "anomaly_timestamps"]
    entities = json.loads(out.loc[5, "ner_entities"])
    assert {"Anna Schmidt", "Berlin"} <= {e["text"] for e in entities}
    assert out["error"].isna().sum() == 5 and out.loc[out["error"].isna(), "confidence_overall"].between(0, 1).all()


def test_score_pipeline_keeps_rows_and_columns_and_resumes_after_a_crash(settings, registered, requests_csv, tmp_path) -> None:
    from serving.pipeline_batch import load_pipeline_model, score_pipeline_file

    real = load_pipeline_model(registered.model_uri, settings)

    class CrashesOnSecondChunk:
        metadata = real.metadata

        def __init__(self) -> None:
            self.calls = 0

        def predict(self, chunk):
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt  # the job is killed mid-run
            return real.predict(chunk)

    output = tmp_path / "scored.parquet"
    with pytest.raises(KeyboardInterrupt):
        score_pipeline_file(requests_csv, output, settings, model_uri=registered.model_uri, text_col="message",
                            chunk_size=3, model=CrashesOnSecondChunk(), progress=False, say=lambda m: None)
    assert not output.exists() and (tmp_path / ".scored.parquet.parts" / "part-00000.parquet").exists()

    said = []
    report = score_pipeline_file(requests_csv, output, settings, model_uri=registered.model_uri, text_col="message",
                                 chunk_size=3, model=real, progress=False, say=said.append)
    assert report.resumed_chunks == 1 and report.chunks == 3 and any("resuming: 1 of 3" in m for m in said)
    assert report.errors == 2 and not (tmp_path / ".scored.parquet.parts").exists()
    scored = read_table(output)
    assert list(scored.columns) == [*ROWS.columns, *RESPONSE_COLUMNS]
    assert scored["id"].tolist() == ROWS["id"].tolist()
    assert scored["message"].fillna("").tolist() == ROWS["message"].tolist()  # CSV reads the empty message as missing
    assert scored.loc[3, "intent_label"] and "features" in scored.loc[2, "error"]


def test_score_cli_with_pipeline_writes_json_report(settings, registered, requests_csv, tmp_path) -> None:
    output = tmp_path / "out.csv"
    done = subprocess.run([sys.executable, "-m", "serving.cli", "score", "--pipeline", "--input", str(requests_csv),
                           "--output", str(output), "--text-col", "message", "--chunk-size", "4"],
                          capture_output=True, text=True, env=dict(os.environ), timeout=600)  # the session store
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["rows"] == len(ROWS) and report["rows_with_error"] == 2 and report["chunks"] == 2
    assert read_table(output)["id"].tolist() == ROWS["id"].tolist()


@pytest.fixture(scope="module")
def spark():
    """One local Spark session for the module's Spark tests (starting one takes seconds)."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime")
    from serving.spark_batch import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


def test_spark_gives_the_same_table_as_pandas(settings, registered, requests_csv, spark, tmp_path) -> None:
    """Spark reads the CSV itself; the gathered file and the executors' Parquet dataset both match pandas."""
    from serving.pipeline_batch import score_pipeline_file
    from serving.spark_batch import score_with_spark

    score_pipeline_file(requests_csv, tmp_path / "pandas.parquet", settings, model_uri=registered.model_uri,
                        text_col="message", progress=False, say=lambda m: None)
    report = score_with_spark(requests_csv, tmp_path / "spark.parquet", settings, model_uri=registered.model_uri,
                              text_col="message", spark=spark)
    assert report["rows"] == len(ROWS) and report["written_by"] == "driver, one file"
    dataset = score_with_spark(requests_csv, tmp_path / "scored", settings, model_uri=registered.model_uri,
                               text_col="message", spark=spark)
    assert dataset["rows"] == len(ROWS) and dataset["written_by"] == "executors, a Parquet dataset"
    assert (tmp_path / "scored" / "_SUCCESS").exists()

    by_pandas = read_table(tmp_path / "pandas.parquet").drop(columns="request_id")
    by_spark = read_table(tmp_path / "spark.parquet").drop(columns="request_id")
    pd.testing.assert_frame_equal(by_spark, by_pandas, check_dtype=False, check_exact=False, rtol=1e-6)
    # the second Spark job runs in the same Python workers, whose semantic cache now holds the answers
    by_dataset = pd.read_parquet(tmp_path / "scored").drop(columns="request_id")
    served = by_dataset.pop("answer_generator")
    for got, want in zip(served.astype(object), by_pandas["answer_generator"].astype(object)):
        assert got == "cache" or (pd.isna(got) and pd.isna(want)) or got == want, (got, want)
    pd.testing.assert_frame_equal(by_dataset, by_pandas.drop(columns="answer_generator"), check_dtype=False,
                                  check_exact=False, rtol=1e-6)
    with pytest.raises(InputError, match="already exists"):  # a dataset is never written over
        score_with_spark(requests_csv, tmp_path / "scored", settings, model_uri=registered.model_uri,
                         text_col="message", spark=spark)


def test_spark_scores_one_capability_like_pandas(settings, champion, spark, tmp_path) -> None:
    from serving.batch import score_file
    from serving.spark_batch import score_with_spark

    source = tmp_path / "texts.parquet"
    pd.DataFrame({"id": range(6), "message": ["my card was stolen", "reset my password please", "refund now",
                                                 "where is my parcel", "thanks, all good", "the app crashes"]}
                 ).to_parquet(source, index=False)
    score_file(source, tmp_path / "pandas.parquet", ["intent"], settings, text_col="message")
    score_with_spark(source, tmp_path / "spark.parquet", settings, pipeline=False, capabilities=["intent"],
                     text_col="message", spark=spark)
    by_pandas, by_spark = read_table(tmp_path / "pandas.parquet"), read_table(tmp_path / "spark.parquet")
    assert list(by_spark.columns) == list(by_pandas.columns)
    pd.testing.assert_frame_equal(by_spark, by_pandas, check_dtype=False, check_exact=False, rtol=1e-6)
    with pytest.raises(InputError, match="--text-col"):
        score_with_spark(source, tmp_path / "other.parquet", settings, pipeline=False, capabilities=["intent"],
                         spark=spark)


@pytest.mark.skipif(os.environ.get("HYBRID_SKIP_FRESH_VENV") == "1", reason="HYBRID_SKIP_FRESH_VENV=1")
def test_the_model_loads_in_a_fresh_venv_from_its_own_requirements(registered, tmp_path) -> None:
    """Built from ``get_model_dependencies`` alone, run outside the repository: the code travels with it."""
    requirements = mlflow.pyfunc.get_model_dependencies(registered.model_uri)
    model_dir = mlflow.artifacts.download_artifacts(registered.model_uri, dst_path=str(tmp_path / "model"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # offline machines: pip finds torch's CPU wheel locally and must not wait on the unreachable CPU index
    env = {**os.environ, "PIP_RETRIES": "0", "PIP_TIMEOUT": "5"}
    env.pop("PYTHONPATH", None)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-r", requirements],
                             capture_output=True, text=True, env=env, timeout=1500)
    assert install.returncode == 0, install.stderr[-3000:]
    script = ("import json, sys, mlflow.pyfunc, pandas as pd\n"
              f"out = mlflow.pyfunc.load_model({model_dir!r}).predict(pd.DataFrame({{'text': ['my card was stolen'], "
              "'question': [''], 'series': [''], 'features': [''], 'tasks': ['[\"intent\", \"ner\"]'], "
              "'collection': ['kb'], 'tenant': ['default'], 'horizon': ['']}))\n"
              "print(json.dumps({'intent': out.loc[0, 'intent_label'], 'path': out.loc[0, 'route_path'],"
              " 'models_file': sys.modules['models'].__file__}))\n")
    done = subprocess.run([str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["path"] == "ml" and result["intent"]
    assert str(Path(__file__).resolve().parents[1]) not in result["models_file"]  # the model's own copy of the code

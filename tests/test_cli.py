"""The `hybrid` command as a user calls it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import fast_intent_env, store_env
from serving.cli import app

runner = CliRunner()
HYBRID = str(Path(sys.executable).with_name("hybrid"))


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_help_explains_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("train", "evaluate", "promote", "serve", "score", "demo", "data", "ingest", "search", "ask", "predict"):
        assert command in result.stdout
    train_help = invoke("train", "--help").stdout
    assert "--label-col" in train_help and "JSON" in train_help
    # settings sections in brackets survive (rich markup used to swallow them)
    assert "[data].seed" in invoke("data", "--help").stdout


@pytest.mark.parametrize(("args", "message"), [
    ((), "text, series, features"),
    (("hi", "--features", "{not json"), "--features: not JSON"),
    (("hi", "--tasks", "translate"), "tasks"),
    (("hi", "--features", '{"amount": [1, 2]}'), "features"),
])
def test_predict_rejects_bad_requests_before_loading_anything(args: tuple[str, ...], message: str) -> None:
    result = runner.invoke(app, ["predict", *args])
    assert result.exit_code == 2 and message in result.output, result.output


@pytest.mark.parametrize(("args", "message"), [
    (("score", "--input", "in.csv", "--output", "out.csv", "--pipeline", "--engine", "flink"), "--engine"),
    (("score", "--input", "in.csv", "--output", "out.csv", "--capabilities", "translate"), "--capabilities"),
    (("register", "widget"), "hybrid register pipeline"),
])
def test_batch_and_register_reject_bad_arguments_naming_them(args: tuple[str, ...], message: str) -> None:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2 and message in result.output, result.output


@pytest.mark.integration
def test_train_on_a_user_file_prints_one_json_line_last(settings, tickets: pd.DataFrame, tmp_path: Path) -> None:
    renamed = tickets.rename(columns={"text": "message", "intent": "topic"})[["message", "topic"]]
    renamed.iloc[:1500].to_csv(tmp_path / "train.csv", index=False)
    renamed.iloc[1500:].to_json(tmp_path / "test.jsonl", orient="records", lines=True)
    done = subprocess.run(
        [HYBRID, "train", "intent", "--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.jsonl"),
         "--text-col", "message", "--label-col", "topic"],
        # a store of its own, so this run cannot become the session's champion
        capture_output=True, text=True, env={**os.environ, **store_env(tmp_path / "store"), **fast_intent_env()}, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"run_id", "model_uri", "version", "promoted", "metrics"} <= set(summary)
    assert isinstance(summary["version"], int) and summary["model_uri"] == f"models:/intent/{summary['version']}"
    assert summary["metrics"]["n_samples"] == 900
    assert summary["metrics"]["accuracy"] > 0.8
    assert "fitting intent on 1500 rows" in done.stderr


def test_train_names_the_missing_column(settings, tmp_path: Path) -> None:
    pd.DataFrame({"text": ["a", "b"], "category": ["x", "y"]}).to_csv(tmp_path / "t.csv", index=False)
    result = invoke("train", "intent", "--train", str(tmp_path / "t.csv"))
    assert result.exit_code == 2
    assert "'label'" in result.stderr and "category" in result.stderr


def test_unknown_capability_lists_the_known_ones(settings) -> None:
    result = invoke("train", "horoscope")
    assert result.exit_code == 2 and "intent" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("intent", "--strong-budget", "0.2"), "llm-router only"),
    (("llm-router", "--strong-budget", "1.5"), "strong_budget must be in (0, 1]"),
    (("llm-router", "--strong-budget", "0.2", "--quality-target", "0.9"), "not both"),
])
def test_router_goals_reject_bad_values_before_training(settings, args: tuple[str, ...], message: str) -> None:
    result = invoke("train", *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_evaluate_prints_metrics_json(champion, intent_frames, tmp_path: Path) -> None:
    _, test = intent_frames
    test.rename(columns={"label": "intent"}).to_parquet(tmp_path / "test.parquet")
    result = invoke("evaluate", "intent", "--test", str(tmp_path / "test.parquet"), "--label-col", "intent")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["model_uri"] == "models:/intent@champion"
    assert 0.8 < report["metrics"]["accuracy"] <= 1.0
    assert report["metrics"]["n_samples"] == len(test)


def test_evaluate_a_specific_version(champion, intent_frames, tmp_path: Path) -> None:
    _, test = intent_frames
    test.to_csv(tmp_path / "test.csv", index=False)
    result = invoke("evaluate", "intent", "--test", str(tmp_path / "test.csv"), "--model-uri", champion.model_uri)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["model_uri"] == champion.model_uri


def test_score_keeps_every_row_and_column(champion, tmp_path: Path) -> None:
    source = pd.DataFrame(
        {
            "ticket": [101, 102, 103, 104],
            "body": ["my card never arrived", None, "refund my order please", "reset my password"],
            "priority": ["high", "low", "low", "medium"],
        }
    )
    source.to_csv(tmp_path / "in.csv", index=False)
    result = invoke("score", "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "out.parquet"), "--text-col", "body")
    assert result.exit_code == 0, result.stderr
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert list(scored.columns) == ["ticket", "body", "priority", "intent_label", "intent_confidence"]
    assert list(scored["ticket"]) == [101, 102, 103, 104]
    assert scored["intent_label"].notna().all()
    assert scored.loc[3, "intent_label"] == "password_reset"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rows"] == 4 and report["models"] == {"intent": champion.version}


def test_score_refuses_to_overwrite_input_columns(champion, tmp_path: Path) -> None:
    pd.DataFrame({"text": ["hi"], "intent_label": ["mine"]}).to_csv(tmp_path / "in.csv", index=False)
    result = invoke("score", "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "out.csv"))
    assert result.exit_code == 2 and "intent_label" in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_score_rejects_unknown_capabilities(settings, tmp_path: Path) -> None:
    result = invoke("score", "--input", "x.csv", "--output", "y.csv", "--capabilities", "intent,astrology")
    assert result.exit_code == 2 and "astrology" in result.stderr


def test_score_unsupported_output_format(champion, tmp_path: Path) -> None:
    pd.DataFrame({"text": ["hi"]}).to_csv(tmp_path / "in.csv", index=False)
    result = invoke("score", "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "out.xlsx"))
    assert result.exit_code == 2 and ".xlsx" in result.stderr


@pytest.fixture(scope="module")
def series_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sample series split by series into a training CSV (with a renamed label) and a test Parquet."""
    from training.sample_data import generate_series

    folder = tmp_path_factory.mktemp("series")
    series = generate_series().drop(columns="anomaly_type")
    is_test = series["series_id"] == "signups"
    series[~is_test].rename(columns={"label": "incident"}).to_csv(folder / "train.csv", index=False)
    series[is_test].to_parquet(folder / "test.parquet")
    return folder / "train.csv", folder / "test.parquet"


@pytest.mark.integration
def test_train_anomaly_on_a_long_format_file(series_files, tmp_path: Path) -> None:
    from conftest import StoreSwitch

    train, test = series_files
    pd.read_parquet(test).rename(columns={"label": "incident"}).to_csv(tmp_path / "test.csv", index=False)
    with StoreSwitch(tmp_path / "store"):  # its own store: this run must not touch the session's champion
        result = invoke("train", "anomaly", "--train", str(train), "--test", str(tmp_path / "test.csv"), "--label-col", "incident")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["model_uri"] == "models:/anomaly/1" and summary["promoted"]
    assert {"nab_standard", "nab_reward_low_fp_rate", "nab_reward_low_fn_rate"} <= set(summary["metrics"])
    assert summary["metrics"]["n_series"] == 1


def test_evaluate_anomaly_prints_nab_scores(anomaly_champion, series_files) -> None:
    _, test = series_files
    result = invoke("evaluate", "anomaly", "--test", str(test))
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])["metrics"]
    assert -100.0 < metrics["nab_standard"] <= 100.0
    assert metrics["windows_found"] + metrics["windows_missed"] > 0


def test_evaluate_anomaly_rejects_an_unsorted_file(anomaly_champion, series_files, tmp_path: Path) -> None:
    _, test = series_files
    pd.read_parquet(test).iloc[::-1].to_csv(tmp_path / "backwards.csv", index=False)
    result = invoke("evaluate", "anomaly", "--test", str(tmp_path / "backwards.csv"))
    assert result.exit_code == 2 and "not sorted by timestamp" in result.stderr


def test_score_anomaly_adds_a_score_and_alarm_per_row(anomaly_champion, series_files, tmp_path: Path) -> None:
    _, test = series_files
    source = pd.read_parquet(test).drop(columns="label")
    source.to_csv(tmp_path / "in.csv", index=False)
    result = invoke("score", "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "out.csv"), "--capabilities", "anomaly")
    assert result.exit_code == 0, result.stderr
    scored = pd.read_csv(tmp_path / "out.csv")
    assert list(scored.columns) == [*source.columns, "anomaly_score", "anomaly_alarm"]
    assert len(scored) == len(source) and scored["anomaly_score"].between(0, 1).all()
    assert scored["anomaly_alarm"].sum() > 0


@pytest.mark.integration
def test_train_forecast_with_a_horizon(series_files, tmp_path: Path) -> None:
    from conftest import StoreSwitch

    frame = pd.concat([pd.read_csv(series_files[0]), pd.read_parquet(series_files[1])], ignore_index=True)
    frame = frame.sort_values(["series_id", "timestamp"], kind="stable")
    is_test = frame.groupby("series_id").cumcount(ascending=False) < 10
    frame[~is_test].to_csv(tmp_path / "history.csv", index=False)
    frame[is_test].to_csv(tmp_path / "future.csv", index=False)
    with StoreSwitch(tmp_path / "store"):
        result = invoke("train", "forecast", "--train", str(tmp_path / "history.csv"), "--test", str(tmp_path / "future.csv"),
                        "--horizon", "10")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["promoted"] and summary["metrics"]["n_points"] == 5 * 10
    assert {"smape", "mase", "owa", "coverage_80", "coverage_95"} <= set(summary["metrics"])


def test_horizon_is_for_forecast_only(settings) -> None:
    result = invoke("train", "intent", "--horizon", "5")
    assert result.exit_code == 2 and "forecast only" in result.stderr


def test_evaluate_and_score_forecast(forecast_champion, settings, tmp_path: Path) -> None:
    from training.datasets import sample_data_dir

    series = pd.read_csv(sample_data_dir(settings) / "series.csv")
    history = series.groupby("series_id").head(600)
    future = series.groupby("series_id").nth(list(range(600, 620))).reset_index(drop=True)
    history.to_csv(tmp_path / "history.csv", index=False)
    result = invoke("score", "--input", str(tmp_path / "history.csv"), "--output", str(tmp_path / "forecast.parquet"),
                    "--capabilities", "forecast")
    assert result.exit_code == 0, result.stderr
    forecast = pd.read_parquet(tmp_path / "forecast.parquet")
    assert len(forecast) == 5 * 48
    assert {"series_id", "timestamp", "forecast", "lo_95", "hi_95", "model"} <= set(forecast.columns)
    assert (forecast.groupby("series_id")["timestamp"].min() == pd.Timestamp("2024-08-23")).all()

    # The champion was trained on all but the last 48 days of each sample series: those days are its test.
    series.groupby("series_id").tail(48).to_csv(tmp_path / "last48.csv", index=False)
    result = invoke("evaluate", "forecast", "--test", str(tmp_path / "last48.csv"))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["metrics"]["n_points"] == 5 * 48

    future.to_csv(tmp_path / "future.csv", index=False)  # days 600-619 do not follow the training data
    result = invoke("evaluate", "forecast", "--test", str(tmp_path / "future.csv"))
    assert result.exit_code == 2 and "continue its training data" in result.stderr


@pytest.mark.integration
def test_train_and_score_tabular_anomaly_on_feature_rows(tmp_path: Path) -> None:
    from conftest import StoreSwitch
    from test_tabular_anomaly import _rows

    _rows(seed=0).rename(columns={"label": "fraud"}).to_csv(tmp_path / "train.csv", index=False)
    _rows(seed=1).rename(columns={"label": "fraud"}).to_parquet(tmp_path / "test.parquet")
    _rows(seed=2).drop(columns="label").to_csv(tmp_path / "new.csv", index=False)
    with StoreSwitch(tmp_path / "store"):
        trained = invoke("train", "tabular_anomaly", "--train", str(tmp_path / "train.csv"),
                         "--test", str(tmp_path / "test.parquet"), "--label-col", "fraud")
        scored = invoke("score", "--input", str(tmp_path / "new.csv"), "--output", str(tmp_path / "out.csv"),
                        "--capabilities", "tabular_anomaly")
    assert trained.exit_code == 0, trained.stderr
    assert json.loads(trained.stdout.strip().splitlines()[-1])["metrics"]["average_precision"] > 0.3  # chance: 0.02
    assert scored.exit_code == 0, scored.stderr
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["amount", "fee", "noise", "merchant", "tabular_anomaly_score", "tabular_anomaly_alarm"]


@pytest.fixture()
def docs_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "policies").mkdir(parents=True)
    (folder / "policies" / "refunds.md").write_text("# Refunds\n\nDuplicate charges are refunded within 5 business days.\n")
    (folder / "travel.html").write_text("<html><head><title>Travel</title><script>var x=1;</script></head>"
                                        "<body><h1>Travel</h1><p>Tell us before you travel abroad.</p></body></html>")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (folder / "notes.docx").write_bytes(b"PK\x03\x04")
    return folder


@pytest.mark.integration
def test_ingest_then_search_a_folder_of_documents(docs_folder: Path, tmp_path: Path) -> None:
    env = {**os.environ, "HYBRID_RAG__COLLECTIONS_DIR": str(tmp_path / "collections")}

    def hybrid(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([HYBRID, *args], capture_output=True, text=True, env=env, timeout=300)

    first = hybrid("ingest", str(docs_folder), "--collection", "mydocs")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout.strip().splitlines()[-1])
    assert report["documents_added"] == 2 and report["version"] == "v000001"
    assert {Path(s["path"]).name for s in report["skipped"]} == {"broken.pdf", "notes.docx"}
    assert "skipped" in first.stderr and "notes.docx" in first.stderr

    again = json.loads(hybrid("ingest", str(docs_folder), "--collection", "mydocs").stdout.strip().splitlines()[-1])
    assert again["version"] is None and again["chunks_added"] == 0 and again["documents_unchanged"] == 2

    found = hybrid("search", "when is a double charge refunded?", "--collection", "mydocs", "--k", "1")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    assert [h["doc_id"] for h in hits] == ["policies/refunds.md"]

    missing = hybrid("search", "refund", "--collection", "nope")
    assert missing.returncode == 2 and "hybrid ingest" in missing.stderr
    empty = hybrid("search", "  ", "--collection", "mydocs")
    assert empty.returncode == 2 and "query" in empty.stderr


@pytest.mark.integration
def test_train_and_evaluate_the_reranker_from_the_command_line(reranker_champion, settings, tmp_path: Path) -> None:
    from training.rerank_data import sample_labelled_queries

    labelled = sample_labelled_queries(settings).drop(columns="query_id")
    labelled.head(len(labelled) // 2).to_csv(tmp_path / "train.csv", index=False)
    labelled.tail(len(labelled) // 4).to_csv(tmp_path / "test.csv", index=False)
    result = invoke("train", "reranker", "--collection", "kb", "--train", str(tmp_path / "train.csv"), "--no-register")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert 0.0 < summary["metrics"]["ndcg_at_10"] <= 1.0

    evaluated = invoke("evaluate", "reranker", "--test", str(tmp_path / "test.csv"), "--collection", "kb")
    assert evaluated.exit_code == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout.strip().splitlines()[-1])["metrics"]
    assert {"ndcg_at_10", "mrr_at_10", "fused_ndcg_at_10"} <= set(metrics)
    assert invoke("train", "intent", "--collection", "kb").exit_code == 2
    no_docs = invoke("train", "reranker", "--collection", "nope")
    assert no_docs.exit_code == 2 and "hybrid ingest" in no_docs.stderr


def test_ask_answers_from_the_collection_with_citations(kb_collection) -> None:
    result = invoke("ask", "how long does a refund take to reach my account?", "--no-cache")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["generator"] == "extractive" and answer["citations"]
    assert any("refund" in c["title"].lower() for c in answer["citations"]), answer["citations"]


def test_ask_streams_the_answer_before_the_json(kb_collection) -> None:
    result = invoke("ask", "how long does a refund take to reach my account?", "--no-cache", "--stream")
    assert result.exit_code == 0, result.stderr
    *streamed, last = result.stdout.strip().splitlines()
    assert "\n".join(streamed) == json.loads(last)["answer"]


@pytest.mark.parametrize("args, message", [
    (("ask", "refunds", "--collection", "nope"), "hybrid ingest"),
    (("ask", "refunds", "--tier", "huge"), "is not configured"),
])
def test_ask_bad_input_exits_2_saying_what_to_do(kb_collection, args, message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2 and message in result.stderr


@pytest.mark.integration
def test_train_llm_router_on_a_user_file_with_its_own_tiers(tmp_path: Path) -> None:
    """Two tiers named by the user, in a column of the user's choosing; `llm-router` spelled with a hyphen."""
    from training.router_data import generate_router_prompts

    prompts = generate_router_prompts(seed=3).groupby("tier").head(60)
    level = prompts["tier"].map({"cheap": "weak", "small": "weak", "large": "strong", "code": "strong"})
    prompts.assign(level=level)[["text", "level"]].to_csv(tmp_path / "prompts.csv", index=False)
    done = subprocess.run(
        [HYBRID, "train", "llm-router", "--train", str(tmp_path / "prompts.csv"), "--label-col", "level"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, **store_env(tmp_path / "store"), "HYBRID_ROUTER__TIER_ORDER": '["weak", "strong"]'},
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["model_uri"] == "models:/llm_router/1" and summary["promoted"]
    assert summary["metrics"]["accuracy"] > 0.7 and 0.0 <= summary["metrics"]["apgr"] <= 1.0

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
    for command in ("train", "evaluate", "promote", "serve", "score", "demo", "data"):
        assert command in result.stdout
    train_help = invoke("train", "--help").stdout
    assert "--label-col" in train_help and "JSON" in train_help


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

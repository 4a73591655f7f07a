"""The documented command on the real banking77 files (a slice and the fast TF-IDF member, to keep
the suite fast). Skipped on a fresh clone without ../shared; full-size figures: bench/intent.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import fast_intent_env, requires_shared, store_env

pytestmark = [pytest.mark.integration, pytest.mark.public_data]


def test_train_intent_on_banking77_with_label_col(tmp_path: Path) -> None:
    folder = requires_shared("banking77")
    train = pd.read_csv(folder / "train.csv").sample(3000, random_state=0)
    test = pd.read_csv(folder / "test.csv").sample(1000, random_state=0)
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("hybrid")), "train", "intent",
         "--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"), "--label-col", "category"],
        capture_output=True, text=True, env={**os.environ, **store_env(tmp_path / "store"), **fast_intent_env()}, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["promoted"] and summary["version"] == 1
    assert summary["metrics"]["n_samples"] == 1000
    # 77 intents from ~39 examples each: far above chance (0.013), below the full-data figure
    assert summary["metrics"]["accuracy"] > 0.7


def test_nab_reads_as_58_labelled_series_with_116_windows() -> None:
    from models.nab_scoring import anomaly_windows
    from training.nab import read_nab

    corpus = read_nab(requires_shared("nab"))
    assert corpus["series_id"].nunique() == 58
    assert sum(len(anomaly_windows(rows["label"].to_numpy())) for _, rows in corpus.groupby("series_id")) == 116
    assert list(corpus.columns) == ["series_id", "timestamp", "value", "label"]


def test_train_and_evaluate_anomaly_on_nab_files(tmp_path: Path) -> None:
    from training.nab import read_nab

    corpus = read_nab(requires_shared("nab"))
    # Eight NAB files repeat a timestamp (e.g. at a daylight-saving change), which the CLI refuses.
    names = sorted(name for name, rows in corpus.groupby("series_id") if rows["timestamp"].is_unique)
    corpus[corpus["series_id"].isin(names[10:18])].to_csv(tmp_path / "train.csv", index=False)
    corpus[corpus["series_id"].isin(names[20:24])].to_parquet(tmp_path / "test.parquet")
    hybrid = str(Path(sys.executable).with_name("hybrid"))
    env = {**os.environ, **store_env(tmp_path / "store")}
    done = subprocess.run([hybrid, "train", "anomaly", "--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.parquet")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["metrics"]["n_series"] == 4 and summary["promoted"]
    again = subprocess.run([hybrid, "evaluate", "anomaly", "--test", str(tmp_path / "test.parquet")],
                           capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["metrics"]["nab_standard"] == pytest.approx(summary["metrics"]["nab_standard"])

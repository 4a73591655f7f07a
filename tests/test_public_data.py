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

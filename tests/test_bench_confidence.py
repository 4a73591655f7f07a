"""bench/confidence.py: how NAB is cut into requests and judged, and a quick run on a few NAB series.
Skipped without ../shared/data; full-size figures: bench/confidence.py.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import requires_shared

pytestmark = pytest.mark.public_data

BENCH = Path(__file__).resolve().parents[1] / "bench" / "confidence.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_confidence", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nab_chunks_never_cut_a_window_and_cover_the_scored_points() -> None:
    requires_shared("nab")
    bench = _bench()
    labels = np.zeros(2000, dtype=int)
    labels[480:620] = 1        # straddles the first cut (300 + 200 = 500)
    labels[1900:1990] = 1
    chunks = bench.nab_chunks(labels, 200)
    assert chunks[0][0] == 300  # after the probationary 15%
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:])) and chunks[-1][1] == 2000
    assert (300, 620) in chunks  # the cut moved to the window's end
    for lo, hi in chunks:
        assert not (lo > 0 and labels[lo - 1] == 1 and labels[lo] == 1)


def test_a_chunk_is_right_only_with_every_window_found_and_no_alarm_outside() -> None:
    requires_shared("nab")
    bench = _bench()
    label = np.array([0, 0, 1, 1, 0, 0, 1, 1, 0])
    alarm = np.zeros(9, dtype=bool)
    assert bench.chunk_right(alarm, np.zeros(9, dtype=int)) == (True, 0, 0)
    assert bench.chunk_right(alarm, label) == (False, 0, 2)
    alarm[[2, 7]] = True
    assert bench.chunk_right(alarm, label) == (True, 0, 0)
    alarm[0] = True
    assert bench.chunk_right(alarm, label) == (False, 1, 0)


def test_bench_runs_on_a_few_nab_series(tmp_path: Path) -> None:
    requires_shared("nab")
    out = tmp_path / "confidence.json"
    done = subprocess.run([sys.executable, str(BENCH), "--datasets", "nab", "--limit", "8", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=BENCH.parents[1])
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())["datasets"]["nab"]
    assert result["part"] == "anomaly" and result["model"]["series"] == 8
    assert result["fit_rows"] + result["test_rows"] == result["rows"]
    assert {"ece_overall", "auroc_overall", "review_share"} <= set(result["scorer"])

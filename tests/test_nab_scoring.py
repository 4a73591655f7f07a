"""NAB scoring rules on small hand-made cases whose scores are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.nab_scoring import (
    PROFILES,
    SeriesSweep,
    anomaly_windows,
    best_threshold,
    probation_length,
    read_profiles,
    score_corpus,
    score_series,
)

STANDARD = PROFILES["standard"]
MAX_TP = 2 / (1 + math.exp(-5)) - 1  # the scaled sigmoid at a window's left edge: 0.98661


def _labels(n: int, *windows: tuple[int, int]) -> np.ndarray:
    labels = np.zeros(n, dtype=int)
    for start, end in windows:
        labels[start : end + 1] = 1
    return labels


def _detections(n: int, *at: int) -> np.ndarray:
    scores = np.zeros(n)
    scores[list(at)] = 1.0
    return scores


def test_windows_are_runs_of_ones() -> None:
    assert anomaly_windows(np.array([0, 1, 1, 0, 0, 1, 0, 1])) == [(1, 2), (5, 5), (7, 7)]
    assert anomaly_windows(np.zeros(5)) == []


def test_probation_is_15_percent_capped_at_750_points() -> None:
    assert probation_length(100) == 15
    assert probation_length(101) == 15
    assert probation_length(20_000) == 750


def test_nothing_to_find_and_nothing_found_scores_zero() -> None:
    sweep = SeriesSweep.of(np.zeros(100, dtype=int))
    assert score_series(np.zeros(100), sweep, 0.5, STANDARD) == (0.0, 0, 0, 0)


def test_detection_at_the_left_edge_earns_the_full_reward() -> None:
    sweep = SeriesSweep.of(_labels(100, (50, 59)))
    raw, found, missed, false_alarms = score_series(_detections(100, 50), sweep, 0.5, STANDARD)
    assert raw == pytest.approx(1.0)
    assert (found, missed, false_alarms) == (1, 0, 0)


def test_detection_at_the_right_edge_earns_little() -> None:
    # 10-point window; the last point sits at relative position -1/10.
    sweep = SeriesSweep.of(_labels(100, (50, 59)))
    expected = (2 / (1 + math.exp(-0.5)) - 1) / MAX_TP
    assert score_series(_detections(100, 59), sweep, 0.5, STANDARD)[0] == pytest.approx(expected)
    assert expected == pytest.approx(0.2482, abs=1e-4)


def test_only_the_earliest_detection_in_a_window_counts() -> None:
    sweep = SeriesSweep.of(_labels(100, (50, 59)))
    early = score_series(_detections(100, 52), sweep, 0.5, STANDARD)[0]
    assert score_series(_detections(100, 52, 55, 59), sweep, 0.5, STANDARD)[0] == pytest.approx(early)


def test_a_missed_window_costs_the_false_negative_weight() -> None:
    sweep = SeriesSweep.of(_labels(100, (50, 59)))
    assert score_series(np.zeros(100), sweep, 0.5, STANDARD)[0] == -1.0
    assert score_series(np.zeros(100), sweep, 0.5, PROFILES["reward_low_FN_rate"])[0] == -2.0


def test_false_positive_before_any_window_costs_the_full_weight() -> None:
    sweep = SeriesSweep.of(_labels(100, (60, 69)))
    raw, found, missed, false_alarms = score_series(_detections(100, 30), sweep, 0.5, STANDARD)
    assert raw == pytest.approx(-0.11 - 1.0)
    assert false_alarms == 1
    assert score_series(_detections(100, 30), sweep, 0.5, PROFILES["reward_low_FP_rate"])[0] == pytest.approx(-0.22 - 1.0)


def test_false_positive_just_after_a_window_costs_less_than_a_distant_one() -> None:
    # Window 20..29 (width 10): a detection 3 points past its right edge sits at 3/9 of a window.
    sweep = SeriesSweep.of(_labels(100, (20, 29)))
    near = score_series(_detections(100, 32), sweep, 0.5, STANDARD)[0] + 1.0  # remove the missed window
    far = score_series(_detections(100, 90), sweep, 0.5, STANDARD)[0] + 1.0
    assert near == pytest.approx(0.11 * (2 / (1 + math.exp(5 * 3 / 9)) - 1))
    assert far == pytest.approx(-0.11 * 1.0, abs=1e-6)
    assert far < near < 0


def test_probationary_detections_and_windows_are_not_scored() -> None:
    # 100 points: the first 15 are probationary; a window there is dropped, and so is the detection.
    sweep = SeriesSweep.of(_labels(100, (5, 8), (50, 59)))
    assert sweep.n_windows == 1
    assert score_series(_detections(100, 6, 50), sweep, 0.5, STANDARD)[0] == pytest.approx(1.0)


def test_corpus_normalisation_null_is_zero_and_perfect_is_100() -> None:
    labels = [_labels(200, (50, 59), (120, 139)), _labels(300, (200, 209)), np.zeros(150, dtype=int)]
    sweeps = [SeriesSweep.of(x) for x in labels]
    nothing = [np.zeros(len(x)) for x in labels]
    perfect = [_detections(200, 50, 120), _detections(300, 200), np.zeros(150)]
    for profile in PROFILES.values():
        assert score_corpus(nothing, sweeps, 0.5, profile).normalized == pytest.approx(0.0)
        assert score_corpus(perfect, sweeps, 0.5, profile).normalized == pytest.approx(100.0)
    half = score_corpus([_detections(200, 50), np.zeros(300), np.zeros(150)], sweeps, 0.5, STANDARD)
    # one window found at its left edge (+1), two missed (-2); null -3, perfect +3
    assert half.normalized == pytest.approx(100 * ((1 - 2) - (-3)) / (3 - (-3)))
    assert (half.true_positives, half.false_negatives) == (1, 2)


def test_best_threshold_matches_trying_every_threshold() -> None:
    rng = np.random.default_rng(0)
    labels = [_labels(400, (100, 129), (300, 319)), _labels(250, (150, 169))]
    sweeps = [SeriesSweep.of(x) for x in labels]
    scores = [np.round(rng.random(len(x)) ** 4, 2) for x in labels]
    best = best_threshold(scores, sweeps, STANDARD)
    brute = max(score_corpus(scores, sweeps, t, STANDARD).raw for t in np.unique(np.concatenate(scores)))
    assert best.raw == pytest.approx(max(brute, -3.0))
    assert score_corpus(scores, sweeps, best.threshold, STANDARD).raw == pytest.approx(best.raw)


def test_profiles_file_is_read(tmp_path) -> None:
    path = tmp_path / "profiles.json"
    path.write_text('{"standard": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}}}')
    assert read_profiles(path) == {"standard": STANDARD}

"""The streaming anomaly detector: no look-ahead, alarms where anomalies are, clear errors on bad series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.anomaly import StreamingAnomalyDetector
from models.anomaly_signals import alarms
from models.base import InputError, load_capability, save_capability
from training.sample_data import generate_series


def _series(n: int = 1500, spike_at: int | None = 1200, seed: int = 0, name: str = "s") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 100 + 10 * np.sin(2 * np.pi * t / 96) + rng.normal(0, 1, n)
    label = np.zeros(n, dtype=int)
    if spike_at is not None:
        values[spike_at] += 60
        label[spike_at - 20 : spike_at + 20] = 1
    stamps = pd.date_range("2024-01-01", periods=n, freq="5min")
    return pd.DataFrame({"series_id": name, "timestamp": stamps, "value": values, "label": label})


@pytest.fixture(scope="module")
def sample_series() -> pd.DataFrame:
    return generate_series().drop(columns="anomaly_type")


def test_scores_never_look_ahead() -> None:
    values = _series()["value"].to_numpy()
    detector = StreamingAnomalyDetector()
    whole = detector.series_scores(values)
    for cut in (300, 1000, 1201):
        np.testing.assert_allclose(detector.series_scores(values[:cut]), whole[:cut])


def test_scores_are_in_unit_interval_and_peak_at_the_spike() -> None:
    scores = StreamingAnomalyDetector().series_scores(_series()["value"].to_numpy())
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert scores[1200] == scores.max()
    assert np.quantile(scores[400:1150], 0.99) < scores[1200]


def test_predict_raises_one_alarm_at_the_spike_and_keeps_the_index() -> None:
    frame = _series().set_axis(np.arange(1500) + 10_000)
    predicted = StreamingAnomalyDetector(threshold=0.9).predict(frame)
    assert list(predicted.index) == list(frame.index)
    assert list(predicted.columns) == ["score", "alarm"]
    alarmed = predicted.index[predicted["alarm"]].tolist()
    assert 11_200 in alarmed
    assert not any(10_900 <= i < 11_200 for i in alarmed)  # the 300 ordinary points before it stay quiet


def test_quiet_period_keeps_one_alarm_per_event() -> None:
    scores = np.array([0.0, 0.9, 0.95, 0.9, 0.0, 0.0, 0.0, 0.9])
    assert np.flatnonzero(alarms(scores, 0.5, quiet=3)).tolist() == [1, 7]
    assert np.flatnonzero(alarms(scores, 0.5, quiet=0)).tolist() == [1, 2, 3, 7]


def test_many_series_are_scored_independently() -> None:
    one, two = _series(name="a"), _series(spike_at=None, seed=1, name="b")
    both = StreamingAnomalyDetector().predict(pd.concat([one, two], ignore_index=True))
    alone = StreamingAnomalyDetector().predict(one)
    np.testing.assert_allclose(both["score"].to_numpy()[:1500], alone["score"].to_numpy())


def test_fit_tunes_thresholds_that_beat_detecting_nothing(sample_series: pd.DataFrame) -> None:
    detector = StreamingAnomalyDetector()
    train, test = detector.holdout(sample_series, test_size=0.2, seed=42)
    assert set(train["series_id"]).isdisjoint(test["series_id"])
    detector.fit(train)
    assert detector.tuned_ and set(detector.thresholds_) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    metrics = detector.evaluate(test)
    assert metrics["nab_standard"] > 0.0  # the null detector scores 0 (NAB figures: bench/nab.py)
    assert metrics["windows_found"] > 0


def test_unlabelled_training_keeps_the_configured_threshold() -> None:
    detector = StreamingAnomalyDetector(threshold=0.7).fit(_series(spike_at=None))
    assert not detector.tuned_ and set(detector.thresholds_.values()) == {0.7}


def test_save_and_load_give_the_same_alarms(tmp_path, sample_series: pd.DataFrame) -> None:
    detector = StreamingAnomalyDetector(quiet=20).fit(sample_series)
    loaded = load_capability(save_capability(detector, tmp_path / "anomaly"))
    assert loaded.thresholds_ == detector.thresholds_
    pd.testing.assert_frame_equal(loaded.predict(sample_series), detector.predict(sample_series))


def test_figure_shows_the_series(sample_series: pd.DataFrame) -> None:
    figures = StreamingAnomalyDetector().figures(sample_series, max_series=2)
    assert len(figures["anomalies.png"].axes) == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(value=f["value"].where(f.index != 5)), "missing"),
        (lambda f: f.assign(value=f["value"].astype(object).where(f.index != 7, "n/a")), "non-numeric"),
        (lambda f: f.iloc[[1, 0, *range(2, len(f))]], "not sorted"),
        (lambda f: pd.concat([f.iloc[:3], f.iloc[2:]]), "duplicate timestamp"),
        (lambda f: f.assign(timestamp=f["timestamp"].astype(str).where(f.index != 4, "yesterday")), "unparseable"),
        (lambda f: f.drop(columns="value"), "missing column"),
    ],
)
def test_bad_series_get_an_error_naming_the_problem(change, message: str) -> None:
    frame = change(_series(n=50, spike_at=None).reset_index(drop=True))
    with pytest.raises(InputError, match=message):
        StreamingAnomalyDetector().predict(frame)


def test_evaluate_needs_a_labelled_window() -> None:
    with pytest.raises(InputError, match="no anomaly window"):
        StreamingAnomalyDetector().evaluate(_series(spike_at=None))

"""The forecaster: M4's measures, backtest choice, intervals, and series that are short, flat or gappy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import requires_shared
from models.base import InputError, load_capability, save_capability
from models.forecast import Forecaster, infer_season
from models.forecast_global import GlobalBoostedForecaster
from models.forecast_metrics import is_seasonal, mase, naive2, smape
from training.sample_data import generate_series

# Small and quick: the behaviour, not the benchmark.
FAST = dict(horizon=14, n_estimators=60, candidates=("seasonal_naive", "ets", "theta", "lightgbm", "combined"), n_jobs=1)


def _hourly(name: str, n: int, level: float = 50.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = level + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, n)
    return pd.DataFrame({"series_id": name, "timestamp": pd.date_range("2024-03-01", periods=n, freq="h"), "value": values})


@pytest.fixture(scope="module")
def daily() -> pd.DataFrame:
    return generate_series()[["series_id", "timestamp", "value"]]


@pytest.fixture(scope="module")
def fitted(daily: pd.DataFrame) -> tuple[Forecaster, pd.DataFrame]:
    forecaster = Forecaster(**FAST)
    train, test = forecaster.holdout(daily, test_size=0.2, seed=0)
    return forecaster.fit(train), test


# ---- M4 measures ------------------------------------------------------------------------------


def test_smape_and_mase_by_hand() -> None:
    assert smape(np.array([100.0, 200.0]), np.array([110.0, 180.0])) == pytest.approx(100 * (10 / 210 + 20 / 380))
    history = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 4.0])  # seasonal naive errors at m=3: 0, 0, 1
    assert mase(np.array([3.0, 3.0]), np.array([2.0, 4.0]), history, season=3) == pytest.approx(1.0 / (1 / 3))


def test_naive2_repeats_the_last_value_of_a_series_without_seasonality() -> None:
    history = np.random.default_rng(0).normal(10, 1, 200)
    assert not is_seasonal(history, 24)
    assert (naive2(history, 5, 24) == history[-1]).all()


def test_naive2_reseasonalises_a_seasonal_series() -> None:
    pattern = np.array([1.0, 2.0, 4.0, 2.0])
    history = 10 * np.tile(pattern, 30)
    assert is_seasonal(history, 4)
    np.testing.assert_allclose(naive2(history, 8, 4), 10 * np.tile(pattern, 2), rtol=1e-9)


@pytest.mark.public_data
def test_naive2_matches_the_published_m4_hourly_figures() -> None:
    from training.m4 import read_m4_hourly

    train, test = read_m4_hourly(requires_shared("m4_hourly"))
    past = {k: g["value"].to_numpy() for k, g in train.groupby("series_id")}
    future = {k: g["value"].to_numpy() for k, g in test.groupby("series_id")}
    assert len(past) == 414 and all(len(v) == 48 for v in future.values())
    smapes = [smape(future[k], naive2(past[k], 48, 24)) for k in past]
    mases = [mase(future[k], naive2(past[k], 48, 24), past[k], 24) for k in past]
    assert np.mean(smapes) == pytest.approx(18.383, abs=0.01)
    assert np.mean(mases) == pytest.approx(2.395, abs=0.005)


# ---- the global model ---------------------------------------------------------------------------


def test_global_model_learns_a_shared_daily_shape() -> None:
    histories = [_hourly(f"s{i}", 24 * 30, level=20 + 10 * i, seed=i)["value"].to_numpy() for i in range(6)]
    model = GlobalBoostedForecaster(horizon=24, season=24, n_estimators=100).fit([h[:-24] for h in histories], [0] * 6)
    predicted = model.predict([h[:-24] for h in histories], [0] * 6)
    truth = np.array([h[-24:] for h in histories])
    assert predicted.shape == (6, 24)
    assert np.mean(np.abs(predicted - truth)) < 2.0  # the daily swing is ±10, the noise 1


# ---- the capability -----------------------------------------------------------------------------


def test_holdout_keeps_the_last_horizon_of_every_series(daily: pd.DataFrame) -> None:
    train, test = Forecaster(horizon=14).holdout(daily, 0.2, 0)
    assert test.groupby("series_id").size().eq(14).all()
    last_train = train.groupby("series_id")["timestamp"].max()
    first_test = test.groupby("series_id")["timestamp"].min()
    assert (pd.to_datetime(first_test) - pd.to_datetime(last_train) == pd.Timedelta(days=1)).all()


def test_forecasts_beat_naive2_and_intervals_cover(fitted) -> None:
    forecaster, test = fitted
    metrics = forecaster.evaluate(test)
    assert forecaster.season_ == 7
    assert metrics["owa"] < 1.0
    assert metrics["coverage_95"] >= metrics["coverage_80"] >= 0.5
    assert set(forecaster.choice_.values()) <= set(FAST["candidates"])


def test_predict_gives_every_future_step_with_nested_intervals(fitted, daily: pd.DataFrame) -> None:
    forecaster, _ = fitted
    out = forecaster.predict(daily)
    assert len(out) == 5 * 14
    for name, rows in out.groupby("series_id"):
        last = pd.Timestamp(daily.loc[daily["series_id"] == name, "timestamp"].iloc[-1])
        assert list(rows["timestamp"]) == list(pd.date_range(last, periods=15, freq="D")[1:])
    assert (out["lo_95"] <= out["lo_80"]).all() and (out["lo_80"] <= out["forecast"]).all()
    assert (out["forecast"] <= out["hi_80"]).all() and (out["hi_80"] <= out["hi_95"]).all()


def test_shorter_horizon_on_request(fitted, daily: pd.DataFrame) -> None:
    forecaster, _ = fitted
    assert len(forecaster.forecast(daily, horizon=3)) == 5 * 3
    with pytest.raises(InputError, match="horizon"):
        forecaster.forecast(daily, horizon=15)


def test_short_flat_and_gappy_series_are_forecast(fitted) -> None:
    forecaster, _ = fitted
    days = pd.date_range("2025-01-01", periods=40, freq="D")
    flat = pd.DataFrame({"series_id": "flat", "timestamp": days, "value": 5.0})
    short = pd.DataFrame({"series_id": "short", "timestamp": days[:6], "value": [3.0, 4, 5, 4, 3, 4]})
    gappy = pd.DataFrame({"series_id": "gappy", "timestamp": days.delete([10, 11, 25]), "value": np.arange(37.0)})
    out = forecaster.predict(pd.concat([flat, short, gappy], ignore_index=True))
    assert np.isfinite(out[["forecast", "lo_95", "hi_95"]].to_numpy()).all()
    assert (out.loc[out["series_id"] == "flat", "forecast"] == 5.0).all()
    assert out.loc[out["series_id"] == "gappy", "timestamp"].iloc[0] == days[-1] + pd.Timedelta(days=1)


def test_irregular_timestamps_are_refused(fitted) -> None:
    forecaster, _ = fitted
    stamps = pd.to_datetime(["2025-01-01 00:00", "2025-01-01 01:00", "2025-01-01 02:00", "2025-01-01 02:30"])
    with pytest.raises(InputError, match="regular"):
        forecaster.predict(pd.DataFrame({"series_id": "x", "timestamp": stamps, "value": [1.0, 2, 3, 4]}))


def test_evaluate_refuses_series_it_cannot_score(fitted) -> None:
    forecaster, test = fitted
    with pytest.raises(InputError, match="not in the training data"):
        forecaster.evaluate(test[test["series_id"] == "signups"].assign(series_id="unknown"))
    late = test.assign(timestamp=pd.to_datetime(test["timestamp"]) + pd.Timedelta(days=3))
    with pytest.raises(InputError, match="continue its training data"):
        forecaster.evaluate(late)


def test_too_short_to_backtest_says_so() -> None:
    with pytest.raises(InputError, match="too short"):
        Forecaster(horizon=48).fit(_hourly("tiny", 60))


def test_save_and_load_give_the_same_forecasts(fitted, daily: pd.DataFrame, tmp_path) -> None:
    forecaster, test = fitted
    loaded = load_capability(save_capability(forecaster, tmp_path / "forecast"))
    pd.testing.assert_frame_equal(loaded.predict(daily), forecaster.predict(daily))
    assert loaded.evaluate(test) == pytest.approx(forecaster.evaluate(test))


def test_figure_shows_history_forecast_and_intervals(fitted) -> None:
    forecaster, test = fitted
    assert len(forecaster.figures(test, max_series=2)["forecasts.png"].axes) == 2


@pytest.mark.parametrize(("step", "season"), [("h", 24), ("D", 7), ("5min", 288), ("MS", 12), ("17min", 1)])
def test_season_follows_the_sampling_step(step: str, season: int) -> None:
    assert infer_season(pd.tseries.frequencies.to_offset(step)) == season

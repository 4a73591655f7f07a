"""Forecast accuracy as the M4 competition measures it, and its Naive2 benchmark.

- sMAPE = 200/h · Σ |y - ŷ| / (|y| + |ŷ|)
- MASE = mean |y - ŷ| over the horizon / mean |y_t - y_{t-m}| over the history (in-sample
  seasonal naive error, m the seasonal period)
- OWA = ½ (sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2), from the averages over all series

Naive2 is the naive forecast of the seasonally adjusted series, re-seasonalised: classical
multiplicative decomposition, applied only when the series passes M4's 90% autocorrelation test
for seasonality at lag m. As in the competition's own R code (``smape_cal``, ``mase_cal``,
``naive_2`` in Mcompetitions/M4-methods).
"""

from __future__ import annotations

import numpy as np


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(np.abs(actual - forecast), denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(200.0 * ratio.mean())


def mase_scale(history: np.ndarray, season: int) -> float:
    """The in-sample mean absolute error of the seasonal naive forecast (naive when too short for a season)."""
    history = np.asarray(history, float)
    lag = season if len(history) > season else 1
    if len(history) <= lag:
        return float("nan")
    return float(np.mean(np.abs(history[lag:] - history[:-lag])))


def mase(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, season: int) -> float:
    scale = mase_scale(history, season)
    error = float(np.mean(np.abs(np.asarray(actual, float) - np.asarray(forecast, float))))
    if not scale > 0:  # a constant history: any error is infinitely bad, none is perfect
        return 0.0 if error == 0 else float("inf")
    return error / scale


def is_seasonal(history: np.ndarray, season: int) -> bool:
    """M4's test: the autocorrelation at lag ``season`` exceeds its 90% limit."""
    history = np.asarray(history, float)
    if season <= 1 or len(history) < 3 * season:
        return False
    centred = history - history.mean()
    denominator = float(np.sum(centred**2))
    if denominator == 0:
        return False
    acf = np.array([np.sum(centred[k:] * centred[: len(centred) - k]) / denominator for k in range(1, season + 1)])
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(acf[:-1] ** 2)) / len(history))
    return bool(abs(acf[-1]) > limit)


def seasonal_indices(history: np.ndarray, season: int) -> np.ndarray:
    """Multiplicative seasonal index per position in the cycle (position 0 = the first point), mean 1."""
    history = np.asarray(history, float)
    if season % 2 == 0:  # a 2 x m centred moving average
        weights = np.r_[0.5, np.ones(season - 1), 0.5] / season
    else:
        weights = np.ones(season) / season
    trend = np.convolve(history, weights, mode="valid")
    offset = (len(weights) - 1) // 2
    ratio = history[offset : offset + len(trend)] / trend
    positions = (np.arange(len(ratio)) + offset) % season
    indices = np.array([ratio[positions == p].mean() for p in range(season)])
    return indices / indices.mean()


def naive2(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """M4's Naive2 forecast."""
    history = np.asarray(history, float)
    if not is_seasonal(history, season):
        return np.full(horizon, history[-1])
    indices = seasonal_indices(history, season)
    n = len(history)
    adjusted_last = history[-1] / indices[(n - 1) % season]
    return adjusted_last * indices[(n + np.arange(horizon)) % season]


def owa(smape_value: float, mase_value: float, smape_naive2: float, mase_naive2: float) -> float:
    return 0.5 * (smape_value / smape_naive2 + mase_value / mase_naive2)

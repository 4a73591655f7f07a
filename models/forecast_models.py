"""Point forecasters for one series, each ``f(history, horizon, season) -> forecast``.

The statistical candidates come from statsmodels and are fitted per series at forecast time, on
the series' recent history. Each degrades to something simpler instead of failing: a series too
short for two seasons is modelled without seasonality, a constant series is forecast as that
constant, and a model whose optimiser fails falls back to the seasonal naive forecast.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

#: seasons of history the statistical models are fitted on (more costs time, rarely accuracy)
FIT_SEASONS = 20
MIN_FIT_POINTS = 200

LocalModel = Callable[[np.ndarray, int, int], np.ndarray]


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The last full season repeated (the last value when the history is shorter than a season)."""
    if season <= 1 or len(history) < season:
        return np.full(horizon, history[-1], dtype=float)
    last = history[-season:]
    return np.resize(last, horizon).astype(float)


def ets(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Holt-Winters exponential smoothing: damped additive trend, seasonality when two seasons fit."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    def fit(y: np.ndarray) -> np.ndarray:
        seasonal = "add" if season > 1 and len(y) >= 2 * season else None
        trend = "add" if len(y) >= 10 else None
        model = ExponentialSmoothing(y, trend=trend, damped_trend=trend is not None, seasonal=seasonal,
                                     seasonal_periods=season if seasonal else None, initialization_method="estimated")
        return model.fit().forecast(horizon)

    return _guarded(fit, history, horizon, season)


def theta(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The Theta method (Assimakopoulos & Nikolopoulos), deseasonalised when the series is seasonal."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    def fit(y: np.ndarray) -> np.ndarray:
        seasonal = season > 1 and len(y) >= 2 * season
        # Multiplicative deseasonalising needs positive values.
        method = "multiplicative" if y.min() > 0 else "additive"
        model = ThetaModel(y, period=season if seasonal else 1, deseasonalize=seasonal, method=method)
        return np.asarray(model.fit().forecast(horizon))

    return _guarded(fit, history, horizon, season)


def arima(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """SARIMAX(1,0,1) on the seasonally differenced series, with a drift term."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    def fit(y: np.ndarray) -> np.ndarray:
        seasonal = season > 1 and len(y) >= 3 * season
        order = (1, 0, 1)
        seasonal_order = (0, 1, 0, season) if seasonal else (0, 0, 0, 0)
        model = SARIMAX(y, order=order, seasonal_order=seasonal_order, trend="c" if not seasonal else "n")
        return np.asarray(model.fit(disp=False, maxiter=50).forecast(horizon))

    return _guarded(fit, history, horizon, season)


def _guarded(fit: Callable[[np.ndarray], np.ndarray], history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    y = np.asarray(history, dtype=float)[-max(FIT_SEASONS * season, MIN_FIT_POINTS):]
    if len(y) < 4 or np.ptp(y) == 0:
        return np.full(horizon, y[-1])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on short or flat stretches
            forecast = np.asarray(fit(y), dtype=float)
    except (ValueError, np.linalg.LinAlgError, IndexError):
        return seasonal_naive(y, horizon, season)
    if forecast.shape != (horizon,) or not np.isfinite(forecast).all():
        return seasonal_naive(y, horizon, season)
    return forecast


LOCAL_MODELS: dict[str, LocalModel] = {"seasonal_naive": seasonal_naive, "ets": ets, "theta": theta, "arima": arima}

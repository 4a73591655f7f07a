"""Forecasting many series with intervals (the ``forecast`` capability).

    forecaster = Forecaster(horizon=48).fit(history)    # long format: series_id, timestamp, value
    forecaster.predict(history)     # one row per series and future step: forecast, lo_80 .. hi_95
    forecaster.evaluate(future)     # sMAPE, MASE, OWA against Naive2, interval coverage

``fit`` runs a rolling-origin backtest over the last ``backtest_windows`` horizons of every
training series: each candidate (statsmodels ETS, Theta and SARIMAX, a seasonal naive forecast,
one LightGBM model over all series, and the mean of ETS, Theta and LightGBM) forecasts from each
origin, and each series keeps the candidate with the lowest scaled error there. Series the
backtest never saw get the candidate that did best over all series. Prediction intervals come
from the same backtest: quantiles of the scaled errors of the chosen forecasts at each step
ahead, so their width is what the models actually missed by, not what a model assumes.

Series are regularised first: the step is the most common gap between timestamps, missing
steps are filled by linear interpolation (and reported), constant series are forecast as that
constant, and series too short for a candidate fall back to a simpler one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from models.base import InputError
from models.forecast_global import GlobalBoostedForecaster
from models.forecast_metrics import mase, mase_scale, naive2, owa, smape
from models.forecast_models import LOCAL_MODELS
from models.series import split_series, validate_series

#: seasonal period by sampling step, when ``season`` is not given
SEASONS = {"5min": 288, "10min": 144, "15min": 96, "30min": 48, "h": 24, "D": 7, "W": 52, "MS": 12, "ME": 12, "QS": 4}
COMBINED = ("ets", "theta", "lightgbm")
LEVELS = (80, 95)


class Forecaster:
    name: ClassVar[str] = "forecast"
    primary_metric: ClassVar[str] = "owa"
    higher_is_better: ClassVar[bool] = False
    input_columns: ClassVar[tuple[str, ...]] = ("series_id", "timestamp", "value")
    target_column: ClassVar[str] = "value"

    def __init__(
        self,
        horizon: int = 48,
        season: int | None = None,
        candidates: tuple[str, ...] = ("seasonal_naive", "ets", "theta", "arima", "lightgbm", "combined"),
        backtest_windows: int = 2,
        selection: Literal["per_series", "global"] = "per_series",
        lags: int = 48,
        seasonal_lags: int = 7,
        n_estimators: int = 500,
        learning_rate: float = 0.05,
        num_leaves: int = 63,
        max_rows: int = 1_000_000,
        n_jobs: int = -1,
        seed: int = 42,
    ) -> None:
        self.horizon = horizon
        self.season = season
        self.candidates = tuple(candidates)
        self.backtest_windows = backtest_windows
        self.selection = selection
        self.lags = lags
        self.seasonal_lags = seasonal_lags
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_rows = max_rows
        self.n_jobs = n_jobs
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in (
            "horizon", "season", "candidates", "backtest_windows", "selection", "lags", "seasonal_lags",
            "n_estimators", "learning_rate", "num_leaves", "max_rows", "n_jobs", "seed",
        )}

    def holdout(self, frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The last ``horizon`` points of every series are the test; what comes before them, the training data."""
        frame = frame.reset_index(drop=True)
        from_end = frame.groupby("series_id", sort=False).cumcount(ascending=False)
        is_test = from_end < self.horizon
        return frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True)

    # ---- fitting -----------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> Self:
        """Backtest the candidates, choose one per series, calibrate intervals, fit the global model.

        ``valid`` is not used: the backtest windows are the validation.
        """
        unknown = sorted(set(self.candidates) - {*LOCAL_MODELS, "lightgbm", "combined"})
        if unknown or not self.candidates:
            raise InputError(f"{self.name}: unknown candidate(s) {unknown}; choose from "
                             f"{sorted({*LOCAL_MODELS, 'lightgbm', 'combined'})}")
        series = regular_series(validate_series(train, f"{self.name}.fit"))
        self.step_ = series[0].step
        self.season_ = self.season or infer_season(self.step_)
        if any(s.step != self.step_ for s in series):
            raise InputError(f"{self.name}.fit: the series are sampled at different steps; train one model per step")
        self.filled_points_ = int(sum(s.filled for s in series))

        scaled_errors = self._backtest(series)
        self._choose(series, scaled_errors)
        self._calibrate(series, scaled_errors)
        if self._needs_global(set(self.choice_.values()) | {self.default_}):
            self.global_ = self._global().fit([s.values for s in series], [s.phase(self.season_) for s in series])
        self.histories_ = {s.series_id: s for s in series}
        return self

    def _backtest(self, series: list[RegularSeries]) -> dict[str, list[list[np.ndarray]]]:
        """Signed errors / MASE scale, per candidate, per series, per window (one array of ``horizon``)."""
        errors: dict[str, list[list[np.ndarray]]] = {c: [[] for _ in series] for c in self.candidates}
        for window in tqdm(range(1, self.backtest_windows + 1), desc="backtest origins", unit="origin",
                           disable=len(series) < 50):
            cut = window * self.horizon
            usable = [i for i, s in enumerate(series) if len(s.values) - cut >= max(2 * self.season_, 8)]
            if not usable:
                continue
            past = [series[i].truncated(len(series[i].values) - cut) for i in usable]
            forecasts = self._candidate_forecasts(past, self.candidates)
            for j, i in enumerate(usable):
                truth = series[i].values[len(past[j].values) : len(past[j].values) + self.horizon]
                scale = _positive(mase_scale(past[j].values, self.season_))
                for candidate in self.candidates:
                    errors[candidate][i].append((truth - forecasts[candidate][j]) / scale)
        if not any(errors[self.candidates[0]]):
            raise InputError(f"{self.name}.fit: every series is shorter than {self.horizon} + {max(2 * self.season_, 8)} "
                             f"points, too short to backtest a {self.horizon}-step forecast; lower --horizon or add history")
        return errors

    def _choose(self, series: list[RegularSeries], errors: dict[str, list[list[np.ndarray]]]) -> None:
        """Per series the candidate with the lowest mean absolute scaled error; the overall best as default."""
        seen = [i for i in range(len(series)) if errors[self.candidates[0]][i]]
        mase_by = {c: np.array([np.mean(np.abs(np.concatenate(errors[c][i]))) for i in seen]) for c in self.candidates}
        self.backtest_mase_ = {c: float(np.mean(v)) for c, v in mase_by.items()}
        self.default_ = min(self.backtest_mase_, key=self.backtest_mase_.get)
        if self.selection == "global":
            self.choice_ = {series[i].series_id: self.default_ for i in seen}
        else:
            table = np.vstack([mase_by[c] for c in self.candidates])
            self.choice_ = {series[i].series_id: self.candidates[int(k)] for i, k in zip(seen, table.argmin(axis=0))}

    def _calibrate(self, series: list[RegularSeries], errors: dict[str, list[list[np.ndarray]]]) -> None:
        """Interval half-widths per step, in MASE-scale units, from the chosen candidates' backtest errors."""
        chosen = [np.vstack(errors[self.choice_[s.series_id]][i]) for i, s in enumerate(series) if s.series_id in self.choice_]
        absolute = np.abs(np.vstack(chosen))  # rows: (series, window), columns: steps ahead
        self.interval_scale_ = {}
        for level in LEVELS:
            if len(absolute) >= 20:
                per_step = np.quantile(absolute, level / 100, axis=0)
                # Later steps are never easier; a running maximum removes sampling wiggles.
                self.interval_scale_[level] = np.maximum.accumulate(per_step).tolist()
            else:  # too few errors per step: one width for every step
                self.interval_scale_[level] = [float(np.quantile(absolute, level / 100))] * self.horizon

    # ---- forecasting ---------------------------------------------------------------------------
    def _global(self) -> GlobalBoostedForecaster:
        return GlobalBoostedForecaster(
            self.horizon, self.season_, lags=self.lags, seasonal_lags=self.seasonal_lags, max_rows=self.max_rows,
            n_estimators=self.n_estimators, learning_rate=self.learning_rate, num_leaves=self.num_leaves, seed=self.seed,
        )

    @staticmethod
    def _needs_global(candidates: set[str]) -> bool:
        return bool(candidates & {"lightgbm", "combined"})

    def _candidate_forecasts(self, series: list[RegularSeries], candidates: tuple[str, ...],
                             model: GlobalBoostedForecaster | None = None) -> dict[str, np.ndarray]:
        """Each candidate's forecast for every series: {candidate: array (series, horizon)}."""
        needed = set(candidates)
        if "combined" in needed:
            needed |= set(COMBINED)
        forecasts: dict[str, np.ndarray] = {}
        if "lightgbm" in needed:
            histories, phases = [s.values for s in series], [s.phase(self.season_) for s in series]
            model = model or self._global().fit(histories, phases)
            forecasts["lightgbm"] = model.predict(histories, phases)
        for name in sorted(needed & set(LOCAL_MODELS)):
            forecasts[name] = _local_forecasts(name, [s.values for s in series], self.horizon, self.season_, self.n_jobs)
        if "combined" in needed:
            forecasts["combined"] = np.mean([forecasts[c] for c in COMBINED], axis=0)
        return forecasts

    def _forecast(self, series: list[RegularSeries]) -> tuple[np.ndarray, list[str]]:
        """Point forecasts (series, horizon) from the end of each series, with the candidate used for each."""
        chosen = [self.choice_.get(s.series_id, self.default_) for s in series]
        points = np.zeros((len(series), self.horizon))
        for candidate in sorted(set(chosen)):
            rows = [i for i, c in enumerate(chosen) if c == candidate]
            model = getattr(self, "global_", None)
            points[rows] = self._candidate_forecasts([series[i] for i in rows], (candidate,), model)[candidate]
        constant = [i for i, s in enumerate(series) if np.ptp(s.values) == 0]
        for i in constant:
            points[i] = series[i].values[-1]
            chosen[i] = "constant"
        return points, chosen

    def forecast(self, history: pd.DataFrame, horizon: int | None = None) -> pd.DataFrame:
        """Forecasts with 80% and 95% intervals for ``horizon`` steps (at most the trained horizon) after each series."""
        horizon = horizon or self.horizon
        if not 1 <= horizon <= self.horizon:
            raise InputError(f"horizon: {horizon} is outside 1..{self.horizon}, the horizon this model was trained for")
        series = regular_series(validate_series(history, f"{self.name}.predict"))
        points, chosen = self._forecast(series)
        parts = []
        for s, point, model in zip(series, points, chosen, strict=True):
            scale = _positive(mase_scale(s.values, self.season_))
            part = {"series_id": s.series_id, "timestamp": s.future(horizon), "forecast": point[:horizon]}
            for level in LEVELS:
                width = np.asarray(self.interval_scale_[level][:horizon]) * scale
                part[f"lo_{level}"], part[f"hi_{level}"] = point[:horizon] - width, point[:horizon] + width
            parts.append(pd.DataFrame({**part, "model": model}))
        return pd.concat(parts, ignore_index=True)

    def predict(self, batch: pd.DataFrame) -> pd.DataFrame:
        """``forecast`` over the trained horizon: one row per series and future step (not per input row)."""
        return self.forecast(batch)

    # ---- evaluation ----------------------------------------------------------------------------
    def evaluate(self, test: pd.DataFrame) -> dict[str, float]:
        """Accuracy on the values that follow the training series (M4's measures), and interval coverage.

        ``test`` holds, for some of the training series, the points right after their end.
        """
        actual, history, points = self._test_forecasts(test)
        smapes, mases, smapes_n2, mases_n2, inside = [], [], [], [], {level: [] for level in LEVELS}
        for truth, past, point in zip(actual, history, points, strict=True):
            h = len(truth)
            smapes.append(smape(truth, point[:h]))
            mases.append(mase(truth, point[:h], past.values, self.season_))
            baseline = naive2(past.values, h, self.season_)
            smapes_n2.append(smape(truth, baseline))
            mases_n2.append(mase(truth, baseline, past.values, self.season_))
            scale = _positive(mase_scale(past.values, self.season_))
            for level in LEVELS:
                width = np.asarray(self.interval_scale_[level][:h]) * scale
                inside[level].append(np.abs(truth - point[:h]) <= width)
        metrics = {"smape": float(np.mean(smapes)), "mase": _finite_mean(mases),
                   "smape_naive2": float(np.mean(smapes_n2)), "mase_naive2": _finite_mean(mases_n2)}
        metrics["owa"] = owa(metrics["smape"], metrics["mase"], metrics["smape_naive2"], metrics["mase_naive2"])
        metrics.update({f"coverage_{level}": float(np.mean(np.concatenate(inside[level]))) for level in LEVELS})
        metrics.update(n_series=len(actual), n_points=int(sum(len(a) for a in actual)))
        return metrics

    def _test_forecasts(self, test: pd.DataFrame) -> tuple[list[np.ndarray], list[RegularSeries], np.ndarray]:
        frame = validate_series(test, f"{self.name}.evaluate")
        actual, history = [], []
        for series_id, rows in split_series(frame):
            if series_id not in self.histories_:
                raise InputError(f"{self.name}.evaluate: series {series_id!r} was not in the training data; a forecast "
                                 "is scored against the series it continues, so train on a file that holds its history")
            past = self.histories_[series_id]
            expected = past.future(len(rows))
            if len(rows) > self.horizon or not (rows["timestamp"].to_numpy() == expected.to_numpy()).all():
                raise InputError(f"{self.name}.evaluate: series {series_id!r} must continue its training data with "
                                 f"1 to {self.horizon} consecutive steps from {expected[0]} (every {self.step_})")
            actual.append(rows["value"].to_numpy())
            history.append(past)
        points, _ = self._forecast(history)
        return actual, history, points

    def figures(self, test: pd.DataFrame, max_series: int = 4) -> dict[str, Figure]:
        from models.plots import forecast_figure

        actual, history, points = self._test_forecasts(test)
        shown = []
        for truth, past, point in list(zip(actual, history, points, strict=True))[:max_series]:
            scale = _positive(mase_scale(past.values, self.season_))
            h = len(truth)
            bands = {level: np.asarray(self.interval_scale_[level][:h]) * scale for level in LEVELS}
            tail = past.values[-3 * self.horizon :]
            shown.append((past.series_id, past.future(h), tail, truth, point[:h], bands,
                          self.choice_.get(past.series_id, self.default_)))
        return {"forecasts.png": forecast_figure(shown, self.step_)}

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if hasattr(self, "global_"):
            self.global_.model_.booster_.save_model(str(path / "lightgbm.txt"))
        series = list(self.histories_.values())
        np.savez_compressed(path / "histories.npz", *[s.values for s in series])
        fitted = {
            "step": str(pd.tseries.frequencies.to_offset(self.step_).freqstr), "season": self.season_,
            "series": [{"id": s.series_id, "start": s.start.isoformat(), "filled": s.filled} for s in series],
            "choice": self.choice_, "default": self.default_, "backtest_mase": self.backtest_mase_,
            "interval_scale": {str(k): v for k, v in self.interval_scale_.items()},
            "filled_points": self.filled_points_,
        }
        (path / "forecaster.json").write_text(json.dumps({"params": self.get_params(), "fitted": fitted}, indent=2))

    @classmethod
    def load(cls, path: Path) -> Self:
        path = Path(path)
        saved = json.loads((path / "forecaster.json").read_text())
        fitted = saved["fitted"]
        forecaster = cls(**{**saved["params"], "candidates": tuple(saved["params"]["candidates"])})
        forecaster.step_ = pd.tseries.frequencies.to_offset(fitted["step"])
        forecaster.season_ = fitted["season"]
        with np.load(path / "histories.npz") as arrays:
            values = [arrays[f"arr_{i}"] for i in range(len(fitted["series"]))]
        forecaster.histories_ = {
            s["id"]: RegularSeries(s["id"], pd.Timestamp(s["start"]), forecaster.step_, v, s["filled"])
            for s, v in zip(fitted["series"], values, strict=True)
        }
        forecaster.choice_, forecaster.default_ = fitted["choice"], fitted["default"]
        forecaster.backtest_mase_ = fitted["backtest_mase"]
        forecaster.interval_scale_ = {int(k): v for k, v in fitted["interval_scale"].items()}
        forecaster.filled_points_ = fitted["filled_points"]
        if (path / "lightgbm.txt").exists():
            forecaster.global_ = forecaster._global()
            forecaster.global_.model_ = _BoosterModel(path / "lightgbm.txt")
        return forecaster


class _BoosterModel:
    """A saved LightGBM booster behind the ``predict`` the forecaster calls."""

    def __init__(self, path: Path) -> None:
        import lightgbm as lgb

        self.booster_ = lgb.Booster(model_file=str(path))

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.booster_.predict(features)


class RegularSeries:
    """One series on a regular time grid, with where it sits in its seasonal cycle."""

    def __init__(self, series_id: str, start: pd.Timestamp, step: pd.DateOffset, values: np.ndarray, filled: int) -> None:
        self.series_id = series_id
        self.start = start
        self.step = step
        self.values = np.asarray(values, dtype=float)
        self.filled = filled

    def phase(self, season: int) -> int:
        """Position of the first point in the seasonal cycle (e.g. its hour of the day for hourly data)."""
        try:
            return int(((self.start - pd.Timestamp(0)) // pd.Timedelta(self.step)) % season)
        except ValueError:  # calendar steps such as months have no fixed length
            return 0

    def future(self, steps: int) -> pd.DatetimeIndex:
        last = self.start + (len(self.values) - 1) * self.step
        return pd.date_range(last, periods=steps + 1, freq=self.step)[1:]

    def truncated(self, length: int) -> RegularSeries:
        return RegularSeries(self.series_id, self.start, self.step, self.values[:length], self.filled)


def regular_series(frame: pd.DataFrame) -> list[RegularSeries]:
    """Each series on its regular grid; missing steps are filled by linear interpolation."""
    result = []
    for series_id, rows in split_series(frame):
        stamps = pd.DatetimeIndex(rows["timestamp"])
        step = _step(stamps, series_id)
        grid = pd.date_range(stamps[0], stamps[-1], freq=step)
        if not stamps.isin(grid).all():
            raise InputError(f"series {series_id!r}: timestamps do not sit on a regular {step.freqstr} grid from "
                             f"{stamps[0]}; resample the series to one step")
        values = pd.Series(rows["value"].to_numpy(), index=stamps).reindex(grid)
        filled = int(values.isna().sum())
        result.append(RegularSeries(series_id, stamps[0], step, values.interpolate().to_numpy(), filled))
    return result


def _step(stamps: pd.DatetimeIndex, series_id: str) -> pd.DateOffset:
    if len(stamps) < 2:
        raise InputError(f"series {series_id!r} has a single point; a forecast needs at least a few")
    inferred = pd.infer_freq(stamps) if len(stamps) >= 3 else None
    if inferred:
        return pd.tseries.frequencies.to_offset(inferred)
    gaps = pd.Series(np.diff(stamps.asi8))
    return pd.tseries.frequencies.to_offset(pd.Timedelta(int(gaps.mode().iloc[0])))


def infer_season(step: pd.DateOffset) -> int:
    """The usual seasonal period for a sampling step: 24 for hourly, 7 for daily, 12 for monthly; else 1."""
    name = step.freqstr.lstrip("1") if step.n == 1 else step.freqstr
    return SEASONS.get(name, SEASONS.get(name.upper(), 1))


def _local_forecasts(name: str, histories: list[np.ndarray], horizon: int, season: int, n_jobs: int) -> np.ndarray:
    model = LOCAL_MODELS[name]
    # A progress bar only where fitting takes a while: a few series are forecast in a blink.
    bar = tqdm(histories, desc=f"{name} forecasts", unit="series", leave=False, disable=len(histories) < 50)
    if n_jobs == 1 or len(histories) < 8:
        return np.array([model(y, horizon, season) for y in bar])
    from joblib import Parallel, delayed

    return np.array(Parallel(n_jobs=n_jobs, batch_size=8)(delayed(model)(y, horizon, season) for y in bar))


def _positive(scale: float) -> float:
    """A MASE scale usable as a divisor: a constant or one-point history has none, so use 1."""
    return scale if np.isfinite(scale) and scale > 0 else 1.0


def _finite_mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")

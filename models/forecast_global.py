"""One LightGBM model over many series, forecasting every step of the horizon directly.

Each training example is (series, forecast origin, step h): the features are the series' recent
values and its values at the same point of earlier seasons, all divided by the mean level of the
last season before the origin, plus h and the target's position in the season. The target is the
value h steps after the origin on the same scale. One model serves all series and all steps, so
short series borrow strength from long ones and no step inherits another's error (no recursion).
"""

from __future__ import annotations

import math
import os
from typing import Self

import lightgbm as lgb
import numpy as np


class GlobalBoostedForecaster:
    def __init__(
        self,
        horizon: int,
        season: int,
        lags: int = 48,
        seasonal_lags: int = 7,
        max_rows: int = 1_000_000,
        n_estimators: int = 500,
        learning_rate: float = 0.05,
        num_leaves: int = 63,
        seed: int = 42,
    ) -> None:
        self.horizon = horizon
        self.season = season
        self.lags = lags
        self.seasonal_lags = seasonal_lags
        self.max_rows = max_rows
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.seed = seed

    # ---- features -------------------------------------------------------------------------
    def _scale(self, y: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """Mean absolute level of the last season (at least 24 points) before each origin; 1 if zero."""
        window = max(self.season, 24)
        cumulative = np.concatenate([[0.0], np.cumsum(np.abs(y))])
        start = np.maximum(origin - window, 0)
        level = (cumulative[origin] - cumulative[start]) / np.maximum(origin - start, 1)
        return np.where(level > 0, level, 1.0)

    def _features(self, y: np.ndarray, phase: int, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, scale) for every (origin, step) pair, origins outer and steps inner."""
        steps = np.arange(1, self.horizon + 1)
        o = np.repeat(origin, self.horizon)
        h = np.tile(steps, len(origin))
        scale = np.repeat(self._scale(y, origin), self.horizon)
        padded = np.concatenate([np.full(self.lags + self.season * (self.seasonal_lags + math.ceil(self.horizon / self.season)), np.nan), y])
        shift = len(padded) - len(y)

        recent = padded[(o + shift)[:, None] - np.arange(1, self.lags + 1)[None, :]]
        target = o + h - 1
        first_k = np.ceil(h / self.season).astype(int)  # the nearest season back that is before the origin
        k = first_k[:, None] + np.arange(self.seasonal_lags)[None, :]
        seasonal = padded[(target + shift)[:, None] - k * self.season]
        last_season = padded[(o + shift)[:, None] - np.arange(1, self.season + 1)[None, :]]
        columns = [
            recent / scale[:, None],
            seasonal / scale[:, None],
            h[:, None],
            ((phase + target) % self.season)[:, None],
            (np.nanstd(last_season, axis=1) / scale)[:, None],
        ]
        return np.hstack(columns).astype(np.float32), scale

    def _origins(self, n: int, stride: int) -> np.ndarray:
        first = min(self.season, n)
        return np.arange(n - self.horizon, first - 1, -stride)[::-1]

    # ---- fit / predict -------------------------------------------------------------------------
    def fit(self, histories: list[np.ndarray], phases: list[int]) -> Self:
        usable = sum(max(len(y) - self.horizon - self.season, 0) for y in histories)
        if usable == 0:
            raise ValueError("no series is longer than one season plus the horizon: nothing to learn from")
        stride = max(1, math.ceil(usable * self.horizon / self.max_rows))
        features, targets = [], []
        for y, phase in zip(histories, phases, strict=True):
            y = np.asarray(y, dtype=float)
            origin = self._origins(len(y), stride)
            if len(origin) == 0:
                continue
            x, scale = self._features(y, phase, origin)
            steps = np.tile(np.arange(self.horizon), len(origin))
            features.append(x)
            targets.append(y[np.repeat(origin, self.horizon) + steps] / scale)
        self.model_ = lgb.LGBMRegressor(
            objective="l1", n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, min_child_samples=50, subsample=0.8, subsample_freq=1,
            colsample_bytree=0.8, random_state=self.seed, n_jobs=os.cpu_count() or 1, verbose=-1,
        ).fit(np.vstack(features), np.concatenate(targets))
        self.stride_ = stride
        return self

    def predict(self, histories: list[np.ndarray], phases: list[int]) -> np.ndarray:
        """Forecasts from the end of each history: an array of shape (series, horizon)."""
        rows, scales = [], []
        for y, phase in zip(histories, phases, strict=True):
            x, scale = self._features(np.asarray(y, dtype=float), phase, np.array([len(y)]))
            rows.append(x)
            scales.append(scale)
        predicted = self.model_.predict(np.vstack(rows)) * np.concatenate(scales)
        return predicted.reshape(len(histories), self.horizon)

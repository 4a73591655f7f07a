"""Streaming anomaly signals over one series: every value at time t uses points up to t only.

Three steps, each a plain function over a numpy array so they can be read and tested alone:

1. :func:`surprise`: how far each value falls from a robust forecast of it made from the
   preceding window (rolling median, inter-quartile scale), squashed into [0, 1].
2. :func:`likelihood_score`: whether the recent average surprise is unusually high for this
   series, as a Gaussian tail probability against the surprise history. Sustained or unusual
   surprise scores high, the routine noise of a noisy series does not. Reported on a log scale
   (0.5 is a one-in-100,000 event), the way Numenta's anomaly likelihood is.
3. :func:`range_breach`: a value outside everything seen so far, widened by a tolerance.

A point's anomaly score is the highest of its signals; a breach of the past range scores 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import log_ndtr

#: the log-likelihood scale: a tail probability of 1e-10 or less scores 1
_LOG_FLOOR = np.log(1e-10)


def surprise(values: np.ndarray, window: int, softness: float) -> np.ndarray:
    """1 - exp(-z / softness), where z is the distance from the median of the previous ``window``
    values in robust standard deviations. Zero until a quarter of a window has been seen."""
    past = pd.Series(values).shift(1).rolling(window, min_periods=max(window // 4, 3))
    median = past.median()
    scale = (past.quantile(0.75) - past.quantile(0.25)) / 1.349
    # A flat stretch has no spread; measure against a hundredth of the range seen so far instead.
    seen = pd.Series(values).shift(1)
    floor = 0.01 * (seen.cummax() - seen.cummin()) + 1e-9
    z = np.abs(values - median) / np.maximum(scale, floor)
    return np.nan_to_num(1.0 - np.exp(-z.to_numpy() / softness), nan=0.0)


def likelihood_score(raw: np.ndarray, short: int, history: int, learning: int, min_std: float) -> np.ndarray:
    """The log tail probability of the mean of the last ``short`` raw scores, against the mean and
    spread of that average over the previous ``history`` points, in [0, 1]. Zero while learning."""
    average = pd.Series(raw).rolling(short, min_periods=1).mean()
    past = average.shift(1).rolling(history, min_periods=learning)
    z = (average - past.mean()) / np.maximum(past.std().to_numpy(), min_std)
    score = log_ndtr(-z.to_numpy()) / _LOG_FLOOR
    return np.clip(np.nan_to_num(score, nan=0.0), 0.0, 1.0)


def range_breach(values: np.ndarray, tolerance: float, learning: int) -> np.ndarray:
    """1 where a value leaves the range of all earlier values by more than ``tolerance`` of that
    range, after the first ``learning`` points; else 0."""
    seen = pd.Series(values).shift(1)
    high, low = seen.cummax().to_numpy(), seen.cummin().to_numpy()
    margin = tolerance * (high - low)
    with np.errstate(invalid="ignore"):
        breach = ((values > high + margin) | (values < low - margin)) & (high > low)
    breach[:learning] = False
    return breach.astype(float)


def alarms(scores: np.ndarray, threshold: float, quiet: int) -> np.ndarray:
    """Boolean alarms: a score at or above the threshold, unless an alarm was raised in the
    previous ``quiet`` points (one event, one alarm)."""
    above = np.flatnonzero(scores >= threshold)
    raised = np.zeros(len(scores), dtype=bool)
    last = -quiet - 1
    for i in above:
        if i - last > quiet:
            raised[i] = True
            last = i
    return raised

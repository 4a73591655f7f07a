"""Streaming anomaly detection over many univariate series (the ``anomaly`` capability).

    detector = StreamingAnomalyDetector().fit(labelled)    # picks an alarm threshold per NAB profile
    detector.predict(frame)   # score in [0, 1] and alarm, one row per input row
    detector.evaluate(test)   # NAB scores under the three cost profiles

Input is the long format ``series_id,timestamp,value`` (``label`` = 1 inside anomaly windows, for
training and evaluation). Every score is computed from the point and the points before it, never
after, so a series scored in one batch gets the scores it would have got point by point.

A point's score is the highest of its signals (``models/anomaly_signals.py``): the likelihood of
its recent surprise under a short and a long window, and a breach of the range seen so far. An
alarm is a score at or above the threshold of the chosen profile, with no other
alarm on that series in the ``quiet`` points before it. ``fit`` picks each profile's threshold
by the NAB score it gives on the training series; the signals have no other fitted state, so a
model is a small JSON file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models.anomaly_signals import alarms, likelihood_score, range_breach, surprise
from models.base import InputError
from models.nab_scoring import PROFILES, CostProfile, SeriesSweep, normalize, score_series
from models.series import split_series, validate_series

Profile = Literal["standard", "reward_low_FP_rate", "reward_low_FN_rate"]
#: thresholds tried by ``fit``
THRESHOLD_GRID = np.round(np.arange(0.10, 1.0001, 0.005), 3)


class StreamingAnomalyDetector:
    name: ClassVar[str] = "anomaly"
    primary_metric: ClassVar[str] = "nab_standard"
    input_columns: ClassVar[tuple[str, ...]] = ("series_id", "timestamp", "value")
    target_column: ClassVar[str] = "label"

    def __init__(
        self,
        short_window: int = 64,
        long_window: int = 1000,
        softness: float = 3.0,
        average: int = 30,
        history: int = 8640,
        learning: int = 150,
        min_std: float = 0.03,
        breach_tolerance: float = 0.05,
        quiet: int = 75,
        profile: Profile = "standard",
        threshold: float = 0.5,
        seed: int = 42,
    ) -> None:
        self.short_window = short_window
        self.long_window = long_window
        self.softness = softness
        self.average = average
        self.history = history
        self.learning = learning
        self.min_std = min_std
        self.breach_tolerance = breach_tolerance
        self.quiet = quiet
        self.profile = profile
        self.threshold = threshold
        self.seed = seed  # unused: the detector is deterministic; kept so every capability takes one

    def get_params(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in (
            "short_window", "long_window", "softness", "average", "history", "learning", "min_std",
            "breach_tolerance", "quiet", "profile", "threshold", "seed",
        )}

    # ---- scoring -------------------------------------------------------------------------
    def series_scores(self, values: np.ndarray) -> np.ndarray:
        """The anomaly score of each point of one series, from that point and the ones before it."""
        likelihoods = [
            likelihood_score(surprise(values, window, self.softness), self.average, self.history, self.learning, self.min_std)
            for window in (self.short_window, self.long_window)
        ]
        return np.maximum.reduce([*likelihoods, range_breach(values, self.breach_tolerance, self.learning)])

    @property
    def thresholds(self) -> dict[str, float]:
        """The alarm threshold per NAB profile: fitted, or ``threshold`` for all before fitting."""
        return getattr(self, "thresholds_", {name: self.threshold for name in PROFILES})

    @property
    def operating_threshold(self) -> float:
        """The threshold alarms are raised at: the chosen profile's."""
        return float(self.thresholds[self.profile])

    def predict(self, batch: pd.DataFrame) -> pd.DataFrame:
        frame = validate_series(batch, f"{self.name}.predict")
        threshold = self.operating_threshold
        score, alarm = np.zeros(len(frame)), np.zeros(len(frame), dtype=bool)
        for _, rows in split_series(frame):
            at = rows.index.to_numpy()  # positions: validate_series resets the index
            score[at] = self.series_scores(rows["value"].to_numpy())
            alarm[at] = alarms(score[at], threshold, self.quiet)
        return pd.DataFrame({"score": score, "alarm": alarm}, index=batch.index)

    # ---- training and evaluation -------------------------------------------------------------
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> Self:
        """Pick each profile's threshold by NAB score on the labelled series (train and valid together).

        Without a labelled anomaly window there is nothing to tune against, and every profile keeps
        ``threshold``.
        """
        if self.profile not in PROFILES:
            raise InputError(f"{self.name}: unknown profile {self.profile!r}; choose one of {sorted(PROFILES)}")
        frames = [validate_series(train, f"{self.name}.fit", label=True)]
        if valid is not None:
            frames.append(validate_series(valid, f"{self.name}.fit (valid)", label=True))
        scores, sweeps = self._scored(pd.concat(frames, ignore_index=True))
        self.tuned_ = sum(sweep.n_windows for sweep in sweeps) > 0
        self.thresholds_ = best_thresholds(scores, sweeps, self.quiet) if self.tuned_ else {n: self.threshold for n in PROFILES}
        return self

    def holdout(self, frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Whole series held out for testing: a detector is scored on streams it did not tune on.

        A single series is split in time instead: its last ``test_size`` is scored as a stream of its own.
        """
        names = frame["series_id"].astype(str).unique()
        if len(names) < 2:
            cut = int(len(frame) * (1 - test_size))
            return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)
        rng = np.random.default_rng(seed)
        test_names = rng.choice(names, size=max(1, round(test_size * len(names))), replace=False)
        is_test = frame["series_id"].astype(str).isin(test_names)
        return frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True)

    def _scored(self, frame: pd.DataFrame) -> tuple[list[np.ndarray], list[SeriesSweep]]:
        series = split_series(frame)
        scores = [self.series_scores(rows["value"].to_numpy()) for _, rows in series]
        sweeps = [SeriesSweep.of(rows["label"].to_numpy()) for _, rows in series]
        return scores, sweeps

    def evaluate(self, test: pd.DataFrame) -> dict[str, float]:
        """NAB scores of the alarms under each profile's threshold, and what they found.

        ``nab_<profile>`` is normalised (detecting nothing 0, perfect 100); the counts are for the
        chosen ``profile``.
        """
        frame = validate_series(test, f"{self.name}.evaluate", label=True)
        scores, sweeps = self._scored(frame)
        if sum(sweep.n_windows for sweep in sweeps) == 0:
            raise InputError(f"{self.name}.evaluate: the test data has no anomaly window after the probationary "
                             "period (label = 1 for the points inside each window); NAB scores need at least one")
        metrics: dict[str, float] = {}
        for name, profile in PROFILES.items():
            raw, found, missed, false_alarms = alarm_score(scores, sweeps, self.thresholds[name], self.quiet, profile)
            metrics[f"nab_{name.lower()}"] = normalize(raw, sweeps, profile)
            if name == self.profile:
                metrics.update(windows_found=found, windows_missed=missed, false_alarms=false_alarms)
        metrics.update(n_series=len(sweeps), n_points=len(frame))
        return metrics

    def figures(self, test: pd.DataFrame, max_series: int = 4) -> dict[str, Figure]:
        from models.plots import anomaly_figure

        frame = validate_series(test, f"{self.name}.figures", label=True)
        predicted = self.predict(frame)
        # The series with the most labelled windows show the most.
        windows = frame.groupby("series_id", sort=False)["label"].apply(lambda s: int((s.diff() == 1).sum() + s.iloc[0]))
        shown = windows.sort_values(ascending=False, kind="stable").index[:max_series]
        keep = frame["series_id"].isin(shown)
        return {"anomalies.png": anomaly_figure(frame[keep].join(predicted[keep]), self.thresholds[self.profile])}

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        fitted = {"thresholds": self.thresholds, "tuned": getattr(self, "tuned_", False)}
        (path / "detector.json").write_text(json.dumps({"params": self.get_params(), "fitted": fitted}, indent=2))

    @classmethod
    def load(cls, path: Path) -> Self:
        saved = json.loads((Path(path) / "detector.json").read_text())
        detector = cls(**saved["params"])
        detector.thresholds_ = saved["fitted"]["thresholds"]
        detector.tuned_ = saved["fitted"]["tuned"]
        return detector


def alarm_score(
    scores: list[np.ndarray], sweeps: list[SeriesSweep], threshold: float, quiet: int, profile: CostProfile
) -> tuple[float, int, int, int]:
    """Raw NAB score of the alarms at a threshold over many series: (score, windows found, missed, false alarms)."""
    parts = [score_series(alarms(s, threshold, quiet), w, 0.5, profile) for s, w in zip(scores, sweeps, strict=True)]
    return tuple(sum(p[i] for p in parts) for i in range(4))  # type: ignore[return-value]


def best_thresholds(scores: list[np.ndarray], sweeps: list[SeriesSweep], quiet: int) -> dict[str, float]:
    """Per profile, the threshold in THRESHOLD_GRID whose alarms score best (ties: the lowest)."""
    totals = {name: [] for name in PROFILES}
    for threshold in THRESHOLD_GRID:
        raised = [alarms(s, threshold, quiet) for s in scores]
        for name, profile in PROFILES.items():
            totals[name].append(sum(score_series(a, w, 0.5, profile)[0] for a, w in zip(raised, sweeps, strict=True)))
    return {name: float(THRESHOLD_GRID[int(np.argmax(values))]) for name, values in totals.items()}

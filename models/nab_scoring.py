"""The Numenta Anomaly Benchmark's scoring rules, for any labelled series.

A detection is a point whose anomaly score is at or above the threshold. Per series:

- the first 15% of points (at most 750) are a probationary period and are not scored;
- each labelled anomaly window (a run of ``label == 1``) found by at least one detection earns
  ``tp_weight`` times a scaled sigmoid of how early its first detection came (1 at the left edge,
  0 at the right edge); a missed window costs ``fn_weight``;
- a detection outside every window costs ``fp_weight`` times the scaled sigmoid of its distance
  past the previous window's right edge, in window widths (about 0 just after a window, 1 far
  from one); before the first window it costs the full ``fp_weight``.

Scores are summed over a corpus and normalised so detecting nothing scores 0 and finding every
window at its left edge with no false positives scores 100. One threshold is used for the whole
corpus; :func:`best_threshold` sweeps every distinct anomaly score for the one with the highest
corpus score, as NAB's optimiser does. Rules from Lavin & Ahmad (2015), "Evaluating Real-time
Anomaly Detection Algorithms", and NAB's ``sweeper.py``, which ``bench/nab.py --nab-repo``
checks this module against.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROBATION_FRACTION = 0.15
MAX_PROBATION = PROBATION_FRACTION * 5000


@dataclass(frozen=True)
class CostProfile:
    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


#: NAB's three application profiles (config/profiles.json)
PROFILES: dict[str, CostProfile] = {
    "standard": CostProfile("standard", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0),
    "reward_low_FP_rate": CostProfile("reward_low_FP_rate", tp_weight=1.0, fp_weight=0.22, fn_weight=1.0),
    "reward_low_FN_rate": CostProfile("reward_low_FN_rate", tp_weight=1.0, fp_weight=0.11, fn_weight=2.0),
}


def read_profiles(path: Path) -> dict[str, CostProfile]:
    """Profiles from a NAB ``profiles.json``."""
    raw = json.loads(Path(path).read_text())
    return {
        name: CostProfile(name, c["CostMatrix"]["tpWeight"], c["CostMatrix"]["fpWeight"], c["CostMatrix"]["fnWeight"])
        for name, c in raw.items()
    }


def scaled_sigmoid(position: np.ndarray | float) -> np.ndarray:
    """2·sigmoid(-5x) - 1: +0.987 at the window's left edge (x=-1), 0 at its right edge, -1 far past it."""
    x = np.asarray(position, dtype=float)
    return np.where(x > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * np.minimum(x, 3.0))) - 1.0)


def anomaly_windows(labels: np.ndarray) -> list[tuple[int, int]]:
    """The (first, last) index of every run of labels equal to 1, inclusive."""
    flags = np.asarray(labels).astype(bool).astype(np.int8)
    edges = np.diff(np.concatenate([[0], flags, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


def probation_length(n_points: int) -> int:
    return int(min(math.floor(PROBATION_FRACTION * n_points), MAX_PROBATION))


@dataclass(frozen=True)
class SeriesSweep:
    """Each point's reward if it were a detection, before the cost weights, and its window.

    ``window`` is the index of the window holding the point, or -1 outside every window. Points in
    the probationary period are dropped (``scored`` is False), as are the windows lying entirely
    inside it.
    """

    tp_reward: np.ndarray  # scaled sigmoid / its maximum, inside windows; 0 elsewhere
    fp_cost: np.ndarray  # -scaled sigmoid of the distance past the previous window, outside windows
    window: np.ndarray
    scored: np.ndarray
    n_windows: int  # windows with at least one scored point

    @classmethod
    def of(cls, labels: np.ndarray) -> SeriesSweep:
        n = len(labels)
        tp_reward, fp_cost = np.zeros(n), np.ones(n)
        window = np.full(n, -1)
        index = np.arange(n)
        max_tp = float(scaled_sigmoid(-1.0))
        previous_end, previous_width = None, None
        windows = anomaly_windows(labels)
        for number, (start, end) in enumerate(windows):
            width = end - start + 1
            inside = index[start : end + 1]
            tp_reward[start : end + 1] = scaled_sigmoid(-(end - inside + 1) / width) / max_tp
            window[start : end + 1] = number
            if previous_end is not None:
                after = index[previous_end + 1 : start]
                fp_cost[after] = -scaled_sigmoid(np.abs(previous_end - after) / _denominator(previous_width))
            previous_end, previous_width = end, width
        if previous_end is not None:
            after = index[previous_end + 1 :]
            fp_cost[after] = -scaled_sigmoid(np.abs(previous_end - after) / _denominator(previous_width))
        fp_cost[window >= 0] = 0.0
        scored = index >= probation_length(n)
        live = set(window[scored & (window >= 0)].tolist())
        # Renumber so live windows are 0..k-1 and probationary-only ones disappear.
        renumber = {old: new for new, old in enumerate(sorted(live))}
        window = np.array([renumber.get(w, -1) for w in window.tolist()], dtype=int) if windows else window
        return cls(tp_reward, fp_cost, window, scored, len(live))


def _denominator(width: int) -> float:
    # NAB divides by (width - 1); a one-point window would divide by zero there.
    return float(max(width - 1, 1))


@dataclass(frozen=True)
class NabScore:
    raw: float
    normalized: float
    threshold: float
    true_positives: int  # windows detected
    false_negatives: int  # windows missed
    false_positives: int  # detections outside windows


def score_series(scores: np.ndarray, sweep: SeriesSweep, threshold: float, profile: CostProfile) -> tuple[float, int, int, int]:
    """Raw NAB score of one series at a threshold: (score, windows found, windows missed, false positives)."""
    detected = (np.asarray(scores, dtype=float) >= threshold) & sweep.scored
    false_alarms = detected & (sweep.window < 0)
    raw = -profile.fp_weight * float(sweep.fp_cost[false_alarms].sum())
    found = 0
    for number in range(sweep.n_windows):
        hits = detected & (sweep.window == number)
        if hits.any():
            raw += profile.tp_weight * float(sweep.tp_reward[hits].max())
            found += 1
        else:
            raw -= profile.fn_weight
    return raw, found, sweep.n_windows - found, int(false_alarms.sum())


def score_corpus(
    scores: list[np.ndarray], sweeps: list[SeriesSweep], threshold: float, profile: CostProfile
) -> NabScore:
    """The NAB score of a corpus at one threshold, normalised so null = 0 and perfect = 100."""
    parts = [score_series(s, w, threshold, profile) for s, w in zip(scores, sweeps, strict=True)]
    raw = sum(p[0] for p in parts)
    return NabScore(
        raw=raw,
        normalized=normalize(raw, sweeps, profile),
        threshold=threshold,
        true_positives=sum(p[1] for p in parts),
        false_negatives=sum(p[2] for p in parts),
        false_positives=sum(p[3] for p in parts),
    )


def normalize(raw: float, sweeps: list[SeriesSweep], profile: CostProfile) -> float:
    windows = sum(s.n_windows for s in sweeps)
    null = -profile.fn_weight * windows
    perfect = profile.tp_weight * windows
    if perfect == null:
        raise ValueError("the corpus has no labelled anomaly window to score against")
    return 100.0 * (raw - null) / (perfect - null)


def best_threshold(scores: list[np.ndarray], sweeps: list[SeriesSweep], profile: CostProfile) -> NabScore:
    """The threshold with the highest corpus score, trying every distinct anomaly score (NAB's optimiser).

    Walks the scored points from the highest anomaly score down, so each candidate costs only the
    points it adds: false positives add their cost, a window's reward rises to its best detection.
    """
    series_of = np.concatenate([np.full(int(w.scored.sum()), i) for i, w in enumerate(sweeps)])
    values = np.concatenate([np.asarray(s, dtype=float)[w.scored] for s, w in zip(scores, sweeps, strict=True)])
    offsets = np.cumsum([0] + [w.n_windows for w in sweeps])
    window = np.concatenate([w.window[w.scored] for w in sweeps])
    window = np.where(window >= 0, window + offsets[series_of], -1)
    tp = np.concatenate([w.tp_reward[w.scored] for w in sweeps])
    fp = np.concatenate([w.fp_cost[w.scored] for w in sweeps])

    order = np.argsort(-values, kind="stable")
    values, window, tp, fp = values[order], window[order], tp[order], fp[order]
    n_windows = int(offsets[-1])
    window_value = np.full(n_windows, -profile.fn_weight)
    raw = float(window_value.sum())
    fp_count, best = 0, (raw, math.inf, 0, 0)  # detecting nothing
    i = 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i]:
            w = window[j]
            if w < 0:
                raw -= profile.fp_weight * fp[j]
                fp_count += 1
            else:
                reward = profile.tp_weight * tp[j]
                if reward > window_value[w]:
                    raw += reward - window_value[w]
                    window_value[w] = reward
            j += 1
        if raw > best[0]:
            best = (raw, float(values[i]), fp_count, int((window_value > -profile.fn_weight).sum()))
        i = j
    raw, threshold, fp_count, found = best
    return NabScore(raw, normalize(raw, sweeps, profile), threshold, found, n_windows - found, fp_count)

"""Diagnostic figures logged to MLflow and shown in notebooks."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix


def confusion_matrix_figure(truth: pd.Series, predicted: pd.Series) -> Figure:
    """Row-normalised confusion matrix; readable up to ~100 classes."""
    labels = sorted(set(truth) | set(predicted))
    matrix = confusion_matrix(truth, predicted, labels=labels, normalize="true")
    size = min(4 + 0.18 * len(labels), 22)
    fig = Figure(figsize=(size, size))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=max(4, 10 - len(labels) // 12))
    ax.set_yticks(range(len(labels)), labels, fontsize=max(4, 10 - len(labels) // 12))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix (row-normalised, {len(truth)} examples)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def reliability_figure(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> Figure:
    """Calibration curve (accuracy against confidence per bin) beside a confidence histogram."""
    from models.metrics import expected_calibration_error

    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    curve = pd.DataFrame({"bin": which, "confidence": confidence, "correct": correct.astype(float)}).groupby("bin").mean()
    fig = Figure(figsize=(11, 4))
    left, right = fig.subplots(1, 2)
    left.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    left.plot(curve["confidence"], curve["correct"], "o-", label="model")
    left.set_xlabel("confidence")
    left.set_ylabel("accuracy")
    left.set_title(f"Reliability (ECE {expected_calibration_error(confidence, correct):.3f})")
    left.legend()
    right.hist([confidence[correct], confidence[~correct]], bins=20, range=(0, 1), stacked=True, label=["correct", "wrong"])
    right.set_xlabel("confidence")
    right.set_title("Confidence of right and wrong answers")
    right.legend()
    fig.tight_layout()
    return fig


def per_type_scores_figure(scores: dict[str, dict[str, float]]) -> Figure:
    """Precision, recall and F1 per entity type (from ``models.metrics.entity_scores``)."""
    labels = [label for label in scores if label != "overall"] + ["overall"]
    x = np.arange(len(labels))
    fig = Figure(figsize=(max(6, 1.1 * len(labels) + 2), 4))
    ax = fig.add_subplot()
    for offset, metric in zip((-0.27, 0.0, 0.27), ("precision", "recall", "f1")):
        values = [scores[label][metric] for label in labels]
        bars = ax.bar(x + offset, values, width=0.27, label=metric)
        if metric == "f1":
            ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks(x, [f"{label}\n(n={scores[label]['support']:.0f})" for label in labels])
    ax.set_ylim(0, 1.08)
    ax.set_title(f"Entity-level scores per type (overall F1 {scores['overall']['f1']:.3f})")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def anomaly_figure(frame: pd.DataFrame, threshold: float) -> Figure:
    """Per series: values with labelled anomaly windows shaded and alarms marked, over the anomaly score.

    ``frame`` is the long series format with ``label``, ``score`` and ``alarm``.
    """
    series = list(frame.groupby("series_id", sort=False))
    fig = Figure(figsize=(12, 3.2 * len(series)))
    axes = fig.subplots(2 * len(series), 1, squeeze=False, gridspec_kw={"height_ratios": [3, 1] * len(series)})[:, 0]
    for number, (name, rows) in enumerate(series):
        top, bottom = axes[2 * number], axes[2 * number + 1]
        time = rows["timestamp"].to_numpy()
        top.plot(time, rows["value"], lw=0.7, color="tab:blue")
        inside = rows["label"].to_numpy() == 1
        top.fill_between(time, 0, 1, where=inside, transform=top.get_xaxis_transform(), color="tab:orange",
                         alpha=0.25, label="labelled window")
        raised = rows[rows["alarm"]]
        top.scatter(raised["timestamp"], raised["value"], color="tab:red", zorder=3, s=18, label="alarm")
        top.set_title(f"{name}: {len(raised)} alarm(s)", fontsize=9)
        top.legend(loc="upper left", fontsize=7)
        bottom.plot(time, rows["score"], lw=0.6, color="grey")
        bottom.axhline(threshold, color="tab:red", ls="--", lw=0.8)
        bottom.set_ylim(0, 1.05)
        bottom.set_ylabel("score", fontsize=7)
    fig.tight_layout()
    return fig


def forecast_figure(shown: list[tuple], step) -> Figure:
    """Per series: recent history, what happened next, the forecast and its 80% / 95% intervals.

    ``shown`` holds (series_id, future timestamps, history tail, actual, forecast, {level: half-width}, model).
    """
    fig = Figure(figsize=(12, 3.0 * len(shown)))
    axes = fig.subplots(len(shown), 1, squeeze=False)[:, 0]
    for ax, (name, future, tail, actual, point, bands, model) in zip(axes, shown, strict=True):
        past = future[0] - step * np.arange(len(tail), 0, -1)
        ax.plot(past, tail, color="black", lw=0.8, label="history")
        ax.plot(future, actual, color="black", lw=0.8, ls="--", label="actual")
        for level, alpha in ((95, 0.15), (80, 0.3)):
            ax.fill_between(future, point - bands[level], point + bands[level], color="tab:blue", alpha=alpha,
                            label=f"{level}% interval")
        ax.plot(future, point, color="tab:blue", lw=1.2, label=f"forecast ({model})")
        ax.set_title(str(name), fontsize=9)
        ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return fig


def risk_coverage_figure(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> Figure:
    """Risk (share wrong among the responses kept) against coverage (share kept), keeping the most
    confident first; the operating threshold marked."""
    order = np.argsort(-confidence, kind="stable")
    wrong = (~correct[order]).astype(float)
    kept = np.arange(1, len(order) + 1)
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    ax.plot(kept / len(order), np.cumsum(wrong) / kept, label="keeping the most confident first")
    at = confidence >= threshold
    if at.any():
        ax.plot([at.mean()], [1 - correct[at].mean()], "o", color="black", label=f"review below {threshold:.2f}")
    ax.axhline(1 - correct.mean(), ls="--", color="grey", label="keeping everything")
    ax.set_xlabel("coverage (share of responses that go out without review)")
    ax.set_ylabel("risk (share of those that are wrong)")
    ax.set_title("Risk-coverage")
    ax.legend()
    fig.tight_layout()
    return fig

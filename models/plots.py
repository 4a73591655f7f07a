"""Diagnostic figures logged to MLflow and shown in notebooks."""

from __future__ import annotations

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

"""The long series format every time-series capability reads, and its checks.

    series_id,timestamp,value[,label]

One row per observation; many series in one frame. Each series must have increasing, unique
timestamps and numeric, finite values. Checks name the series and the row at fault (counting
data rows from 1), so a user can fix the file instead of guessing; they never reorder or drop
data silently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.base import InputError, require_columns

SERIES_COLUMNS = ("series_id", "timestamp", "value")


def validate_series(frame: pd.DataFrame, where: str, label: bool = False) -> pd.DataFrame:
    """A copy of ``frame`` (index reset) with parsed timestamps and float values, or an InputError saying what is wrong.

    ``label=True`` also requires a 0/1 ``label`` column.
    """
    columns = [*SERIES_COLUMNS, "label"] if label else list(SERIES_COLUMNS)
    require_columns(frame, columns, where)
    if frame.empty:
        raise InputError(f"{where}: no rows; expected columns {columns}, one row per observation")
    # Positions, not index labels, name the rows at fault: an index may repeat.
    frame = frame.reset_index(drop=True)
    frame["series_id"] = frame["series_id"].astype(str)
    frame["timestamp"] = parse_timestamps(frame["timestamp"], where)
    frame["value"] = _values(frame, where)
    if label:
        frame["label"] = _labels(frame, where)
    _check_order(frame, where)
    return frame


def parse_timestamps(column: pd.Series, where: str) -> pd.Series:
    """Timestamps as naive datetime64 (time zones converted to UTC), or an InputError naming the first bad row."""
    column = column.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = column
    else:
        parsed = pd.to_datetime(column, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise InputError(f"{where}: column 'timestamp' has {int(bad.sum())} missing or unparseable value(s), "
                         f"first at row {row + 1} ({column.iloc[row]!r}); use ISO dates like 2024-01-31 13:00:00")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed


def _values(frame: pd.DataFrame, where: str) -> pd.Series:
    raw = frame["value"]
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    non_numeric = values.isna() & raw.notna()
    if non_numeric.any():
        row = int(non_numeric.to_numpy().argmax())
        raise InputError(f"{where}: column 'value' has {int(non_numeric.sum())} non-numeric value(s), "
                         f"first at row {row + 1} ({raw[row]!r}, series {frame['series_id'][row]!r})")
    missing = ~np.isfinite(values)
    if missing.any():
        row = int(np.asarray(missing).argmax())
        raise InputError(f"{where}: column 'value' has {int(missing.sum())} missing or infinite value(s), first at "
                         f"row {row + 1} (series {frame['series_id'][row]!r}); fill or drop them before scoring")
    return values


def _labels(frame: pd.DataFrame, where: str) -> pd.Series:
    labels = pd.to_numeric(frame["label"], errors="coerce")
    if not labels.isin([0, 1]).all():
        row = int((~labels.isin([0, 1])).to_numpy().argmax())
        raise InputError(f"{where}: column 'label' must be 0 or 1 (1 inside an anomaly window), "
                         f"row {row + 1} has {frame['label'][row]!r}")
    return labels.astype(int)


def _check_order(frame: pd.DataFrame, where: str) -> None:
    same_series = frame["series_id"].eq(frame["series_id"].shift())
    step = frame["timestamp"].diff()
    duplicate = same_series & step.eq(pd.Timedelta(0))
    if duplicate.any():
        row = int(duplicate.to_numpy().argmax())
        raise InputError(f"{where}: series {frame['series_id'][row]!r} has a duplicate timestamp "
                         f"{frame['timestamp'][row]} at row {row + 1}; keep one row per timestamp")
    backwards = same_series & (step < pd.Timedelta(0))
    if backwards.any():
        row = int(backwards.to_numpy().argmax())
        raise InputError(f"{where}: series {frame['series_id'][row]!r} is not sorted by timestamp at row {row + 1} "
                         f"({frame['timestamp'][row]} comes after a later one); sort by series_id, timestamp")
    # A series split into several blocks would be read as one broken series.
    starts = frame.loc[~same_series, "series_id"]
    if starts.duplicated().any():
        name = starts[starts.duplicated()].iloc[0]
        raise InputError(f"{where}: the rows of series {name!r} are not contiguous; sort by series_id, timestamp")


def split_series(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(series_id, rows) in the order the series first appear."""
    return [(str(name), rows) for name, rows in frame.groupby("series_id", sort=False)]

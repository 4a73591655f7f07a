"""Reading M4 Hourly into the long series format.

M4 ships wide CSVs: one row per series, the id in ``V1`` then the observations, padded with
empty cells. The competition's files carry no dates, so timestamps here are hourly from
``START`` for every series: positions, not calendar times. Hour-of-day features therefore
line up with each series' own daily cycle only through its start, as in the competition itself.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.base import InputError

START = pd.Timestamp("2000-01-01 00:00")


def read_m4_wide(path: Path, limit: int | None = None) -> pd.DataFrame:
    """One M4 CSV as the long format ``series_id,timestamp,value``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} not found: pass the folder holding Hourly-train.csv and Hourly-test.csv")
    wide = pd.read_csv(path, nrows=limit)
    long = wide.melt(id_vars="V1", var_name="position", value_name="value").dropna(subset=["value"])
    long["position"] = long["position"].str[1:].astype(int) - 2
    long = long.sort_values(["V1", "position"], key=lambda c: c.map(_id_order) if c.name == "V1" else c)
    return long.rename(columns={"V1": "series_id"}).reset_index(drop=True)


def _id_order(series_id: str) -> int:
    return int(series_id[1:]) if series_id[1:].isdigit() else 0


def read_m4_hourly(folder: Path, limit: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) in the long format; test continues each training series for 48 hours."""
    train = read_m4_wide(Path(folder) / "Hourly-train.csv", limit)
    test = read_m4_wide(Path(folder) / "Hourly-test.csv", limit)
    length = train.groupby("series_id")["position"].max() + 1
    test["position"] += test["series_id"].map(length)
    for frame in (train, test):
        frame["timestamp"] = START + pd.to_timedelta(frame.pop("position"), unit="h")
    return train[["series_id", "timestamp", "value"]], test[["series_id", "timestamp", "value"]]

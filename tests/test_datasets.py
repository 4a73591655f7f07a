"""Loading files by extension, mapping columns, and splitting."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from models.base import InputError
from models.intent import IntentClassifier
from models.tables import read_table, write_table
from training.datasets import load_frame, load_splits

FRAME = pd.DataFrame({"utterance": ["lost my card", "refund please", "where is my order"], "category": ["a", "b", "c"]})


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_every_supported_format_round_trips(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"data{suffix}"
    write_table(FRAME, path)
    pd.testing.assert_frame_equal(read_table(path), FRAME)


def test_unsupported_extension_says_what_is_supported(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_text("x")
    with pytest.raises(InputError, match=r"\.xlsx.*\.csv"):
        read_table(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.csv"):
        read_table(tmp_path / "nope.csv")


def test_columns_are_mapped_onto_the_capability(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    FRAME.assign(label="stale").to_csv(path, index=False)  # a "label" column that is NOT the chosen one
    frame = load_frame(IntentClassifier(), path, text_col="utterance", label_col="category")
    assert list(frame["text"]) == list(FRAME["utterance"])
    assert list(frame["label"]) == list(FRAME["category"])


def test_missing_columns_error_lists_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    FRAME.to_csv(path, index=False)
    with pytest.raises(InputError) as error:
        load_frame(IntentClassifier(), path)  # no "text"/"label" columns and no mapping
    assert "'text'" in str(error.value) and "utterance" in str(error.value) and "--text-col" in str(error.value)


def test_rows_without_text_or_label_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a", None, "c"], "label": ["x", "y", None]}).to_csv(path, index=False)
    assert list(load_frame(IntentClassifier(), path)["text"]) == ["a"]


def test_sample_data_is_used_and_split_stratified(settings) -> None:
    splits = load_splits(IntentClassifier(), settings)
    total = len(splits.train) + len(splits.test)
    assert len(splits.test) == pytest.approx(total * settings.training.test_size, abs=1)
    train_share = splits.train["label"].value_counts(normalize=True)
    test_share = splits.test["label"].value_counts(normalize=True)
    assert (train_share - test_share).abs().max() < 0.01
    assert splits.description["train_sha256"] != splits.description["test_sha256"]

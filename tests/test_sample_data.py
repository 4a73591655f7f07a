"""Tests for the deterministic sample-data generator."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from training.sample_data import (
    ENTITY_LABELS,
    INTENTS,
    SENTIMENTS,
    generate_knowledge_base,
    generate_series,
    generate_tickets,
    write_sample_data,
)

ANOMALY_TYPES = {"spike", "dip", "level_shift", "variance_burst"}


@pytest.fixture(scope="module")
def tickets() -> pd.DataFrame:
    return generate_tickets()


@pytest.fixture(scope="module")
def kb() -> pd.DataFrame:
    return generate_knowledge_base()


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    return generate_series()


# ---------------------------------------------------------------- files ---


def test_write_sample_data_is_byte_for_byte_deterministic(tmp_path: Path) -> None:
    first = write_sample_data(tmp_path / "a", seed=11, n_tickets=300)
    second = write_sample_data(tmp_path / "b", seed=11, n_tickets=300)
    assert set(first) == {"tickets", "knowledge_base", "series", "injection_prompts", "router_prompts", "dispatch_requests"}
    for key in first:
        assert first[key].parent == tmp_path / "a"
        assert first[key].read_bytes() == second[key].read_bytes(), key


def test_different_seed_gives_different_data(tmp_path: Path) -> None:
    a = write_sample_data(tmp_path / "a", seed=1, n_tickets=200)
    b = write_sample_data(tmp_path / "b", seed=2, n_tickets=200)
    assert a["tickets"].read_bytes() != b["tickets"].read_bytes()
    assert a["series"].read_bytes() != b["series"].read_bytes()


def test_written_files_round_trip(tmp_path: Path) -> None:
    paths = write_sample_data(tmp_path / "nested" / "out", n_tickets=150)
    assert {p.name for p in paths.values()} == {"tickets.jsonl", "knowledge_base.jsonl", "series.csv",
                                                "injection_prompts.jsonl", "router_prompts.jsonl", "dispatch_requests.jsonl"}

    lines = paths["tickets"].read_text(encoding="utf-8").splitlines()
    assert len(lines) == 150
    records = [json.loads(line) for line in lines]
    assert list(records[0]) == ["ticket_id", "channel", "text", "intent", "sentiment", "entities"]
    for record in records:
        for ent in record["entities"]:
            assert record["text"][ent["start"]:ent["end"]] == ent["text"]

    kb_records = [json.loads(line) for line in paths["knowledge_base"].read_text(encoding="utf-8").splitlines()]
    assert list(kb_records[0]) == ["doc_id", "title", "body", "category", "updated"]

    frame = pd.read_csv(paths["series"], keep_default_na=False)
    assert list(frame.columns) == ["series_id", "timestamp", "value", "label", "anomaly_type"]
    pd.testing.assert_frame_equal(frame, generate_series(), check_dtype=False)


# -------------------------------------------------------------- tickets ---


def test_ticket_schema(tickets: pd.DataFrame) -> None:
    assert list(tickets.columns) == ["ticket_id", "channel", "text", "intent", "sentiment", "entities"]
    assert len(tickets) == 2400
    assert tickets["ticket_id"].is_unique
    assert tickets["ticket_id"].str.fullmatch(r"T\d{5}").all()
    assert set(tickets["channel"]) == {"email", "chat", "phone", "social"}
    assert set(tickets["intent"]) <= set(INTENTS)
    assert set(tickets["sentiment"]) <= set(SENTIMENTS)
    assert (tickets["text"].str.strip().str.len() > 10).all()


def test_entity_spans_are_exact_sorted_and_non_overlapping(tickets: pd.DataFrame) -> None:
    for text, entities in zip(tickets["text"], tickets["entities"]):
        previous_end = 0
        for ent in entities:
            assert set(ent) == {"start", "end", "label", "text"}
            assert ent["label"] in ENTITY_LABELS
            assert 0 <= ent["start"] < ent["end"] <= len(text)
            assert text[ent["start"]:ent["end"]] == ent["text"]
            assert ent["text"] == ent["text"].strip()
            assert ent["start"] >= previous_end, f"overlap or unsorted in {text!r}"
            previous_end = ent["end"]


def test_entities_are_varied_and_optional(tickets: pd.DataFrame) -> None:
    counts = tickets["entities"].map(len)
    assert (counts == 0).mean() > 0.05, "some tickets should have no entities"
    assert (counts >= 2).mean() > 0.2
    by_label: dict[str, set[str]] = {label: set() for label in ENTITY_LABELS}
    for entities in tickets["entities"]:
        for ent in entities:
            by_label[ent["label"]].add(ent["text"].lower())
    for label, values in by_label.items():
        assert len(values) >= 20, f"{label} has only {len(values)} distinct values"
    # Money and dates come in several surface formats, not one.
    money = by_label["MONEY"]
    assert any("$" in m for m in money) and any("eur" in m for m in money) and any("£" in m for m in money)
    assert any("," in m for m in money)
    dates = by_label["DATE"]
    assert any(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in dates)
    assert any(re.fullmatch(r"\d{2}/\d{2}", d) for d in dates)
    assert any(d.startswith("last ") for d in dates)


def test_every_intent_present_and_roughly_balanced(tickets: pd.DataFrame) -> None:
    assert 12 <= len(INTENTS) <= 16
    counts = tickets["intent"].value_counts()
    assert set(counts.index) == set(INTENTS)
    expected = len(tickets) / len(INTENTS)
    assert counts.min() >= 0.5 * expected
    assert counts.max() <= 1.6 * expected
    assert counts.max() > counts.min(), "perfect balance is not realistic"


def test_ticket_texts_are_varied(tickets: pd.DataFrame) -> None:
    assert tickets["text"].nunique() / len(tickets) > 0.95
    openings = tickets["text"].map(lambda t: " ".join(t.lower().split()[:4]))
    assert openings.nunique() > 300
    # Noise: some tickets are fully lowercase, some lack final punctuation.
    assert (tickets["text"] == tickets["text"].str.lower()).mean() > 0.05
    assert (~tickets["text"].str.rstrip().str[-1].isin(list(".!?,"))).mean() > 0.1


def test_sentiment_correlates_with_but_is_not_determined_by_intent(tickets: pd.DataFrame) -> None:
    shares = tickets["sentiment"].value_counts(normalize=True)
    assert set(shares.index) == set(SENTIMENTS)
    assert shares.min() > 0.1
    table = pd.crosstab(tickets["intent"], tickets["sentiment"], normalize="index")
    assert ((table > 0).sum(axis=1) >= 2).all(), "every intent should show several sentiments"
    assert table["negative"].max() - table["negative"].min() > 0.2


def test_intent_is_learnable_but_not_trivial(tickets: pd.DataFrame) -> None:
    train, test = train_test_split(tickets, test_size=0.25, random_state=0, stratify=tickets["intent"])
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(max_iter=2000)
    model.fit(vectorizer.fit_transform(train["text"]), train["intent"])
    accuracy = float((model.predict(vectorizer.transform(test["text"])) == test["intent"]).mean())
    assert 0.75 <= accuracy <= 0.995, accuracy


# ------------------------------------------------------- knowledge base ---


def test_knowledge_base_schema_and_coverage(kb: pd.DataFrame) -> None:
    assert list(kb.columns) == ["doc_id", "title", "body", "category", "updated"]
    assert 40 <= len(kb) <= 60
    assert kb["doc_id"].is_unique
    assert kb["doc_id"].str.fullmatch(r"KB\d{4}").all()
    assert kb["title"].is_unique
    counts = kb["category"].value_counts()
    assert set(counts.index) == set(INTENTS)
    assert counts.min() >= 2
    pd.to_datetime(kb["updated"], format="%Y-%m-%d")  # raises if not ISO


def test_knowledge_base_bodies_hold_concrete_facts(kb: pd.DataFrame) -> None:
    sentence_counts = kb["body"].map(lambda b: len(re.findall(r"[.!?](?:\s|$)", b)))
    assert sentence_counts.between(3, 8).all(), sentence_counts.describe()
    assert kb["body"].str.contains(r"\d").mean() > 0.9
    assert kb["body"].is_unique


# ----------------------------------------------------------- time series ---


def test_series_schema_and_contiguous_dates(series: pd.DataFrame) -> None:
    assert list(series.columns) == ["series_id", "timestamp", "value", "label", "anomaly_type"]
    ids = series["series_id"].unique()
    assert 4 <= len(ids) <= 6
    for _, group in series.groupby("series_id", sort=False):
        dates = pd.to_datetime(group["timestamp"], format="%Y-%m-%d")
        assert dates.iloc[0] == pd.Timestamp("2023-01-01")
        assert 700 <= len(group) <= 760
        assert (dates.diff().dropna() == pd.Timedelta(days=1)).all()
    assert (series["value"] >= 0).all()
    assert np.allclose(series["value"], series["value"].round(3))
    # Each series has its own scale.
    assert series.groupby("series_id")["value"].median().round(-1).nunique() == len(ids)


def test_anomaly_labels_are_consistent(series: pd.DataFrame) -> None:
    assert set(series["label"]) == {0, 1}
    assert ((series["label"] == 1) == (series["anomaly_type"] != "")).all()
    assert set(series["anomaly_type"]) - {""} <= ANOMALY_TYPES
    assert {"spike", "dip", "level_shift"} <= set(series["anomaly_type"])


def test_each_series_has_six_to_twelve_anomaly_events(series: pd.DataFrame) -> None:
    for series_id, group in series.groupby("series_id"):
        labels = group["anomaly_type"].tolist()
        starts = [i for i, kind in enumerate(labels) if kind and (i == 0 or labels[i - 1] != kind)]
        assert 6 <= len(starts) <= 12, (series_id, len(starts))
        for i in starts:
            kind = labels[i]
            length = next((j for j in range(i, len(labels)) if labels[j] != kind), len(labels)) - i
            if kind in {"spike", "dip"}:
                assert length == 1
            else:
                assert length >= 3, (series_id, kind, length)


def test_spikes_and_dips_stand_out_on_the_days_labelled(series: pd.DataFrame) -> None:
    # Compare with the same weekday in neighbouring weeks to cancel seasonality.
    for _, group in series.groupby("series_id"):
        values = group["value"].to_numpy()
        labels = group["anomaly_type"].to_numpy()
        for i in np.flatnonzero(np.isin(labels, ["spike", "dip"])):
            neighbours = [values[j] for j in (i - 14, i - 7, i + 7, i + 14) if 0 <= j < len(values) and labels[j] == ""]
            assert neighbours
            if labels[i] == "spike":
                assert values[i] > max(neighbours)
            else:
                assert values[i] < min(neighbours)

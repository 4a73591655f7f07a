"""NER: the CoNLL reader, entity-level scoring, and the spaCy capability trained on sample tickets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import store_env
from models.base import InputError
from models.metrics import entity_scores
from models.ner import DEFAULT_CONFIG
from training.conll import read_conll

HYBRID = str(Path(sys.executable).with_name("hybrid"))


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_conll_reader_builds_character_spans(tmp_path: Path) -> None:
    path = write(tmp_path / "a.conll", "-DOCSTART- -X- O O\n\nEU NNP B-ORG\nrejects VBZ O\nGerman JJ B-MISC\n\n"
                                       "Peter B-PER\nBlackburn I-PER\n")
    frame = read_conll(path)
    assert frame["text"].tolist() == ["EU rejects German", "Peter Blackburn"]
    assert frame["tokens"][1] == ["Peter", "Blackburn"]
    assert frame["entities"][0] == [
        {"start": 0, "end": 2, "label": "ORG", "text": "EU"},
        {"start": 11, "end": 17, "label": "MISC", "text": "German"},
    ]
    assert frame["entities"][1] == [{"start": 0, "end": 15, "label": "PER", "text": "Peter Blackburn"}]


@pytest.mark.parametrize(
    "tags, expected",
    [
        (["I-PER", "I-PER", "B-PER", "O"], [(0, 2, "PER"), (2, 3, "PER")]),  # IOB1: I- starts, B- splits
        (["B-LOC", "I-ORG", "O", "O"], [(0, 1, "LOC"), (1, 2, "ORG")]),  # a type change starts a new entity
        (["S-LOC", "B-ORG", "E-ORG", "U-PER"], [(0, 1, "LOC"), (1, 3, "ORG"), (3, 4, "PER")]),  # BIOES / BILOU
        (["B-PER", "B-PER", "I-PER", "O"], [(0, 1, "PER"), (1, 3, "PER")]),
    ],
)
def test_conll_tag_schemes(tmp_path: Path, tags: list[str], expected: list[tuple[int, int, str]]) -> None:
    words = ["w0", "w1", "w2", "w3"]
    frame = read_conll(write(tmp_path / "t.conll", "".join(f"{w} {t}\n" for w, t in zip(words, tags))))
    spans = [(e["start"] // 3, (e["end"] + 1) // 3, e["label"]) for e in frame["entities"][0]]
    assert spans == expected


@pytest.mark.parametrize("bad_line", ["Berlin", "Berlin X-LOC", "Berlin B_LOC"])
def test_malformed_conll_line_is_named(tmp_path: Path, bad_line: str) -> None:
    path = write(tmp_path / "bad.conll", f"EU B-ORG\n\nPeter B-PER\n{bad_line}\n")
    with pytest.raises(InputError, match=r"bad.conll:4: expected 'TOKEN TAG'"):
        read_conll(path)


def test_empty_conll_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no sentences"):
        read_conll(write(tmp_path / "empty.conll", "\n\n"))


def test_entity_scores_count_exact_matches_only() -> None:
    gold = [{(0, 5, "PER"), (10, 15, "LOC")}, {(0, 3, "ORG")}]
    predicted = [{(0, 5, "PER"), (10, 14, "LOC")}, {(0, 3, "ORG"), (5, 8, "PER")}]
    scores = entity_scores(gold, predicted)
    assert scores["overall"]["precision"] == pytest.approx(2 / 4)
    assert scores["overall"]["recall"] == pytest.approx(2 / 3)
    assert scores["PER"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1.0})
    assert scores["LOC"]["f1"] == 0.0


@pytest.fixture(scope="module")
def ner_model(ner_champion):
    from models.registry import load_capability_from_uri

    return load_capability_from_uri(ner_champion.model_uri)


def test_champion_finds_entities_in_sample_tickets(ner_champion) -> None:
    metrics = ner_champion.metrics
    assert metrics["f1"] > 0.8
    assert {"precision_PER", "recall_ORG", "f1_ORDER_ID", "span_ece"} <= set(metrics)


def test_predicted_spans_point_into_the_text(ner_model) -> None:
    texts = ["Hi, this is Zanele Dlamini from Redwood Retail. Order 88231 never arrived.", "", "thanks"]
    predicted = ner_model.predict(pd.DataFrame({"text": texts}, index=[7, 8, 9]))
    assert predicted.index.tolist() == [7, 8, 9]
    first = predicted.loc[7, "entities"]
    assert first, "expected entities in a ticket-like text"
    for entity in first:
        assert texts[0][entity["start"] : entity["end"]] == entity["text"]
        assert entity["label"] in ner_model.labels_
        assert 0.0 <= entity["score"] <= 1.0
    assert predicted.loc[8, "entities"] == []


def test_save_and_load_keep_predictions(ner_model, tmp_path: Path) -> None:
    from models.ner import EntityRecognizer

    batch = pd.DataFrame({"text": ["Please refund order 55120 for Maria Garcia in Lisbon"]})
    ner_model.save(tmp_path / "ner")
    assert EntityRecognizer.load(tmp_path / "ner").predict(batch).equals(ner_model.predict(batch))


def test_onnx_features_give_the_same_entities(ner_model, tmp_path: Path) -> None:
    from models.ner import EntityRecognizer

    texts = ["Hi, this is Zanele Dlamini from Redwood Retail. Order 88231 never arrived.",
             "Please refund order 55120 for Maria Garcia in Lisbon", "thanks", ""]
    ner_model.save(tmp_path / "ner")
    served = EntityRecognizer.load(tmp_path / "ner")  # a copy: the session's model stays on PyTorch
    served.serve_with_onnx(threads=1)
    for text in texts:  # one text per call, as a request sends
        batch = pd.DataFrame({"text": [text]})
        expected, got = ner_model.predict(batch).loc[0, "entities"], served.predict(batch).loc[0, "entities"]
        assert [(e["start"], e["end"], e["label"]) for e in got] == [(e["start"], e["end"], e["label"]) for e in expected]
        np.testing.assert_allclose([e["score"] for e in got], [e["score"] for e in expected], atol=1e-3)
    shim = next(n for n in served.nlp_.get_pipe("ner").model.walk() if n.name == "minilm_word_features").shims[0]
    assert shim.onnx[1].backend == "onnxruntime"


def test_minilm_is_fine_tuned_above_its_frozen_layers(ner_model) -> None:
    import torch

    from models.ner_layers import FROZEN_LAYERS, _load_minilm

    [node] = [n for n in ner_model.nlp_.get_pipe("ner").model.walk() if n.name == "minilm_word_features"]
    tuned, pretrained = node.shims[0]._model, _load_minilm()
    assert torch.equal(tuned.encoder.layer[FROZEN_LAYERS - 1].output.dense.weight,
                       pretrained.encoder.layer[FROZEN_LAYERS - 1].output.dense.weight)
    # loaded back from the registry, so the tuned weights were saved with the model
    assert not torch.equal(tuned.encoder.layer[-1].output.dense.weight, pretrained.encoder.layer[-1].output.dense.weight)


@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({"text": [1.5], "entities": [[]]}), "row 0 is float"),
        (pd.DataFrame({"text": ["abc"], "entities": [[{"start": 1, "end": 9, "label": "X"}]]}), "row 0: entity .* outside"),
        (pd.DataFrame({"text": ["abc"], "entities": [[{"start": 0, "label": "X"}]]}), "row 0: each entity needs"),
        (pd.DataFrame({"text": ["abc"], "entities": ["[not json"]}), "row 0: entities is not valid JSON"),
        (pd.DataFrame({"text": ["abc"]}), r"missing column\(s\) \['entities'\]"),
    ],
)
def test_bad_training_rows_are_named(frame: pd.DataFrame, message: str) -> None:
    from models.ner import EntityRecognizer

    with pytest.raises(InputError, match=message):
        EntityRecognizer().fit(frame)


def test_predict_rejects_non_text(ner_model) -> None:
    with pytest.raises(InputError, match="text: row 1 is int"):
        ner_model.predict(pd.DataFrame({"text": ["fine", 3]}))


def to_conll(frame: pd.DataFrame) -> str:
    """Sample tickets as CoNLL BIO lines, tokenised by spaCy (what a user's own file looks like)."""
    import spacy

    nlp = spacy.blank("en")
    blocks = []
    for text, entities in zip(frame["text"], frame["entities"]):
        doc = nlp.make_doc(text)
        tags = ["O"] * len(doc)
        for e in entities:
            span = doc.char_span(e["start"], e["end"], alignment_mode="expand")
            tags[span.start : span.end] = [f"B-{e['label']}"] + [f"I-{e['label']}"] * (len(span) - 1)
        blocks.append("".join(f"{t.text} {tag}\n" for t, tag in zip(doc, tags) if not t.is_space))
    return "\n".join(blocks)


@pytest.mark.integration
def test_cli_trains_and_evaluates_on_user_conll_files(tickets: pd.DataFrame, tmp_path: Path) -> None:
    train = write(tmp_path / "train.txt", to_conll(tickets.iloc[:400]))
    valid = write(tmp_path / "valid.txt", to_conll(tickets.iloc[400:500]))
    test = write(tmp_path / "test.txt", to_conll(tickets.iloc[500:650]))
    # The user's own config, here the bundled one with MiniLM frozen (2.5x faster to train).
    config = DEFAULT_CONFIG.read_text()
    assert "fine_tune = true" in config
    frozen = write(tmp_path / "frozen.cfg", config.replace("fine_tune = true", "fine_tune = false"))
    env = {**os.environ, **store_env(tmp_path / "store"), "HYBRID_NER__MAX_EPOCHS": "2", "HYBRID_NER__CONFIG": str(frozen)}
    done = subprocess.run(
        [HYBRID, "train", "ner", "--train", str(train), "--valid", str(valid), "--test", str(test), "--format", "conll"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["promoted"] and summary["metrics"]["n_sentences"] == 150
    assert "ENTS_F" in done.stderr  # spaCy's training progress table

    evaluated = subprocess.run([HYBRID, "evaluate", "ner", "--test", str(test), "--format", "conll"],
                               capture_output=True, text=True, env=env, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["metrics"]["f1"] == pytest.approx(summary["metrics"]["f1"])


def test_cli_names_the_malformed_conll_line(settings, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from serving.cli import app

    train = write(tmp_path / "train.conll", "EU B-ORG\nrejects\n")
    result = CliRunner().invoke(app, ["train", "ner", "--train", str(train), "--format", "conll"])
    assert result.exit_code == 2
    assert "train.conll:2" in result.stderr


def test_training_run_charts_the_dev_score_over_steps(ner_champion) -> None:
    import mlflow

    history = mlflow.MlflowClient().get_metric_history(ner_champion.run_id, "curve_dev_score")
    steps = [m.step for m in history]
    assert len(steps) >= 3 and steps == sorted(steps) and steps[0] == 0
    assert max(m.value for m in history) > history[0].value  # the untrained model scores 0 at step 0
    assert mlflow.MlflowClient().get_metric_history(ner_champion.run_id, "curve_train_loss_ner")


def test_batch_scoring_writes_entities_as_json_in_csv(ner_champion, settings, tmp_path: Path) -> None:
    from serving.batch import score_file

    texts = ["Refund order 48213 for Maria Garcia please", "all good, thanks"]
    pd.DataFrame({"id": [1, 2], "text": texts}).to_csv(tmp_path / "in.csv", index=False)
    report = score_file(tmp_path / "in.csv", tmp_path / "out.csv", ["ner"], settings)
    assert report.columns_added == ["ner_entities"]
    scored = pd.read_csv(tmp_path / "out.csv")
    assert scored["id"].tolist() == [1, 2]
    entities = [json.loads(cell) for cell in scored["ner_entities"]]
    assert entities[1] == [] and all(texts[0][e["start"] : e["end"]] == e["text"] for e in entities[0])

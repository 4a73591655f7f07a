"""Sentiment: the TF-IDF baseline through the real pipeline, and the fine-tuned encoder (tiny runs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import StoreSwitch
from models.finetune import FineTunedEncoder
from models.sentiment import SentimentClassifier

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sentiment_frames(tickets: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = tickets.rename(columns={"sentiment": "label"})[["text", "label"]]
    return frame.iloc[:1800], frame.iloc[1800:]


def test_baseline_trains_registers_and_scores(sentiment_frames, tmp_path_factory: pytest.TempPathFactory) -> None:
    from serving.batch import score_file
    from training.datasets import DatasetSplits
    from training.pipeline import train_capability

    train, test = sentiment_frames
    with StoreSwitch(tmp_path_factory.mktemp("sentiment-store")) as settings:
        result = train_capability(SentimentClassifier(model="logreg"), DatasetSplits(train, test), settings)
        assert result.promoted and result.model_uri == "models:/sentiment/1"
        assert result.metrics["macro_f1"] > 0.5  # three classes: chance is about 0.33
        assert result.metrics["abstention_rate"] == 0.0  # sentiment always answers
        source = tmp_path_factory.mktemp("score") / "in.csv"
        pd.DataFrame({"text": ["thank you so much, great service!", "this is terrible, I am furious"]}).to_csv(source, index=False)
        report = score_file(source, source.with_name("out.csv"), ["sentiment"], settings)
        scored = pd.read_csv(report.output)
        assert list(scored["sentiment_label"]) == ["positive", "negative"]


def test_binary_labels_work(sentiment_frames) -> None:
    train, test = sentiment_frames
    binary = lambda f: f[f["label"] != "neutral"].assign(label=lambda d: (d["label"] == "positive").astype(int))  # noqa: E731
    clf = SentimentClassifier(model="logreg").fit(binary(train))
    assert clf.classes_ == ["0", "1"]
    assert clf.evaluate(binary(test).assign(label=lambda d: d["label"].astype(str)))["accuracy"] > 0.7


def test_finetuned_encoder_learns_and_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    texts = [f"I love this, it is wonderful {i}" for i in range(24)] + [f"I hate this, it is awful {i}" for i in range(24)]
    y = np.array(["pos"] * 24 + ["neg"] * 24)
    first = FineTunedEncoder(epochs=3, batch_size=8, learning_rate=1e-4, checkpoint_dir=str(tmp_path)).fit(texts, y)
    proba = first.predict_proba(["wonderful, I love it", "awful, I hate it"])
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(first.classes_[proba.argmax(axis=1)]) == ["pos", "neg"]
    assert (tmp_path / "checkpoint.pt").exists()
    curve = first.learning_curve_  # one row per optimiser step: 6 batches x 3 epochs
    assert [row["step"] for row in curve] == list(range(1, 19)) and curve[-1]["epoch"] == 3.0
    assert np.mean([r["train_loss"] for r in curve[-6:]]) < np.mean([r["train_loss"] for r in curve[:6]])
    # a rerun finds every epoch done, trains nothing more, and ends where the first run ended
    resumed = FineTunedEncoder(epochs=3, batch_size=8, learning_rate=1e-4, checkpoint_dir=str(tmp_path)).fit(texts, y)
    np.testing.assert_allclose(resumed.predict_proba(["wonderful, I love it"]), first.predict_proba(["wonderful, I love it"]), rtol=1e-5)


def test_checkpoint_from_other_labels_is_refused(tmp_path: Path) -> None:
    texts, y = ["good", "bad", "fine", "poor"], np.array(["a", "b", "a", "b"])
    FineTunedEncoder(epochs=1, batch_size=4, checkpoint_dir=str(tmp_path)).fit(texts, y)
    with pytest.raises(ValueError, match="other labels"):
        FineTunedEncoder(epochs=1, batch_size=4, checkpoint_dir=str(tmp_path)).fit(texts, np.array(["x", "y", "x", "y"]))


def test_finetune_member_is_calibrated_and_saved(sentiment_frames, tmp_path: Path) -> None:
    train, test = sentiment_frames
    clf = SentimentClassifier(model="finetune", finetune_epochs=1, finetune_batch_size=32).fit(train.head(400), test.head(100))
    assert clf.temperature_ > 0
    clf.save(tmp_path / "m")
    loaded = SentimentClassifier.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(test.tail(20)), clf.predict(test.tail(20)))
    # served through ONNX Runtime, one text at a time: the same probabilities
    loaded.serve_with_onnx(threads=1)
    for i in range(3):
        row = test.tail(20).iloc[[i]]
        pd.testing.assert_frame_equal(loaded.predict_proba(row), clf.predict_proba(row), atol=1e-4)
    assert loaded.members_["finetune"]._onnx.backend == "onnxruntime"

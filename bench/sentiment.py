"""Sentiment on SST-2: the fine-tuned MiniLM beside the fast TF-IDF baseline.

    .venv/bin/python bench/sentiment.py [--data-dir ../shared/data] [--models logreg,finetune] [--train-rows N]

Trains on SST-2 train (60,614 phrases and sentences), fits the softmax temperature on its dev
split (6,735), evaluates once on test (the 872 GLUE dev sentences, where results are usually
reported). ECE is shown before and after temperature scaling. Writes bench/results/sentiment.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from models.sentiment import SentimentClassifier  # noqa: E402
from models.settings import SentimentSettings  # noqa: E402
from report import machine, write_report  # noqa: E402
from training.datasets import load_frame  # noqa: E402

# GLUE SST-2 dev accuracy, as listed in ../shared/data/sst2/PROVENANCE.md
PUBLISHED_ACCURACY = {"DistilBERT": 0.913, "BERT-base": 0.927, "bag-of-words linear (typical)": 0.82}
DEFAULTS = SentimentSettings().model_dump()


def measure(model: str, train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame, overrides: dict) -> dict:
    clf = SentimentClassifier(**{**DEFAULTS, **overrides, "model": model})
    start = time.perf_counter()
    clf.fit(train, valid)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    metrics = clf.evaluate(test)
    predict_seconds = time.perf_counter() - start
    temperature, clf.temperature_ = clf.temperature_, 1.0
    uncalibrated_ece = clf.evaluate(test)["ece"]
    clf.temperature_ = temperature
    return {
        "model": model,
        "params": clf.get_params(),
        "temperature": temperature,
        "test_accuracy": metrics["accuracy"],
        "test_macro_f1": metrics["macro_f1"],
        "test_ece": metrics["ece"],
        "test_ece_before_calibration": uncalibrated_ece,
        "train_rows": len(train),
        "train_seconds": train_seconds,
        # evaluate() predicts once (probabilities) over the test set
        "predict_texts_per_second": len(test) / predict_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                        help="folder holding sst2/{train,dev,test}.tsv (default: ../shared/data)")
    parser.add_argument("--models", default="logreg,finetune", help="comma-separated, from logreg, embedding, ensemble, finetune")
    parser.add_argument("--train-rows", type=int, default=0, help="use a seeded sample of the training set (0: all)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS["finetune_epochs"], help="fine-tuning epochs")
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS["finetune_learning_rate"], help="fine-tuning peak learning rate")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "sentiment.json")
    args = parser.parse_args()

    folder = args.data_dir / "sst2"
    if not (folder / "train.tsv").exists():
        sys.exit(f"SST-2 not found in {folder}: get GLUE SST-2 (train/dev) and pass --data-dir")
    reader = SentimentClassifier()
    train, valid, test = (load_frame(reader, folder / f"{split}.tsv", text_col="sentence") for split in ("train", "dev", "test"))
    if args.train_rows:
        train = train.sample(args.train_rows, random_state=0)

    overrides = {"finetune_epochs": args.epochs, "finetune_learning_rate": args.learning_rate}
    results = [measure(name.strip(), train, valid, test, overrides) for name in args.models.split(",") if name.strip()]
    report = {
        "dataset": {"name": "sst2", "train_rows": len(train), "valid_rows": len(valid), "test_rows": len(test)},
        "machine": machine(),
        "results": results,
        "published_accuracy": PUBLISHED_ACCURACY,
    }
    write_report(report, args.out)

    print(f"\nSST-2 test ({len(test)} sentences), trained on {len(train)} rows, {report['machine']['cpus']} CPUs")
    print(f"{'model':<34} {'accuracy':>8} {'macro-F1':>8} {'ECE':>6} {'ECE raw':>7} {'train s':>8} {'texts/s':>8}")
    for r in results:
        print(f"{r['model'] + ' (this project)':<34} {r['test_accuracy']:>8.4f} {r['test_macro_f1']:>8.4f} {r['test_ece']:>6.3f} "
              f"{r['test_ece_before_calibration']:>7.3f} {r['train_seconds']:>8.0f} {r['predict_texts_per_second']:>8.0f}")
    for name, accuracy in PUBLISHED_ACCURACY.items():
        print(f"{name + ' (published)':<34} {accuracy:>8.3f}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

"""Intent classification on banking77: quality and speed of each model option, side by side.

    .venv/bin/python bench/intent.py [--data-dir ../shared/data] [--models logreg,lightgbm]

Trains on the official train split (10,003 texts), evaluates on the official test split (3,080),
and measures training time, batch throughput and single-text latency on this machine. Writes
bench/results/intent.json and prints a table beside the published figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.intent import IntentClassifier  # noqa: E402
from training.datasets import load_frame  # noqa: E402

# Casanueva et al. 2020, "Efficient Intent Detection with Dual Sentence Encoders", Table 2 (full training data)
PUBLISHED_ACCURACY = {"USE+ConveRT (Casanueva et al. 2020)": 0.934, "BERT-large fine-tuned (Casanueva et al. 2020)": 0.932}

CONFIGS = {
    "logreg": dict(model="logreg"),  # the default: word 1-2-grams + char 2-5-grams, C=20
    "lightgbm": dict(model="lightgbm", char_ngrams=False, n_estimators=200, learning_rate=0.1),
}


def measure(name: str, train: pd.DataFrame, test: pd.DataFrame, repeats: int) -> dict:
    clf = IntentClassifier(**CONFIGS[name])
    start = time.perf_counter()
    clf.fit(train)
    train_seconds = time.perf_counter() - start
    metrics = clf.evaluate(test)

    batch = test[["text"]]
    batch_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        clf.predict(batch)
        batch_times.append(time.perf_counter() - start)
    singles = []
    for text in test["text"].head(200):
        start = time.perf_counter()
        clf.predict(pd.DataFrame({"text": [text]}))
        singles.append(time.perf_counter() - start)
    return {
        "model": name,
        "params": clf.get_params(),
        "test_accuracy": metrics["accuracy"],
        "test_macro_f1": metrics["macro_f1"],
        "test_ece": metrics["ece"],
        "train_seconds": train_seconds,
        "batch_texts_per_second": len(batch) / statistics.median(batch_times),
        "single_text_latency_ms_p50": 1000 * statistics.median(singles),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                        help="folder holding banking77/{train,test}.csv (default: ../shared/data)")
    parser.add_argument("--models", default="logreg,lightgbm", help=f"comma-separated, from {sorted(CONFIGS)}")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of batch prediction")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "intent.json")
    args = parser.parse_args()

    folder = args.data_dir / "banking77"
    if not (folder / "train.csv").exists():
        sys.exit(f"banking77 not found in {folder}: get it from github.com/PolyAI-LDN/task-specific-datasets "
                 "(banking_data/) and pass --data-dir")
    reader = IntentClassifier()
    train = load_frame(reader, folder / "train.csv", label_col="category")
    test = load_frame(reader, folder / "test.csv", label_col="category")

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    results = [measure(name, train, test, args.repeats) for name in tqdm(names, desc="models", unit="model")]

    report = {
        "dataset": {"name": "banking77", "train_rows": len(train), "test_rows": len(test), "classes": int(train["label"].nunique())},
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count(), "platform": platform.platform()},
        "results": results,
        "published_accuracy": PUBLISHED_ACCURACY,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))

    print(f"\nbanking77 test ({len(test)} texts, {report['dataset']['classes']} intents), {report['machine']['cpus']} CPUs")
    print(f"{'model':<46} {'accuracy':>8} {'macro-F1':>8} {'ECE':>6} {'train s':>8} {'texts/s':>9} {'1-text ms':>9}")
    for r in results:
        print(f"{'TF-IDF + ' + r['model'] + ' (this project)':<46} {r['test_accuracy']:>8.4f} {r['test_macro_f1']:>8.4f} "
              f"{r['test_ece']:>6.3f} {r['train_seconds']:>8.1f} {r['batch_texts_per_second']:>9.0f} {r['single_text_latency_ms_p50']:>9.2f}")
    for name, accuracy in PUBLISHED_ACCURACY.items():
        print(f"{name + ' (published)':<46} {accuracy:>8.3f}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

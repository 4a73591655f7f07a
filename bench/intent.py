"""Intent classification on banking77: quality and speed of each model option, side by side.

    .venv/bin/python bench/intent.py [--data-dir ../shared/data] [--models logreg,embedding,ensemble]

1. Closed set: train on the official train split (10,003 texts), evaluate once on the official test
   split (3,080). Accuracy is reported with abstention (what a caller gets; an ``out_of_scope`` answer
   counts as wrong here) and without it (comparable with the published figures).
2. Out of scope: banking77 has no out-of-scope requests, so 10 intents (seeded choice) are removed
   from training. Their test examples, relabelled ``out_of_scope``, join the in-scope test set:
   a) threshold from the default rule (reject the least confident 2% of in-scope validation);
   b) threshold learned from a validation split holding 5 of those intents as ``out_of_scope``,
      tested on the *other* 5, so the threshold never saw the unknown intents it is judged on.

Writes bench/results/intent.json and prints tables beside the published figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from models.intent import OUT_OF_SCOPE, IntentClassifier  # noqa: E402
from models.settings import IntentSettings  # noqa: E402
from report import machine, write_report  # noqa: E402
from training.datasets import load_frame  # noqa: E402

# Casanueva et al. 2020, "Efficient Intent Detection with Dual Sentence Encoders", Table 2 (full training data)
PUBLISHED_ACCURACY = {"USE+ConveRT (Casanueva et al. 2020)": 0.934, "BERT-large fine-tuned (Casanueva et al. 2020)": 0.932}
DEFAULTS = IntentSettings().model_dump()  # the shipped configuration


def configured(model: str, **overrides) -> IntentClassifier:
    return IntentClassifier(**{**DEFAULTS, "model": model, **overrides})


def closed_set(model: str, train: pd.DataFrame, test: pd.DataFrame, repeats: int) -> dict:
    clf = configured(model)
    start = time.perf_counter()
    clf.fit(train)
    train_seconds = time.perf_counter() - start
    metrics = clf.evaluate(test)

    batch_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        clf.predict(test[["text"]])
        batch_times.append(time.perf_counter() - start)
    singles = []
    for text in test["text"].head(200):
        start = time.perf_counter()
        clf.predict(pd.DataFrame({"text": [text]}))
        singles.append(time.perf_counter() - start)
    return {
        "model": model,
        "params": clf.get_params(),
        "tuned": {"embedding_weight": clf.embedding_weight_, "temperature": clf.temperature_, "threshold": clf.threshold_},
        "test_accuracy": metrics["accuracy"],
        "test_accuracy_without_abstention": metrics["accuracy_without_abstention"],
        "test_macro_f1": metrics["macro_f1"],
        "test_abstention_rate": metrics["abstention_rate"],
        "test_ece": metrics["ece"],
        "train_seconds": train_seconds,
        "batch_texts_per_second": len(test) / statistics.median(batch_times),
        "single_text_latency_ms_p50": 1000 * statistics.median(singles),
    }


def out_of_scope(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> list[dict]:
    intents = sorted(train["label"].unique())
    held_out = list(np.random.default_rng(seed).choice(intents, size=10, replace=False))
    for_valid, for_test = set(held_out[:5]), set(held_out[5:])
    seen = train[~train["label"].isin(held_out)]

    def relabel(frame: pd.DataFrame, unknown: set[str]) -> pd.DataFrame:
        return frame.assign(label=frame["label"].where(~frame["label"].isin(unknown), OUT_OF_SCOPE))

    results = []
    # a) no out-of-scope examples anywhere in training or validation; test has all 10 unknown intents
    test_a = relabel(test, set(held_out))
    clf = configured("ensemble").fit(seen)
    results.append({"protocol": "a: default threshold (2% in-scope rejection)", **_oos_metrics(clf, test_a)})
    # b) validation holds 5 unknown intents; test holds the other 5 (and no examples of the first 5)
    fit_part, valid_in = train_test_split(seen, test_size=0.1, random_state=seed, stratify=seen["label"])
    valid = pd.concat([valid_in, relabel(train[train["label"].isin(for_valid)], for_valid)])
    test_b = relabel(test[~test["label"].isin(for_valid)], for_test)
    clf = configured("ensemble").fit(fit_part, valid)
    results.append({"protocol": "b: threshold learned from 5 other unknown intents", **_oos_metrics(clf, test_b)})
    for row in results:
        row["held_out_intents"] = held_out
    return results


def _oos_metrics(clf: IntentClassifier, test: pd.DataFrame) -> dict:
    metrics = clf.evaluate(test)
    in_scope = test[test["label"] != OUT_OF_SCOPE]
    return {
        "threshold": clf.threshold_,
        "test_rows": len(test),
        "oos_rows": int((test["label"] == OUT_OF_SCOPE).sum()),
        "accuracy": metrics["accuracy"],
        "in_scope_accuracy": clf.evaluate(in_scope)["accuracy"],
        "oos_recall": metrics["oos_recall"],
        "oos_precision": metrics["oos_precision"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                        help="folder holding banking77/{train,test}.csv (default: ../shared/data)")
    parser.add_argument("--models", default="logreg,embedding,ensemble",
                        help="comma-separated, from logreg, lightgbm, embedding, ensemble (lightgbm takes ~3 min)")
    parser.add_argument("--skip-oos", action="store_true", help="skip the out-of-scope protocols")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of batch prediction")
    parser.add_argument("--seed", type=int, default=13, help="which intents are held out as out-of-scope")
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
    closed = [closed_set(name, train, test, args.repeats) for name in tqdm(names, desc="closed set", unit="model")]
    oos = [] if args.skip_oos else out_of_scope(train, test, args.seed)

    report = {
        "dataset": {"name": "banking77", "train_rows": len(train), "test_rows": len(test), "classes": int(train["label"].nunique())},
        "machine": machine(),
        "closed_set": closed,
        "out_of_scope": oos,
        "published_accuracy": PUBLISHED_ACCURACY,
    }
    write_report(report, args.out)

    print(f"\nbanking77 test ({len(test)} texts, {report['dataset']['classes']} intents), {report['machine']['cpus']} CPUs")
    print(f"{'model':<44} {'acc':>6} {'acc no-abst':>11} {'macro-F1':>8} {'abst':>5} {'ECE':>6} {'train s':>8} {'texts/s':>8} {'1-text ms':>9}")
    for r in closed:
        print(f"{r['model'] + ' (this project)':<44} {r['test_accuracy']:>6.4f} {r['test_accuracy_without_abstention']:>11.4f} "
              f"{r['test_macro_f1']:>8.4f} {r['test_abstention_rate']:>5.3f} {r['test_ece']:>6.3f} {r['train_seconds']:>8.1f} "
              f"{r['batch_texts_per_second']:>8.0f} {r['single_text_latency_ms_p50']:>9.2f}")
    for name, accuracy in PUBLISHED_ACCURACY.items():
        print(f"{name + ' (published)':<44} {'':>6} {accuracy:>11.3f}")
    if oos:
        print(f"\nout of scope (ensemble; held-out intents: {', '.join(oos[0]['held_out_intents'])})")
        print(f"{'protocol':<52} {'threshold':>9} {'OOS rows':>8} {'OOS recall':>10} {'OOS prec':>8} {'in-scope acc':>12}")
        for r in oos:
            print(f"{r['protocol']:<52} {r['threshold']:>9.3f} {r['oos_rows']:>8} {r['oos_recall']:>10.3f} "
                  f"{r['oos_precision']:>8.3f} {r['in_scope_accuracy']:>12.4f}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

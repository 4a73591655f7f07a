"""The input classifier (``dispatcher``) on the project's labelled requests, with whole template families held out.

    .venv/bin/python bench/dispatcher.py [--seed 7] [--folds 0] [--out bench/results/dispatcher.json]

Data: ``training.dispatch_data.generate_dispatch_requests`` (about 4,600 requests over 51 template
families; labels by construction from the family, see that module). Protocol: by default (``--folds
0``) each family is held out alone in turn: the classifier learns from all the others with the
shipped settings (thresholds tuned on families held out of its own training part) and predicts the
held-out family once, so every request is predicted once by a model that never saw its phrasing, and
the metrics pool them all. ``--folds N`` holds out N random sets of ``--test-size`` of the families
instead (``DispatchClassifier.holdout``: every label keeps a training family on the same path).
Nothing is tuned on the test families. About 20 minutes on 2 cores (51 fits).

Strategies: ``classifier`` (``DispatchClassifier``) and ``rules``, a keyword baseline: answer on a
question mark or a language verb, intent / ner / sentiment on their task words (or emotion words
and names / amounts for sentiment and ner), anomaly and forecast on a series (both when the text
is empty, else by their words), tabular_anomaly on features. Metrics over all predicted requests:
per-label F1, exact match (all seven labels right), path accuracy (genai / ml / both).
Writes bench/results/dispatcher.json.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from models.dispatcher import LABELS, DispatchClassifier, multilabel_scores, normalise_labels  # noqa: E402
from models.embeddings import RememberingEncoder  # noqa: E402
from models.settings import DispatcherSettings  # noqa: E402
from report import machine, write_report  # noqa: E402
from training.dispatch_data import generate_dispatch_requests  # noqa: E402

_I = re.IGNORECASE
RULES = {
    "answer": re.compile(r"\?|\b(?:explain|summari[sz]e|draft|write|translate|why|how|what|reply|response|advise|describe)\b", _I),
    "intent": re.compile(r"\bintent\b|\bclassify\b", _I),
    "sentiment": re.compile(r"\bsentiment\b|\bfeel\b|!!|\b(?:furious|angry|unacceptable|worst|love|amazing)\b", _I),
    "ner": re.compile(r"\bentit|\bextract\b|[$€£]\d|\b[A-Z][a-z]+ [A-Z][a-z]+\b"),
    "anomaly": re.compile(r"\b(?:anomal|outlier|spike|dip|drop|unusual|flag|detect)", _I),
    "forecast": re.compile(r"\b(?:forecast|predict|next|project|will)\b", _I),
}


def keyword_rules(frame: pd.DataFrame) -> np.ndarray:
    """(n, 7) 0/1 decisions of the keyword baseline."""
    out = np.zeros((len(frame), len(LABELS)), dtype=int)
    for i, (text, series, features) in enumerate(zip(frame["text"], frame["has_series"], frame["has_features"])):
        text = text or ""
        chosen = {label for label in ("answer", "intent", "sentiment", "ner") if RULES[label].search(text)}
        if series:
            if not text.strip() or not (RULES["anomaly"].search(text) or RULES["forecast"].search(text)):
                chosen |= {"anomaly", "forecast"}
            else:
                chosen |= {label for label in ("anomaly", "forecast") if RULES[label].search(text)}
        if features:
            chosen.add("tabular_anomaly")
        if not chosen:
            chosen.add("answer")
        out[i] = [label in chosen for label in LABELS]
    return out


def label_matrix(labels) -> np.ndarray:
    return np.array([[label in ls for label in LABELS] for ls in labels], dtype=int).reshape(len(labels), len(LABELS))


def truth_matrix(frame: pd.DataFrame) -> np.ndarray:
    return label_matrix(normalise_labels(frame["labels"], "bench"))


def splits(requests: pd.DataFrame, folds: int, test_size: float):
    """(fold, train, test): with ``folds`` 0, each family held out alone in turn (every other family trains);
    else ``folds`` random sets of families (``DispatchClassifier.holdout``)."""
    if folds == 0:
        for fold, family in enumerate(sorted(requests["family"].unique())):
            held = requests["family"] == family
            yield fold, requests[~held].reset_index(drop=True), requests[held].reset_index(drop=True)
        return
    for fold in range(folds):
        yield fold, *DispatchClassifier().holdout(requests, test_size, seed=1000 + fold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated request set")
    parser.add_argument("--folds", type=int, default=0,
                        help="0: leave one family out, each in turn; N: N folds of --test-size random families each")
    parser.add_argument("--test-size", type=float, default=0.2, help="share of families held out per fold")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "dispatcher.json")
    args = parser.parse_args()

    started = time.perf_counter()
    requests = generate_dispatch_requests(args.seed)
    encoder = RememberingEncoder()
    print(f"embedding {len(requests)} requests once (MiniLM, CPU)...", file=sys.stderr)
    encoder.encode(requests["text"].tolist(), progress=True)

    settings = DispatcherSettings().model_dump()
    folds, tested, by_classifier, by_rules = [], [], [], []
    for fold, train, test in splits(requests, args.folds, args.test_size):
        model = DispatchClassifier(**settings, seed=42)
        model.share_encoder(encoder)
        t0 = time.perf_counter()
        model.fit(train)
        fit_seconds = time.perf_counter() - t0
        predicted = label_matrix(model.predict(test)["labels"])
        rules = keyword_rules(test)
        tested.append(test)
        by_classifier.append(predicted)
        by_rules.append(rules)
        truth = truth_matrix(test)
        exact = pd.Series((predicted == truth).all(axis=1), index=test.index)
        folds.append({"fold": fold, "held_out_families": sorted(test["family"].unique()), "train_rows": len(train),
                      "test_rows": len(test), "fit_seconds": fit_seconds, "thresholds": model.thresholds_,
                      "per_family_exact_match": exact.groupby(test["family"]).mean().round(3).to_dict(),
                      "rules_exact_match": float((rules == truth).all(axis=1).mean())})
        print(f"fold {fold}: exact {exact.mean():.3f} (rules {folds[-1]['rules_exact_match']:.3f}) "
              f"on {folds[-1]['held_out_families']}", file=sys.stderr)

    # every request is predicted once, by a model that never saw its family: score them together
    truth = truth_matrix(pd.concat(tested, ignore_index=True))
    keys = [*(f"f1_{label}" for label in LABELS), "exact_match", "path_accuracy", "macro_f1"]
    pooled = {"classifier": multilabel_scores(truth, np.vstack(by_classifier)),
              "rules": multilabel_scores(truth, np.vstack(by_rules))}
    report = {
        "dataset": {"name": "generated dispatch requests (training/dispatch_data.py)", "seed": args.seed,
                    "rows": len(requests), "families": int(requests["family"].nunique()),
                    "paths": requests["path"].value_counts().to_dict()},
        "settings": settings, "protocol": "leave one family out" if args.folds == 0 else f"{args.folds} folds",
        "folds": folds, "pooled": pooled, "machine": machine(),
        "seconds": time.perf_counter() - started,
    }
    write_report(report, args.out)

    short = {"f1_tabular_anomaly": "f1_tab"}
    header = ["strategy", *(short.get(k, k).replace("f1_", "") for k in keys)]
    print(f"\nper-label F1, exact match and path accuracy on held-out families ({report['protocol']}, "
          f"{len(truth)} requests each predicted once)")
    print(" ".join(f"{h:>10}" for h in header))
    for strategy in ("classifier", "rules"):
        print(" ".join([f"{strategy:>10}", *(f"{pooled[strategy][k]:>10.3f}" for k in keys)]))
    per_family = sorted(((fam, v) for f in folds for fam, v in f["per_family_exact_match"].items()), key=lambda kv: kv[1])
    print("hardest held-out families (exact match): " + ", ".join(f"{fam} {v:.2f}" for fam, v in per_family[:6]))
    print(f"\nwrote {args.out} in {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()

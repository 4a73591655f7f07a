"""Prompt-injection detection: rules alone, the classifier alone and both, on attack styles never seen.

    .venv/bin/python bench/injection.py [--data-dir ../shared/data] [--set C=2.0]

1. Family hold-out on the generated set (training/injection_data.py): one fold per attack family.
   Each fold trains on the other six families and 80% of the benign rows, and is tested on the
   held-out family plus the other 20% of benign rows (a different 20% each fold). Precision,
   recall, F1, average precision and false-positive rate are averaged over the folds; the recall
   of each family is the one measured in the fold that held it out. The combined detector is read
   at its tuned threshold (what the guard blocks at) and at a fixed 0.5 for reference.
2. False positives on real benign text: a detector trained on the whole generated set scores the
   banking77 test questions and the SST-2 test sentences (``--data-dir``, default ../shared/data),
   texts written by people who were not attacking anything and that the generator never saw.

No public prompt-injection set ships offline, so recall is only measured on generated attacks;
read it as generalisation across styles of *templated* attacks, not as recall in the wild.

Writes bench/results/injection.json and prints the tables.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from models.guardrails.injection import InjectionDetector, binary_metrics  # noqa: E402
from models.settings import InjectionSettings  # noqa: E402
from report import machine, parse_overrides, write_report  # noqa: E402
from training.injection_data import INJECTION_FAMILIES, generate_injection_prompts  # noqa: E402

METRICS = ("precision", "recall", "f1", "average_precision", "false_positive_rate")
#: the guard's fixed threshold before it followed the detector's tuned one; kept as a reference row
GUARD_THRESHOLD = 0.5


def fold(prompts: pd.DataFrame, family: str, number: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on every other family; test on ``family`` plus a 20% share of each benign source."""
    benign = prompts[prompts["label"] == 0]
    benign_test = benign.groupby("family", group_keys=False).sample(frac=0.2, random_state=number)
    is_test = (prompts["family"] == family) | prompts.index.isin(benign_test.index)
    return prompts[~is_test], prompts[is_test]


def detector_scores(detector: InjectionDetector, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    combined, proba, rules = detector.component_scores(frame)
    return {"rules": np.array([1.0 if r else 0.0 for r in rules]), "classifier": proba, "combined": combined}


def family_holdout(prompts: pd.DataFrame, params: dict) -> dict:
    rows: dict[str, list[dict]] = {"rules": [], "classifier": [], "combined": [], f"combined @ {GUARD_THRESHOLD}": []}
    per_family: dict[str, dict[str, float]] = {}
    thresholds = []
    for number, family in enumerate(INJECTION_FAMILIES):
        train, test = fold(prompts, family, number)
        detector = InjectionDetector(**params).fit(train)
        thresholds.append(detector.threshold_)
        y = test["label"].to_numpy()
        scores = detector_scores(detector, test)
        cut = {"rules": 0.5, "classifier": detector.threshold_, "combined": detector.threshold_,
               f"combined @ {GUARD_THRESHOLD}": GUARD_THRESHOLD}
        per_family[family] = {}
        for name, threshold in cut.items():
            values = scores[name.split(" ")[0]]
            rows[name].append(binary_metrics(y, values, threshold))
            per_family[family][name] = rows[name][-1]["recall"]
    summary = {name: {m: statistics.mean(r[m] for r in results) for m in METRICS} for name, results in rows.items()}
    summary["rules"]["average_precision"] = float("nan")  # a yes/no rule has no ranking
    return {"summary": summary, "per_family_recall": per_family, "thresholds": thresholds}


def real_benign(prompts: pd.DataFrame, params: dict, data_dir: Path) -> dict:
    sources = {
        "banking77 test": (data_dir / "banking77" / "test.csv", ",", "text"),
        "SST-2 test": (data_dir / "sst2" / "test.tsv", "\t", "sentence"),
    }
    available = {name: spec for name, spec in sources.items() if spec[0].exists()}
    if not available:
        return {}
    detector = InjectionDetector(**params).fit(prompts)
    results = {"threshold": detector.threshold_}
    for name, (path, sep, column) in available.items():
        texts = pd.read_csv(path, sep=sep, quoting=3 if sep == "\t" else 0)[column].astype(str)
        frame = pd.DataFrame({"text": texts})
        start = time.perf_counter()
        scores = detector_scores(detector, frame)
        seconds = time.perf_counter() - start
        out = {"texts": len(frame), "texts_per_second": len(frame) / seconds}
        for key, threshold in (("rules", 0.5), ("classifier", detector.threshold_), ("combined", detector.threshold_),
                               (f"combined @ {GUARD_THRESHOLD}", GUARD_THRESHOLD)):
            flagged = scores[key.split(" ")[0]] >= threshold
            out[key] = float(flagged.mean())
            if key == "combined":
                out["examples_flagged"] = frame.loc[flagged, "text"].head(5).tolist()
        results[name] = out
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                        help="folder holding banking77/test.csv and sst2/test.tsv (default: ../shared/data)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated prompt set")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a detector setting, e.g. --set C=2.0")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "injection.json")
    args = parser.parse_args()

    params = {**InjectionSettings().model_dump(), **parse_overrides(args.overrides)}
    prompts = generate_injection_prompts(args.seed)
    start = time.perf_counter()
    holdout = family_holdout(prompts, params)
    real = real_benign(prompts, params, args.data_dir)
    report = {
        "dataset": {"name": "generated injection prompts (training/injection_data.py)", "seed": args.seed,
                    "rows": len(prompts), "injections": int(prompts["label"].sum()),
                    "families": prompts.groupby("family").size().to_dict()},
        "params": params,
        "machine": machine(),
        "family_holdout": holdout,
        "real_benign_false_positive_rate": real,
        "seconds": time.perf_counter() - start,
    }
    write_report(report, args.out)

    print(f"\nfamily hold-out, {len(INJECTION_FAMILIES)} folds (mean over folds; {len(prompts)} generated texts)")
    print(f"{'detector':<22} {'precision':>9} {'recall':>7} {'F1':>6} {'AP':>6} {'FPR':>6}")
    for name, m in holdout["summary"].items():
        print(f"{name:<22} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {m['average_precision']:>6.3f} "
              f"{m['false_positive_rate']:>6.3f}")
    print(f"tuned thresholds per fold: {', '.join(f'{t:.2f}' for t in holdout['thresholds'])}")
    names = list(holdout["summary"])
    print(f"\nrecall on each unseen family\n{'family':<14} " + " ".join(f"{n:>20}" for n in names))
    for family, recalls in holdout["per_family_recall"].items():
        print(f"{family:<14} " + " ".join(f"{recalls[n]:>20.3f}" for n in names))
    if real:
        print(f"\nfalse-positive rate on real benign text (detector trained on all generated texts, "
              f"threshold {real['threshold']:.2f})")
        print(f"{'dataset':<16} {'texts':>6} " + " ".join(f"{n:>20}" for n in names) + f" {'texts/s':>8}")
        for name, r in real.items():
            if name != "threshold":
                print(f"{name:<16} {r['texts']:>6} " + " ".join(f"{r[n]:>20.4f}" for n in names) + f" {r['texts_per_second']:>8.0f}")
    else:
        print(f"\n(no banking77/SST-2 under {args.data_dir}: real-text false-positive rates skipped)")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

"""The confidence scorer on public data with real errors: does its probability mean what it says?

    .venv/bin/python bench/confidence.py [--datasets banking77,sst2,conll2003,nab] [--out bench/results/confidence.json]
                                         [--data-dir ../shared/data] [--limit N] [--ner-train-rows N] ...

The scorer (models/confidence.py) has only been measured on generated sample tickets; here each part is
a real model making real mistakes on a public test set. Per dataset, one part per request:

- banking77 -> ``intent``: the intent capability (settings' ``[intent]``, the ensemble) trained on the
  official train split (10,003), predicting the test split (3,080). Right: the answered label equals the
  gold one; an ``out_of_scope`` abstention is wrong (banking77 has no out-of-scope requests).
- sst2 -> ``sentiment``: the sentiment capability trained on train (60,614), temperature on dev (6,735),
  predicting test (872). ``--sentiment-model`` picks the strategy: the shipped ``finetune`` takes ~14 min
  on 2 cores, so the default here is the fast TF-IDF ``logreg``.
- conll2003 -> ``ner``: the spaCy NER capability on a small budget (``--ner-epochs 1``, the first
  ``--ner-train-rows`` training sentences, the first ``--ner-valid-rows`` dev sentences for checkpoint
  choice and score calibration, ``--ner-patience 0``: no early stop, since on this little data the dev F1
  stays 0 for the first few dozen steps), predicting each test sentence's raw text as the service does
  (``EntityRecognizer.predict``, spaCy's tokeniser). Right: the predicted (start, end, label) spans equal
  the gold spans exactly, a sentence without entities included (right when nothing is predicted).
- nab -> ``anomaly``: the streaming detector. Its alarm thresholds are cross-fitted: tuned (``fit``) on
  the alternate half of the 58 series (sorted by name) and applied to the other half, both ways, so no
  series is judged by a threshold it helped choose. One request per *chunk* of a series: after NAB's
  probationary period each series is cut into consecutive stretches of about ``--nab-chunk`` points; a cut
  that would fall inside a labelled anomaly window moves to the window's end, so every window lies in one
  chunk, and a short tail joins the chunk before it. The detector scores the whole stream (a chunk's
  scores and alarms use all the points before it, as streaming detection does) and the chunk's result is
  an ``AnomalyResult`` of the chunk's points only. Right: every alarm in the chunk lies inside a labelled
  window AND every labelled window in the chunk has at least one alarm (a chunk without windows is right
  when it raises nothing). ``group`` is the series, so a series' chunks stay on one side of the split.
  The rows that repeat an earlier timestamp of their series (49 of 365,558) are dropped: the capability
  rejects them.

Signals come from ``fusion.signals.part_signals`` on the typed results of fusion/schemas.py, built the way
fusion/pipeline.py builds them (``anomaly_results`` for the detector), so the scorer sees what it is served.

Protocol, per dataset: the test-set rows ``request_id, group, part, <signals>, correct`` are split 50/50 by
group with ``ConfidenceScorer.holdout`` (seed ``[training].seed``); a fresh scorer built from the settings'
``[confidence]`` is fitted on one half and ``evaluate``-d on the other. Reported: the model's accuracy on
that half, ECE / AUROC / Brier of the scorer's overall probability, accuracy of the most confident 80%,
review share and precision without review at the threshold tuned for ``target_precision``; beside them the
baseline of the raw ``p_self`` signal alone (the part's own calibrated probability, on the rows that have
one: NER sentences with no predicted entity have none, the anomaly detector never has one), so the reader
sees what the scorer adds.

Nothing is registered or logged to MLflow: capabilities are built and fitted in-process. Writes
bench/results/confidence.json and prints a table. At full size it took 23 min on 2 CPU cores shared with
another job (intent 4, NER 18: 15 training, 3 predicting); NER's training time scales with
``--ner-train-rows``. ``--limit N`` (N test rows per text dataset, N series for NAB) is for a quick check.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fusion.pipeline import anomaly_results  # noqa: E402
from fusion.schemas import EntitySpan, IntentPrediction, SentimentPrediction  # noqa: E402
from fusion.signals import part_signals  # noqa: E402
from models.catalog import build_capability  # noqa: E402
from models.metrics import expected_calibration_error  # noqa: E402
from models.nab_scoring import probation_length  # noqa: E402
from models.settings import HybridSettings, get_settings  # noqa: E402
from report import machine, write_report  # noqa: E402
from training.conll import read_conll  # noqa: E402
from training.datasets import load_frame  # noqa: E402
from training.nab import read_nab  # noqa: E402

DATASETS = ("banking77", "sst2", "conll2003", "nab")
PART = {"banking77": "intent", "sst2": "sentiment", "conll2003": "ner", "nab": "anomaly"}
BATCH = 256


# ---- per dataset: the model's predictions on the test split as confidence rows ------------------

def _with_section(settings: HybridSettings, section: str, **updates) -> HybridSettings:
    return settings.model_copy(update={section: getattr(settings, section).model_copy(update=updates)})


def _sample(frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    return frame.sample(limit, random_state=0).reset_index(drop=True) if 0 < limit < len(frame) else frame


def _batched_predict(model, frame: pd.DataFrame, desc: str) -> pd.DataFrame:
    chunks = [model.predict(frame.iloc[i : i + BATCH][["text"]])
              for i in tqdm(range(0, len(frame), BATCH), desc=desc, unit="batch")]
    return pd.concat(chunks)


def _rows(part: str, ids: list[str], groups: list[str], signals: list[dict], correct: list[bool]) -> pd.DataFrame:
    return pd.DataFrame([{"request_id": r, "group": g, "part": part, **s, "correct": int(c)}
                         for r, g, s, c in zip(ids, groups, signals, correct, strict=True)])


def text_classifier_rows(name: str, settings: HybridSettings, train: pd.DataFrame, valid: pd.DataFrame | None,
                         test: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Intent or sentiment: fit on train (valid when given), one typed prediction per test text."""
    model = build_capability(name, settings)
    start = time.perf_counter()
    model.fit(train, valid)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = _batched_predict(model, test, f"{name}: predicting")
    predict_seconds = time.perf_counter() - start
    typed = IntentPrediction if name == "intent" else SentimentPrediction
    results = [typed(label=str(label), confidence=float(confidence))
               for label, confidence in zip(predicted["label"], predicted["confidence"])]
    correct = [r.label == str(gold) for r, gold in zip(results, test["label"])]
    ids = [f"{name}-{i}" for i in range(len(test))]
    rows = _rows(name, ids, ids, [part_signals(name, r) for r in results], correct)
    info = {"capability": name, "params": model.get_params(), "train_rows": len(train),
            "valid_rows": None if valid is None else len(valid), "test_rows": len(test),
            "test_accuracy": float(np.mean(correct)), "abstention_rate": float(np.mean([r.label == "out_of_scope" for r in results])),
            "train_seconds": train_seconds, "predict_seconds": predict_seconds}
    return rows, info


def banking77(folder: Path, settings: HybridSettings, args) -> tuple[pd.DataFrame, dict]:
    reader = build_capability("intent", settings)
    train = load_frame(reader, folder / "train.csv", label_col="category")
    test = _sample(load_frame(reader, folder / "test.csv", label_col="category"), args.limit)
    return text_classifier_rows("intent", settings, train, None, test)


def sst2(folder: Path, settings: HybridSettings, args) -> tuple[pd.DataFrame, dict]:
    settings = _with_section(settings, "sentiment", model=args.sentiment_model)
    reader = build_capability("sentiment", settings)
    train, valid, test = (load_frame(reader, folder / f"{split}.tsv", text_col="sentence") for split in ("train", "dev", "test"))
    return text_classifier_rows("sentiment", settings, train, valid, _sample(test, args.limit))


def conll2003(folder: Path, settings: HybridSettings, args) -> tuple[pd.DataFrame, dict]:
    settings = _with_section(settings, "ner", max_epochs=args.ner_epochs, patience=args.ner_patience)
    train, valid, test = (read_conll(folder / f"{split}.txt") for split in ("train", "dev", "test"))
    full_train, full_valid = len(train), len(valid)
    if args.ner_train_rows:
        train = train.head(args.ner_train_rows)
    if args.ner_valid_rows:
        valid = valid.head(args.ner_valid_rows)
    test = _sample(test, args.limit)
    model = build_capability("ner", settings)
    start = time.perf_counter()
    model.fit(train, valid)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = _batched_predict(model, test, "ner: predicting")
    predict_seconds = time.perf_counter() - start
    results = [[EntitySpan(**e) for e in entities] for entities in predicted["entities"]]
    gold = [{(e["start"], e["end"], e["label"]) for e in entities} for entities in test["entities"]]
    correct = [{(s.start, s.end, s.label) for s in spans} == g for spans, g in zip(results, gold)]
    ids = [f"ner-{i}" for i in range(len(test))]
    rows = _rows("ner", ids, ids, [part_signals("ner", r) for r in results], correct)
    n_gold = sum(len(g) for g in gold)
    n_pred = sum(len(r) for r in results)
    hits = sum(len({(s.start, s.end, s.label) for s in r} & g) for r, g in zip(results, gold))
    info = {"capability": "ner", "params": model.get_params(), "train_rows": len(train), "train_rows_available": full_train,
            "valid_rows": len(valid), "valid_rows_available": full_valid, "test_rows": len(test),
            "test_accuracy": float(np.mean(correct)),
            "test_entity_f1": 2 * hits / (n_gold + n_pred) if n_gold + n_pred else float("nan"),
            "sentences_without_predicted_entity": int(sum(not r for r in results)),
            "train_seconds": train_seconds, "predict_seconds": predict_seconds}
    return rows, info


def nab_chunks(labels: np.ndarray, size: int) -> list[tuple[int, int]]:
    """[start, end) stretches after the probationary period, about ``size`` points each, never cutting a
    labelled window (a cut inside one moves to its end); a tail under half ``size`` joins the one before."""
    n = len(labels)
    start, chunks = probation_length(n), []
    while start < n:
        end = min(n, start + size)
        while end < n and labels[end - 1] == 1 and labels[end] == 1:
            end += 1
        chunks.append((start, end))
        start = end
    if len(chunks) > 1 and chunks[-1][1] - chunks[-1][0] < size // 2:
        chunks[-2:] = [(chunks[-2][0], chunks[-1][1])]
    return chunks


def chunk_right(alarm: np.ndarray, label: np.ndarray) -> tuple[bool, int, int]:
    """(right, false alarms, windows missed) for one chunk: alarms only inside windows, every window alarmed."""
    false_alarms = int((alarm & (label == 0)).sum())
    edges = np.flatnonzero(np.diff(np.r_[0, label, 0]))  # window runs: starts and ends, alternately
    missed = sum(not alarm[s:e].any() for s, e in zip(edges[::2], edges[1::2]))
    return false_alarms == 0 and missed == 0, false_alarms, missed


def nab(folder: Path, settings: HybridSettings, args) -> tuple[pd.DataFrame, dict]:
    corpus = read_nab(folder, limit=args.limit or None)
    # A few NAB files repeat a timestamp (49 rows), which the capability's input check rejects: keep the first.
    before = len(corpus)
    corpus = corpus.drop_duplicates(["series_id", "timestamp"], keep="first").reset_index(drop=True)
    names = sorted(corpus["series_id"].unique())
    halves = [names[0::2], names[1::2]]
    detectors, thresholds = {}, []
    start = time.perf_counter()
    for tune, apply in (halves, halves[::-1]):
        detector = build_capability("anomaly", settings).fit(corpus[corpus["series_id"].isin(tune)])
        thresholds.append(detector.operating_threshold)
        detectors |= {name: detector for name in apply}
    train_seconds = time.perf_counter() - start
    ids, groups, signals, correct = [], [], [], []
    n_false, n_missed, n_windows = 0, 0, 0
    start = time.perf_counter()
    for name, frame in tqdm(corpus.groupby("series_id", sort=True), desc="anomaly: series", unit="series"):
        frame = frame.reset_index(drop=True)
        detector = detectors[name]
        predicted = detector.predict(frame[["series_id", "timestamp", "value"]])
        label = frame["label"].to_numpy(dtype=int)
        for k, (lo, hi) in enumerate(nab_chunks(label, args.nab_chunk)):
            result = anomaly_results(predicted.iloc[lo:hi], frame.iloc[lo:hi][["series_id", "timestamp"]], detector)
            right, false_alarms, missed = chunk_right(predicted["alarm"].to_numpy()[lo:hi], label[lo:hi])
            n_false, n_missed = n_false + false_alarms, n_missed + missed
            n_windows += int(np.diff(np.r_[0, label[lo:hi]]).clip(0).sum())
            ids.append(f"{name}#{k}")
            groups.append(name)
            signals.append(part_signals("anomaly", result, detector.operating_threshold))
            correct.append(right)
    predict_seconds = time.perf_counter() - start
    rows = _rows("anomaly", ids, groups, signals, correct)
    info = {"capability": "anomaly", "params": detectors[names[0]].get_params(), "series": len(names),
            "points": len(corpus), "duplicate_timestamps_dropped": before - len(corpus), "chunk_points": args.nab_chunk, "test_rows": len(rows),
            "thresholds_cross_fitted": thresholds, "windows_in_chunks": n_windows, "windows_missed": n_missed,
            "false_alarms": n_false, "test_accuracy": float(np.mean(correct)),
            "train_seconds": train_seconds, "predict_seconds": predict_seconds}
    return rows, info


LOADERS = {"banking77": banking77, "sst2": sst2, "conll2003": conll2003, "nab": nab}
NEEDS = {"banking77": "train.csv", "sst2": "train.tsv", "conll2003": "train.txt", "nab": "labels/combined_windows.json"}


# ---- the scorer, fitted on half the requests and judged on the other half ------------------------

def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def p_self_baseline(test: pd.DataFrame) -> dict:
    """The part's own probability alone, on the held-out half's rows that have one."""
    if "p_self" not in test.columns or test["p_self"].isna().all():
        return {"n": 0}
    have = test[test["p_self"].notna()]
    p, y = have["p_self"].to_numpy(float), have["correct"].to_numpy(int)
    top = np.argsort(-p, kind="stable")[: max(1, int(round(0.8 * len(p))))]
    return {"n": len(have), "share_of_rows": len(have) / len(test), "accuracy": float(y.mean()),
            "ece": expected_calibration_error(p, y), "auroc": _auroc(y, p),
            "brier": float(brier_score_loss(y, p, pos_label=1)), "accuracy_at_80_coverage": float(y[top].mean())}


def score(rows: pd.DataFrame, settings: HybridSettings, seed: int) -> dict:
    scorer = build_capability("confidence", settings)
    fit_half, test_half = scorer.holdout(rows, test_size=0.5, seed=seed)
    start = time.perf_counter()
    scorer.fit(fit_half)
    fit_seconds = time.perf_counter() - start
    return {"fit_rows": len(fit_half), "test_rows": len(test_half), "fit_accuracy": float(fit_half["correct"].mean()),
            "signals": scorer.signals_, "part_model": scorer.part_kind_, "overall_model": scorer.overall_kind_,
            "fit_seconds": fit_seconds, "scorer": scorer.evaluate(test_half), "p_self_baseline": p_self_baseline(test_half)}


def _clean(value):
    """NaN as null, numpy scalars as Python ones: strict JSON."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _f(value, width: int = 7, digits: int = 3) -> str:
    return f"{'-':>{width}}" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:>{width}.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                        help="folder holding the public datasets (default: ../shared/data)")
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated, from {', '.join(DATASETS)}")
    parser.add_argument("--limit", type=int, default=0,
                        help="quick check: a seeded sample of N test rows per text dataset, the first N NAB series (0: all)")
    parser.add_argument("--sentiment-model", default="logreg",
                        choices=["logreg", "lightgbm", "embedding", "ensemble", "finetune"],
                        help="sentiment strategy (default logreg: the shipped finetune takes ~14 min on 2 cores)")
    parser.add_argument("--ner-epochs", type=int, default=1, help="NER training epochs at most")
    parser.add_argument("--ner-train-rows", type=int, default=2000, help="first N CoNLL training sentences (0: all 14,041)")
    parser.add_argument("--ner-valid-rows", type=int, default=300, help="first N CoNLL dev sentences (0: all 3,250)")
    parser.add_argument("--ner-patience", type=int, default=0, help="NER steps without a better dev F1 before stopping (0: never)")
    parser.add_argument("--nab-chunk", type=int, default=500, help="points per NAB request (chunk), about")
    parser.add_argument("--seed", type=int, help="seed of the 50/50 split (default: [training].seed)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "confidence.json")
    args = parser.parse_args()

    started = time.perf_counter()
    if not args.data_dir.is_dir():
        print(f"no public data in {args.data_dir}: nothing to measure (see ../shared/data/README.md)")
        return
    settings = get_settings()
    seed = settings.training.seed if args.seed is None else args.seed
    chosen = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = sorted(set(chosen) - set(DATASETS))
    if unknown:
        parser.error(f"--datasets: unknown {unknown}; choose from {', '.join(DATASETS)}")

    results, skipped = {}, {}
    for name in chosen:
        folder = args.data_dir / name
        if not (folder / NEEDS[name]).exists():
            skipped[name] = f"{folder / NEEDS[name]} not found"
            print(f"skipping {name}: {skipped[name]}")
            continue
        print(f"\n== {name} ({PART[name]})", flush=True)
        start = time.perf_counter()
        rows, model = LOADERS[name](folder, settings, args)
        results[name] = {"part": PART[name], "model": model, "rows": len(rows), "right_share": float(rows["correct"].mean()),
                         **score(rows, settings, seed), "seconds": time.perf_counter() - start}
        print(f"{name}: {len(rows)} rows, {results[name]['right_share']:.3f} right, {results[name]['seconds']:.0f} s", flush=True)

    wall = time.perf_counter() - started
    report = _clean({
        "protocol": {"split": "ConfidenceScorer.holdout, test_size 0.5 by group", "seed": seed,
                     "confidence_settings": settings.confidence.model_dump(), "limit": args.limit,
                     "sentiment_model": args.sentiment_model, "ner_epochs": args.ner_epochs,
                     "ner_train_rows": args.ner_train_rows, "ner_valid_rows": args.ner_valid_rows,
                     "ner_patience": args.ner_patience, "nab_chunk": args.nab_chunk},
        "machine": machine(), "datasets": results, "skipped": skipped, "wall_seconds": wall,
    })
    write_report(report, args.out)

    print(f"\nconfidence scorer on public data: fitted on half the requests, judged on the other half "
          f"({report['machine']['cpus']} CPUs)")
    print(f"{'dataset':<10} {'part':<9} {'n':>5} {'acc':>6} {'ECE':>6} {'AUROC':>6} {'Brier':>6} {'acc@80':>6} "
          f"{'review':>6} {'prec':>6} {'thr':>5} | {'p_self':>6} {'ECE':>6} {'AUROC':>6}")
    for name, r in report["datasets"].items():
        s, b = r["scorer"], r["p_self_baseline"]
        print(f"{name:<10} {r['part']:<9} {r['test_rows']:>5} {_f(s['accuracy_overall'], 6)} {_f(s['ece_overall'], 6)} "
              f"{_f(s['auroc_overall'], 6)} {_f(s['brier_overall'], 6)} {_f(s['accuracy_at_80_coverage'], 6)} "
              f"{_f(s['review_share'], 6)} {_f(s['precision_without_review'], 6)} {_f(s['review_threshold'], 5, 2)} | "
              f"{b['n']:>6} {_f(b.get('ece'), 6)} {_f(b.get('auroc'), 6)}")
    print("acc: the model's accuracy on the judged half; review / prec: share sent to review and precision of the rest "
          "at the threshold tuned for [confidence].target_precision; p_self: rows with the part's own probability")
    for name, r in report["datasets"].items():
        m = r["model"]
        print(f"  {name}: {m['capability']} trained on {m.get('train_rows', '-')} rows in {m['train_seconds']:.0f} s; "
              f"test accuracy {m['test_accuracy']:.4f} over {r['rows']} requests; scorer {r['part_model'].get(r['part'])}")
    print(f"\ntotal wall time {wall:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()

"""The streaming anomaly detector on the Numenta Anomaly Benchmark (58 series, 116 windows).

    .venv/bin/python bench/nab.py [--data-dir ../shared/data] [--set quiet=150 ...] [--nab-results DIR]

Two protocols, both over the whole corpus:

- NAB's: one threshold per profile, chosen on all 58 series (what the NAB scoreboard reports,
  so the figures compare with it);
- two-fold by series: thresholds chosen on one half of the series, scored on the other, then the
  other way round. No series is scored with a threshold it helped choose. With ``--grid``, the
  detector's parameters are chosen the same way, from the grid.

``--nab-results`` points at the results/ folder of a NAB checkout: the published detectors'
scores are then re-scored with models/nab_scoring.py beside NAB's own final_results.json, to
show the scoring rules agree. Writes bench/results/nab.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from models.anomaly import StreamingAnomalyDetector, alarm_score, best_thresholds  # noqa: E402
from models.nab_scoring import PROFILES, SeriesSweep, normalize, score_corpus  # noqa: E402
from report import machine, parse_overrides, write_report  # noqa: E402
from training.nab import read_nab  # noqa: E402

#: standard / reward low FP / reward low FN, from the NAB repository's README
SCOREBOARD = {
    "ARTime": (74.9, 65.1, 80.4), "Numenta HTM": (70.5, 62.6, 75.2), "CAD OSE": (69.9, 67.0, 73.2),
    "earthgecko Skyline": (58.2, 46.2, 63.9), "KNN CAD": (58.0, 43.4, 64.8), "Relative Entropy": (54.6, 47.6, 58.8),
    "Random Cut Forest": (51.7, 38.4, 59.7), "Twitter ADVec": (47.1, 33.6, 53.5), "Windowed Gaussian": (39.6, 20.9, 47.4),
}


def corpus_scores(
    detector: StreamingAnomalyDetector, corpus: pd.DataFrame, progress: bool = True
) -> tuple[list[str], list[np.ndarray], list[SeriesSweep]]:
    names, scores, sweeps = [], [], []
    for name, rows in tqdm(corpus.groupby("series_id", sort=True), desc="scoring series", unit="series", disable=not progress):
        names.append(name)
        scores.append(detector.series_scores(rows["value"].to_numpy()))
        sweeps.append(SeriesSweep.of(rows["label"].to_numpy()))
    return names, scores, sweeps


def nab_protocol(scores, sweeps, quiet: int) -> dict[str, dict]:
    thresholds = best_thresholds(scores, sweeps, quiet)
    return {name: _result(scores, sweeps, thresholds[name], quiet, name) for name in PROFILES}


def two_fold(scores, sweeps, quiet: int) -> dict[str, dict]:
    """Each half of the series scored with thresholds chosen on the other half (halves alternate by name)."""
    halves = [list(range(0, len(scores), 2)), list(range(1, len(scores), 2))]
    results = {}
    for name, profile in PROFILES.items():
        raw, thresholds = 0.0, []
        for tune, test in (halves, halves[::-1]):
            threshold = best_thresholds([scores[i] for i in tune], [sweeps[i] for i in tune], quiet)[name]
            raw += alarm_score([scores[i] for i in test], [sweeps[i] for i in test], threshold, quiet, profile)[0]
            thresholds.append(threshold)
        results[name] = {"score": normalize(raw, sweeps, profile), "thresholds": thresholds}
    return results


def two_fold_selection(configs: list[dict], corpus: pd.DataFrame) -> dict:
    """Detector parameters *and* thresholds chosen on one half of the series, scored on the other, both ways.

    The honest counterpart of tuning on the whole corpus: each half is scored by the configuration
    (from ``configs``) and thresholds that did best on the other half.
    """
    scored = []
    for params in tqdm(configs, desc="configurations", unit="config"):
        detector = StreamingAnomalyDetector(**params)
        _, scores, sweeps = corpus_scores(detector, corpus, progress=False)
        scored.append((params, detector.quiet, scores, sweeps))
    n = len(scored[0][2])
    halves = [list(range(0, n, 2)), list(range(1, n, 2))]
    sweeps_all = scored[0][3]
    results = {}
    for name, profile in PROFILES.items():
        raw, chosen = 0.0, []
        for tune, test in (halves, halves[::-1]):
            def tuned(entry):
                params, quiet, scores, sweeps = entry
                threshold = best_thresholds([scores[i] for i in tune], [sweeps[i] for i in tune], quiet)[name]
                return alarm_score([scores[i] for i in tune], [sweeps[i] for i in tune], threshold, quiet, profile)[0], threshold
            best = max(scored, key=lambda entry: tuned(entry)[0])
            params, quiet, scores, sweeps = best
            threshold = tuned(best)[1]
            raw += alarm_score([scores[i] for i in test], [sweeps[i] for i in test], threshold, quiet, profile)[0]
            chosen.append({"params": params, "threshold": threshold})
        results[name] = {"score": normalize(raw, sweeps_all, profile), "chosen": chosen}
    return results


def _result(scores, sweeps, threshold: float, quiet: int, profile: str) -> dict:
    raw, found, missed, false_alarms = alarm_score(scores, sweeps, threshold, quiet, PROFILES[profile])
    return {"score": normalize(raw, sweeps, PROFILES[profile]), "threshold": threshold,
            "windows_found": found, "windows_missed": missed, "false_alarms": false_alarms}


def rescore_published(results_dir: Path, thresholds_file: Path, corpus: pd.DataFrame) -> dict[str, dict]:
    """Published NAB detectors' raw scores through our scorer at NAB's thresholds, beside NAB's own figures."""
    published = json.loads((results_dir / "final_results.json").read_text())
    thresholds = json.loads(thresholds_file.read_text())
    groups = list(corpus.groupby("series_id", sort=True))
    sweeps = [SeriesSweep.of(rows["label"].to_numpy()) for _, rows in groups]
    checked = {}
    for detector in sorted(published):
        if not (results_dir / detector).is_dir() or detector not in thresholds:
            continue
        scores = []
        for name, _ in groups:
            folder, file = name.split("/")
            scores.append(pd.read_csv(results_dir / detector / folder / f"{detector}_{file}.csv")["anomaly_score"].to_numpy())
        checked[detector] = {
            profile: {"ours": score_corpus(scores, sweeps, thresholds[detector][profile]["threshold"], PROFILES[profile]).normalized,
                      "nab": published[detector][profile]}
            for profile in PROFILES
        }
    return checked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                        help="folder holding nab/{data,labels} (default: ../shared/data)")
    parser.add_argument("--set", nargs="*", default=[], metavar="PARAM=VALUE", help="detector parameters to override")
    parser.add_argument("--grid", type=json.loads, metavar="JSON",
                        help='parameter grid, e.g. \'{"quiet": [75, 150]}\': also choose parameters on one half of the '
                             "series and score the other (two-fold)")
    parser.add_argument("--nab-results", type=Path, help="a NAB checkout's results/ folder, to cross-check the scorer")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "nab.json")
    args = parser.parse_args()

    folder = args.data_dir / "nab"
    if not (folder / "labels" / "combined_windows.json").exists():
        sys.exit(f"NAB not found in {folder}: get data/ and labels/ from github.com/numenta/NAB and pass --data-dir")
    corpus = read_nab(folder)
    detector = StreamingAnomalyDetector(**parse_overrides(args.set))
    start = time.perf_counter()
    names, scores, sweeps = corpus_scores(detector, corpus)
    score_seconds = time.perf_counter() - start
    start = time.perf_counter()
    nab = nab_protocol(scores, sweeps, detector.quiet)
    folds = two_fold(scores, sweeps, detector.quiet)
    tune_seconds = time.perf_counter() - start

    report = {
        "dataset": {"name": "nab", "series": len(names), "points": len(corpus), "windows": sum(s.n_windows for s in sweeps)},
        "params": detector.get_params(),
        "nab_protocol": nab,
        "two_fold_by_series": folds,
        "score_seconds": score_seconds,
        "points_per_second": len(corpus) / score_seconds,
        "threshold_search_seconds": tune_seconds,
        "scoreboard": {k: dict(zip(PROFILES, v)) for k, v in SCOREBOARD.items()},
        "machine": machine(),
    }
    if args.grid:
        keys = list(args.grid)
        configs = [{**detector.get_params(), **dict(zip(keys, values))} for values in itertools.product(*args.grid.values())]
        report["two_fold_parameter_selection"] = two_fold_selection(configs, corpus)
        report["grid"] = args.grid
    if args.nab_results:
        report["scorer_check"] = rescore_published(args.nab_results, folder / "config" / "thresholds.json", corpus)
    write_report(report, args.out)

    print(f"\nNAB, {len(names)} series, {report['dataset']['windows']} windows, {len(corpus)} points "
          f"({report['points_per_second']:,.0f} points/s scored)")
    print(f"{'detector':<28}" + "".join(f"{p:>20}" for p in PROFILES))
    print(f"{'ours (NAB protocol)':<28}" + "".join(f"{nab[p]['score']:>20.1f}" for p in PROFILES))
    print(f"{'ours (two-fold thresholds)':<28}" + "".join(f"{folds[p]['score']:>20.1f}" for p in PROFILES))
    if args.grid:
        selected = report["two_fold_parameter_selection"]
        print(f"{'ours (two-fold params+thr.)':<28}" + "".join(f"{selected[p]['score']:>20.1f}" for p in PROFILES))
    for name, values in SCOREBOARD.items():
        print(f"{name:<28}" + "".join(f"{v:>20.1f}" for v in values))
    std = nab["standard"]
    print(f"standard profile: {std['windows_found']} windows found, {std['windows_missed']} missed, "
          f"{std['false_alarms']} false alarms, threshold {std['threshold']}")
    if args.nab_results:
        worst = max(abs(v["ours"] - v["nab"]) for d in report["scorer_check"].values() for v in d.values())
        print(f"scorer check: {len(report['scorer_check'])} published detectors re-scored; "
              f"largest difference from NAB's figures {worst:.3f} points")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

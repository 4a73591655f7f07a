"""The forecaster on M4 Hourly: 414 series, horizon 48, scored as the competition scored it.

    .venv/bin/python bench/m4.py [--data-dir ../shared/data] [--limit N] [--set selection=global ...]

Fits on Hourly-train (the backtest for model choice and intervals runs inside it), forecasts 48
hours after every series and scores them against Hourly-test: sMAPE, MASE (m = 24) and OWA
against Naive2, which is computed here and checked against the published Naive2 figures. The
timed run is fit + forecast + scoring; each candidate is then also scored alone on the same
test, to show what the choice per series adds. Writes bench/results/m4.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from models.forecast import Forecaster  # noqa: E402
from models.forecast_metrics import mase, naive2, owa, smape  # noqa: E402
from report import machine, parse_overrides, write_report  # noqa: E402
from training.m4 import read_m4_hourly  # noqa: E402

#: sMAPE / MASE / OWA on M4 Hourly, from the organisers' "Evaluation and Ranks.xlsx"
PUBLISHED = {
    "Doornik (best OWA)": (8.913, 0.801, 0.410), "Smyl ES-RNN (M4 winner)": (9.328, 0.893, 0.440),
    "Pawlikowski": (9.611, 0.873, 0.444), "Montero-Manso FFORMA": (11.506, 0.819, 0.484),
    "Seasonal naive": (13.912, 1.193, 0.627), "Theta": (18.138, 2.455, 1.006), "Naive2": (18.383, 2.395, 1.000),
}


def score(actual: list[np.ndarray], histories: list[np.ndarray], forecasts: np.ndarray, season: int) -> dict[str, float]:
    smapes = [smape(a, f[: len(a)]) for a, f in zip(actual, forecasts, strict=True)]
    mases = [mase(a, f[: len(a)], h, season) for a, h, f in zip(actual, histories, forecasts, strict=True)]
    return {"smape": float(np.mean(smapes)), "mase": float(np.mean(mases))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                        help="folder holding m4_hourly/Hourly-{train,test}.csv (default: ../shared/data)")
    parser.add_argument("--limit", type=int, help="only the first N series (quick runs)")
    parser.add_argument("--set", nargs="*", default=[], metavar="PARAM=VALUE", help="forecaster parameters to override")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "m4.json")
    args = parser.parse_args()

    folder = args.data_dir / "m4_hourly"
    if not (folder / "Hourly-train.csv").exists():
        sys.exit(f"M4 Hourly not found in {folder}: get Dataset/Train/Hourly-train.csv and Dataset/Test/Hourly-test.csv "
                 "from github.com/Mcompetitions/M4-methods and pass --data-dir")
    train, test = read_m4_hourly(folder, args.limit)
    forecaster = Forecaster(**{"horizon": 48, "season": 24, **parse_overrides(args.set)})

    start = time.perf_counter()
    forecaster.fit(train)
    fit_seconds = time.perf_counter() - start
    metrics = forecaster.evaluate(test)
    total_seconds = time.perf_counter() - start
    print(f"fit {fit_seconds:.0f}s, fit + forecast + scoring {total_seconds:.0f}s", file=sys.stderr)

    # Each candidate alone, on the same histories and test.
    series = list(forecaster.histories_.values())
    future = {name: rows["value"].to_numpy() for name, rows in test.groupby("series_id", sort=False)}
    actual = [future[s.series_id] for s in series]
    histories = [s.values for s in series]
    alone = forecaster._candidate_forecasts(series, forecaster.candidates, getattr(forecaster, "global_", None))
    baseline = score(actual, histories, np.array([naive2(h, 48, 24) for h in histories]), 24)
    candidates = {}
    for name, forecasts in alone.items():
        result = score(actual, histories, forecasts, 24)
        result["owa"] = owa(result["smape"], result["mase"], baseline["smape"], baseline["mase"])
        candidates[name] = result
    chosen = {name: sum(1 for c in forecaster.choice_.values() if c == name) for name in forecaster.candidates}

    report = {
        "dataset": {"name": "m4_hourly", "series": len(series), "horizon": 48, "season": 24,
                    "train_points": len(train), "test_points": len(test)},
        "params": forecaster.get_params(),
        "test": metrics,
        "naive2_check": {"ours": baseline, "published": {"smape": 18.383, "mase": 2.395}},
        "candidates_alone": candidates,
        "backtest_mase": forecaster.backtest_mase_,
        "series_per_candidate": chosen,
        "fit_seconds": fit_seconds,
        "total_seconds": total_seconds,
        "published": {k: dict(zip(("smape", "mase", "owa"), v)) for k, v in PUBLISHED.items()},
        "machine": machine(),
    }
    write_report(report, args.out)

    print(f"\nM4 Hourly, {len(series)} series, horizon 48: fit + forecast + scoring in {total_seconds / 60:.1f} min")
    print(f"{'method':<34}{'sMAPE':>8}{'MASE':>8}{'OWA':>8}")
    print(f"{'ours: chosen per series':<34}{metrics['smape']:>8.3f}{metrics['mase']:>8.3f}{metrics['owa']:>8.3f}")
    for name, result in candidates.items():
        print(f"{'  ' + name + ' alone':<34}{result['smape']:>8.3f}{result['mase']:>8.3f}{result['owa']:>8.3f}")
    print(f"{'  Naive2 (ours)':<34}{baseline['smape']:>8.3f}{baseline['mase']:>8.3f}{1.0:>8.3f}")
    for name, (s, m, o) in PUBLISHED.items():
        print(f"{name:<34}{s:>8.3f}{m:>8.3f}{o:>8.3f}")
    print(f"interval coverage: 80% -> {metrics['coverage_80']:.3f}, 95% -> {metrics['coverage_95']:.3f}")
    print(f"series per chosen candidate: {chosen}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

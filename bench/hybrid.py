"""The hybrid pipeline end to end (what ``POST /predict`` runs), in-process: latency per kind of request,
the dispatch overhead, and the confidence scorer measured on requests it never saw.

    .venv/bin/python bench/hybrid.py            # after `make demo` (the champions of the project's store)

Latency: four kinds of request, interleaved request by request, each timed whole and per stage:
- ``ml text``: a sample ticket with tasks intent, sentiment, ner (no GenAI path);
- ``series``: one sample series with tasks anomaly, forecast;
- ``genai``: a sample ticket with the answer only (retrieval + extractive answer + guards);
- ``both``: a ticket routed by the dispatcher (the input classifier) when one is trained, else all four tasks.
Each kind gets tickets of its own, so no request finds its text's embedding or entities remembered from
another kind's request (serving remembers recent texts; a repeated text would be timed faster than a new one).
The dispatch overhead of an ML-only request is its whole time over its slowest part's, minus 1 (the input
guard and the capabilities run concurrently, so the ideal is the slowest one alone).

Confidence: the scorer is trained on the champions' outcomes on one set of fresh, harder sample requests
(fusion/confidence_data.py, seed A) and evaluated on another (seed B: other tickets, other noise, the other
half of the unanswerable questions).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fusion.confidence_data import UNANSWERABLE, harvest, sample_requests, sample_series  # noqa: E402
from fusion.pipeline import HybridPipeline  # noqa: E402
from fusion.schemas import PredictRequest  # noqa: E402
from models.catalog import build_capability  # noqa: E402
from models.settings import get_settings  # noqa: E402
from report import machine, write_report  # noqa: E402
from training.sample_data import generate_tickets  # noqa: E402

KINDS = ("ml text", "series", "genai", "both")


def percentiles(ms: list[float]) -> dict[str, float]:
    values = np.array(ms)
    return {"p50_ms": float(np.median(values)), "p99_ms": float(np.percentile(values, 99)), "n": int(len(values))}


def requests_of(kind: str, text: str, series: dict, routed: bool) -> PredictRequest:
    if kind == "ml text":
        return PredictRequest(text=text, tasks=["intent", "sentiment", "ner"])
    if kind == "series":
        return PredictRequest(series=[series], tasks=["anomaly", "forecast"], horizon=7)
    if kind == "genai":
        return PredictRequest(text=text, tasks=["answer"])
    return PredictRequest(text=text) if routed else PredictRequest(text=text, tasks=["intent", "sentiment", "ner", "answer"])


def latency(pipeline: HybridPipeline, n: int, seed: int) -> dict:
    pool = generate_tickets(n=2 * n * len(KINDS), seed=seed)["text"].drop_duplicates().tolist()
    if len(pool) < n * len(KINDS):
        raise SystemExit(f"--requests {n}: only {len(pool)} distinct sample tickets for {len(KINDS)} kinds")
    own = {kind: pool[k * n:(k + 1) * n] for k, kind in enumerate(KINDS)}
    series = sample_series(pipeline.settings)
    routed = "dispatcher" in pipeline.champions
    for kind in KINDS:  # model loads and first calls outside the timing
        pipeline.predict(requests_of(kind, "warm up: my card is lost", series, routed))
    totals: dict[str, list[float]] = {k: [] for k in KINDS}
    overheads, answered, routes = [], 0, []
    for i in range(n):
        for kind in (KINDS if i % 2 else KINDS[::-1]):
            text = own[kind][i]
            started = time.perf_counter()
            response = pipeline.predict(requests_of(kind, text, series, routed))
            totals[kind].append((time.perf_counter() - started) * 1000)
            if kind == "ml text":
                # the guard runs beside the ML models: the slowest of them all is the ideal
                parts = [v for k, v in response.timings_ms.items() if k.startswith("ml.") or k == "guard"]
                overheads.append(response.timings_ms["total"] / max(parts) - 1)
            if kind == "both":
                routes.append(response.route.path)
                answered += response.answer is not None
    return {"kinds": {k: percentiles(v) for k, v in totals.items()},
            "dispatch_overhead_p50": float(np.median(overheads)),
            "routed_by": "dispatcher" if routed else "tasks (no dispatcher champion)",
            "routes_of_tickets": pd.Series(routes).value_counts().to_dict(),
            "tickets_without_genai": 1 - answered / n}


def confidence(settings, pipeline: HybridPipeline, n_tickets: int) -> dict:
    # other tickets and other unanswerable questions on each side
    train_rows = harvest(pipeline, sample_requests(settings, n_tickets, seed=2001, unanswerable=UNANSWERABLE[::2]))
    test_rows = harvest(pipeline, sample_requests(settings, n_tickets, seed=3001, unanswerable=UNANSWERABLE[1::2]))
    scorer = build_capability("confidence", settings).fit(train_rows)
    metrics = scorer.evaluate(test_rows)
    share_wrong = 1 - test_rows.groupby("request_id")["correct"].min().mean()
    return {"train_rows": len(train_rows), "test_rows": len(test_rows), "share_of_responses_wrong": float(share_wrong),
            "part_accuracy": test_rows.groupby("part")["correct"].mean().round(4).to_dict(), "metrics": metrics,
            "answers": answers_told_apart(scorer, test_rows)}


def answers_told_apart(scorer, rows: pd.DataFrame) -> dict:
    """The case that matters most: questions the knowledge base cannot answer, against those it can. Per
    kind, how often the offline answer was right, the answer part's mean confidence, the share sent to
    review, and the AUROC of the answer confidence for telling right answers from wrong ones."""
    scored = scorer.predict(rows)
    answers = rows[rows["part"] == "answer"].join(scored[["confidence", "needs_review"]])
    kind = np.where(answers["group"].str.startswith("question-"), "unanswerable", "answerable")
    out = {k: {"n": int(len(g)), "answer_right": float(g["correct"].mean()), "mean_confidence": float(g["confidence"].mean()),
               "sent_to_review": float(g["needs_review"].mean())} for k, g in answers.groupby(kind)}
    if answers["correct"].nunique() == 2:
        out["auroc_answer"] = float(roc_auc_score(answers["correct"], answers["confidence"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=60, help="sample tickets per kind of request")
    parser.add_argument("--confidence-tickets", type=int, default=240, help="fresh tickets per confidence harvest")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "hybrid.json")
    args = parser.parse_args()
    if args.requests < 1 or args.confidence_tickets < 10:
        parser.error("--requests must be at least 1 and --confidence-tickets at least 10")

    started = time.perf_counter()
    base = get_settings()
    with tempfile.TemporaryDirectory() as scratch:  # no audit lines from the bench in the project's log
        settings = base.model_copy(update={"guardrails": base.guardrails.model_copy(update={"audit_log": Path(scratch) / "a.jsonl"})})
        pipeline = HybridPipeline.from_settings(settings)
        report = {"champions": {k: v.version for k, v in pipeline.champions.loaded.items()},
                  "latency": latency(pipeline, args.requests, args.seed),
                  "confidence": confidence(settings, pipeline, args.confidence_tickets),
                  "machine": machine()}
    report["seconds"] = time.perf_counter() - started
    write_report(report, args.out)

    lat = report["latency"]
    print(f"\nlatency, in-process, {args.requests} requests per kind (routed by {lat['routed_by']})")
    print(f"{'request':<10} {'p50 ms':>8} {'p99 ms':>8}")
    for kind, row in lat["kinds"].items():
        print(f"{kind:<10} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f}")
    print(f"dispatch overhead beyond the slowest concurrent part (p50): {lat['dispatch_overhead_p50']:.1%}; "
          f"tickets answered without the GenAI path: {lat['tickets_without_genai']:.0%} ({lat['routes_of_tickets']})")
    conf = report["confidence"]
    m = conf["metrics"]
    print(f"\nconfidence on {m.get('n_requests', '?')} unseen requests ({conf['share_of_responses_wrong']:.0%} with a wrong part; "
          f"part accuracy {conf['part_accuracy']})")
    for key in ("ece_overall", "auroc_overall", "brier_overall", "accuracy_at_80_coverage", "review_share",
                "precision_without_review", "review_threshold"):
        if key in m:
            print(f"  {key:<26} {m[key]:.3f}")
    for key in sorted(k for k in m if k.startswith(("ece_", "auroc_")) and not k.endswith("overall")):
        print(f"  {key:<26} {m[key]:.3f}")
    answers = conf["answers"]
    for kind in ("answerable", "unanswerable"):
        if kind in answers:
            a = answers[kind]
            print(f"  {kind:<13} questions: {a['n']:>4}, answer right {a['answer_right']:.0%}, "
                  f"mean answer confidence {a['mean_confidence']:.2f}, sent to review {a['sent_to_review']:.0%}")
    print(f"\nwrote {args.out} in {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()

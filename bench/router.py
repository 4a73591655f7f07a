"""LLM routing on the project's labelled prompt set: every strategy beside the baselines, with RouteLLM's metrics.

    .venv/bin/python bench/router.py [--seed 7] [--strong-budget 0.2] [--out bench/results/router.json]

Data: ``training.router_data.generate_router_prompts`` (about 2,400 prompts, tiers cheap / small /
large / code, labels by construction from the template family; see that module for what this
means). Two protocols, each scored once on rows no router saw:

1. ``random``: a stratified 80/20 split (the split ``hybrid train llm-router`` makes). Prompts
   from the same template family land on both sides, so this measures fitting known phrasings.
2. ``family``: one whole template family per tier held out (``yes_no``, ``policy``,
   ``explain_ml``, ``config``); routers learn from the other 13 families. This measures
   generalisation to an unseen style of prompt, the honest figure for new traffic.

Strategies: rules (the built-in keyword rules), similarity (10-nearest-neighbour vote over the
training prompts), classifier (``RouteClassifier`` with the shipped settings, and with
``--strong-budget`` also one tuned to that strongest-tier share instead of accuracy), and baselines:
random (uniform tier, uniform complexity), always-weakest, always-strongest, and the oracle (the
true tiers, complexity = the true tier's place in the order), the ceiling of each metric here. The LLM-as-router
strategy needs a real LLM and is not measured here. Metrics (models/llm/routing_metrics.py):
exact-tier accuracy, macro-F1, APGR and CPT(95%) from the threshold sweep on each router's
complexity score, PGR and strongest-tier share at the router's own decisions, and spend as a share
of always-strongest at illustrative per-call prices (``PRICES``). Writes bench/results/router.json.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from models.embeddings import RememberingEncoder  # noqa: E402
from models.llm.router import ClassifierRouter, RulesRouter, SimilarityRouter, builtin_rules  # noqa: E402
from models.llm.router_model import RouteClassifier  # noqa: E402
from models.llm.routing_metrics import (  # noqa: E402
    QualityModel,
    apgr,
    cost_share,
    cpt,
    expected_strength,
    operating_pgr,
    pgr_curve,
    routing_accuracy,
)
from models.settings import LLMRouterSettings, RouterSettings  # noqa: E402
from report import machine, write_report  # noqa: E402
from training.router_data import generate_router_prompts  # noqa: E402

ORDER = tuple(RouterSettings().tier_order)
SPECIALISTS = tuple(RouterSettings().specialist_tiers)
QUALITY = QualityModel(ORDER, SPECIALISTS)
#: illustrative relative prices per call (a small open model : a mid model : a frontier model; a code model)
PRICES = {"cheap": 1.0, "small": 5.0, "large": 25.0, "code": 5.0}
HELD_OUT_FAMILIES = ("yes_no", "policy", "explain_ml", "config")
# RouteLLM (Ong et al., ICLR 2025), MT Bench, GPT-4 vs Mixtral-8x7B, matrix-factorisation router trained on
# Chatbot Arena preferences augmented with GPT-4-judge labels: a different dataset, a two-model pair, and
# quality measured by a judge, so these are context, not a comparison.
PUBLISHED = {"RouteLLM mf + judge augmentation, MT Bench": {"apgr": 0.802, "cpt_50": 0.134, "cpt_80": 0.313}}


def scored(name: str, test: pd.DataFrame, tiers: list[str], complexity: list[float]) -> dict:
    truth = test["tier"].tolist()
    curve = pgr_curve(truth, complexity, tiers, QUALITY)
    return {
        "strategy": name,
        "accuracy": routing_accuracy(truth, tiers),
        "macro_f1": float(f1_score(truth, tiers, average="macro", zero_division=0)),
        "apgr": apgr(curve),
        "cpt_95": cpt(curve, 0.95),
        "cpt_50": cpt(curve, 0.50),
        "pgr": operating_pgr(truth, tiers, QUALITY),
        "strong_share": float(np.mean(np.asarray(tiers) == QUALITY.strongest)),
        "cost_share": cost_share(tiers, PRICES, QUALITY),
        "curve": curve.to_dict(orient="list"),
    }


def run_protocol(name: str, train: pd.DataFrame, test: pd.DataFrame, encoder: RememberingEncoder, seed: int,
                 strong_budget: float | None = None) -> dict:
    texts, results = test["text"].tolist(), []

    rules = RulesRouter(builtin_rules(ORDER, SPECIALISTS), default_tier=RouterSettings().default_tier)
    decisions = [rules.route(t) for t in texts]
    complexity = [expected_strength(d.scores if any(d.scores.get(t, 0) for t in ORDER) else {d.tier: 1.0}, ORDER)
                  for d in decisions]
    results.append(scored("rules (built-in keywords)", test, [d.tier for d in decisions], complexity))

    similarity = SimilarityRouter(train[["text", "tier"]], encoder, k=10)
    decisions = similarity.route_many(texts)
    results.append(scored("similarity (10-NN, MiniLM)", test, [d.tier for d in decisions],
                          [expected_strength(d.scores, ORDER) for d in decisions]))

    variants = {"classifier (default)": LLMRouterSettings()}
    if strong_budget is not None:
        variants[f"classifier (strong_budget {strong_budget:g})"] = LLMRouterSettings(strong_budget=strong_budget)
    for label, settings in variants.items():
        model = RouteClassifier(**settings.model_dump(), seed=seed)
        model._shared_encoder = encoder
        start = time.perf_counter()
        model.fit(train[["text", "tier"]])
        fit_seconds = time.perf_counter() - start
        predicted = model.predict(test[["text"]])
        classifier = scored(label, test, predicted["tier"].tolist(), predicted["complexity"].tolist())
        classifier |= {"fit_seconds": fit_seconds, "thresholds": model.thresholds_, "operating_point": model.operating_point_,
                       "per_family_accuracy": (predicted["tier"] == test["tier"]).groupby(test["family"]).mean().round(3).to_dict()}
        results.append(classifier)

    truth = test["tier"].tolist()  # the ceiling: true tiers, complexity = the true tier's place in the order
    results.append(scored("oracle (true tiers)", test, truth,
                          [expected_strength({t: 1.0}, ORDER) if t in ORDER else 1.0 for t in truth]))
    rng = random.Random(seed)
    every_tier = [*ORDER, *SPECIALISTS]
    results.append(scored("random", test, [rng.choice(every_tier) for _ in texts], [rng.random() for _ in texts]))
    results.append(scored(f"always {QUALITY.weakest}", test, [QUALITY.weakest] * len(texts), [0.0] * len(texts)))
    results.append(scored(f"always {QUALITY.strongest}", test, [QUALITY.strongest] * len(texts), [1.0] * len(texts)))
    return {"protocol": name, "train_rows": len(train), "test_rows": len(test),
            "test_tiers": test["tier"].value_counts().to_dict(), "results": results}


def single_prompt_latency(train: pd.DataFrame, texts: list[str], seed: int) -> float:
    """Median milliseconds for one prompt through ClassifierRouter.route, with a real (unmemoised) encoder."""
    model = RouteClassifier(**LLMRouterSettings().model_dump(), seed=seed).fit(train[["text", "tier"]].head(400))
    router = ClassifierRouter(model)
    router.route("warm up")
    times = []
    for text in texts:
        start = time.perf_counter()
        router.route(text)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated prompt set")
    parser.add_argument("--split-seed", type=int, default=42, help="seed of the random split and the classifier")
    parser.add_argument("--strong-budget", type=float, default=None,
                        help="also score a classifier tuned to send this share of validation prompts to the strongest tier")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "router.json")
    args = parser.parse_args()

    started = time.perf_counter()
    prompts = generate_router_prompts(args.seed)
    encoder = RememberingEncoder()
    print(f"embedding {len(prompts)} prompts once (MiniLM, CPU)...", file=sys.stderr)
    encoder.encode(prompts["text"].tolist(), progress=True)

    train, test = train_test_split(prompts, test_size=0.2, random_state=args.split_seed, stratify=prompts["tier"])
    held = prompts["family"].isin(HELD_OUT_FAMILIES)
    protocols = [
        run_protocol("random", train.reset_index(drop=True), test.reset_index(drop=True), encoder, args.split_seed,
                     args.strong_budget),
        run_protocol("family", prompts[~held].reset_index(drop=True), prompts[held].reset_index(drop=True), encoder,
                     args.split_seed, args.strong_budget),
    ]
    latency = single_prompt_latency(train, test["text"].head(50).tolist(), args.split_seed)
    report = {
        "dataset": {"name": "generated router prompts (training/router_data.py)", "seed": args.seed, "rows": len(prompts),
                    "tiers": prompts["tier"].value_counts().to_dict(), "held_out_families": list(HELD_OUT_FAMILIES)},
        "quality_model": {"tier_order": list(ORDER), "specialist_tiers": list(SPECIALISTS), "partial_credit": QUALITY.partial_credit},
        "prices": PRICES,
        "machine": machine(),
        "protocols": protocols,
        "classifier_single_prompt_ms_p50": latency,
        "published": PUBLISHED,
        "seconds": time.perf_counter() - started,
    }
    write_report(report, args.out)

    for protocol in protocols:
        print(f"\n{protocol['protocol']} protocol: train {protocol['train_rows']}, test {protocol['test_rows']} "
              f"prompts {protocol['test_tiers']}")
        print(f"{'strategy':<30} {'acc':>6} {'macroF1':>7} {'APGR':>6} {'CPT95':>6} {'CPT50':>6} {'PGR':>6} "
              f"{'strong':>6} {'spend':>6}")
        for r in protocol["results"]:
            print(f"{r['strategy']:<30} {r['accuracy']:>6.3f} {r['macro_f1']:>7.3f} {r['apgr']:>6.3f} {r['cpt_95']:>6.3f} "
                  f"{r['cpt_50']:>6.3f} {r['pgr']:>6.3f} {r['strong_share']:>6.3f} {r['cost_share']:>6.3f}")
        classifier = next(r for r in protocol["results"] if r["strategy"] == "classifier (default)")
        print(f"classifier per family: {classifier['per_family_accuracy']}")
    for name, figures in PUBLISHED.items():
        print(f"\npublished, different data: {name}: APGR {figures['apgr']}, CPT(50%) {figures['cpt_50']}, CPT(80%) {figures['cpt_80']}")
    print(f"classifier, one prompt through ClassifierRouter.route: {latency:.1f} ms (median of 50)")
    print(f"\nwrote {args.out} in {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()

"""Latency of one offline answer (``HybridPipeline.ask``, what ``POST /ask`` and ``hybrid ask`` run) on the sample knowledge base.

    .venv/bin/python bench/ask.py [--questions 60] [--rounds 2]

Questions: distinct sample support tickets (seeded), each asked once per configuration with the
semantic cache off, except in the ``cache hit`` row. The knowledge base is the bundled one (49 help articles), ingested into a
temporary collection; facts come from whichever text champions the registry has (``make demo``
trains intent, NER, the injection detector and the router; they are listed in the report).
Configurations run interleaved, question by question, ``--rounds`` times, so machine noise hits
them alike:

- ``no vector memory``: every part embeds what it needs (the extractive generator and the grounding
  check both embed the passages' sentences);
- ``vector memory`` (the default): one bounded memory of sentence vectors shared by the parts and
  kept across questions, as the service runs;
- ``cache hit``: the same question asked a second time with the semantic cache on, timed when it is
  served from the cache (the first ask, untimed, stores the answer; answers that are not stored, such
  as "not in the knowledge base" or a flagged one, miss and are counted).

Writes bench/results/ask.json and prints a table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fusion.ask import AskRequest  # noqa: E402
from fusion.champions import Champions  # noqa: E402
from fusion.pipeline import REMEMBERED_VECTORS, TEXT_FACTS, HybridPipeline  # noqa: E402
from models.rag.factory import build_ingestor  # noqa: E402
from models.rag.loaders import load_documents  # noqa: E402
from models.settings import get_settings  # noqa: E402
from report import machine, write_report  # noqa: E402
from training.sample_data import generate_knowledge_base, generate_tickets  # noqa: E402


def percentiles(times: list[float]) -> dict[str, float]:
    ms = np.array(times) * 1000
    return {"p50_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)), "mean_ms": float(ms.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=60, help="distinct sample tickets asked")
    parser.add_argument("--rounds", type=int, default=2, help="times each configuration is run (fresh pipelines)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "ask.json")
    args = parser.parse_args()
    if args.questions < 1 or args.rounds < 1:
        parser.error(f"--questions {args.questions} and --rounds {args.rounds}: both must be at least 1")

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        base = get_settings()
        settings = base.model_copy(update={"rag": base.rag.model_copy(update={"collections_dir": Path(scratch) / "collections"})})
        kb = Path(scratch) / "knowledge_base.jsonl"
        generate_knowledge_base().to_json(kb, orient="records", lines=True)
        documents, _ = load_documents(kb)
        build_ingestor(settings, progress=False).ingest("kb", documents)

        ml = Champions.from_registry([*TEXT_FACTS, "injection", "llm_router"], settings, skip_missing=True)
        tickets = generate_tickets(seed=args.seed)["text"].drop_duplicates()
        questions = tickets.sample(n=min(args.questions, len(tickets)), random_state=args.seed).tolist()

        times: dict[str, list[float]] = {"no vector memory": [], "vector memory": [], "cache hit": []}
        hits = 0
        for _ in range(args.rounds):
            plain = HybridPipeline.from_settings(settings, ml, remembered_vectors=0)
            remembering = HybridPipeline.from_settings(settings, ml)
            for pipeline in (plain, remembering):  # loads the models and the collection outside the timing
                pipeline.ask(AskRequest(question="warm-up: how do I contact support?", use_cache=False))
            configs = [("no vector memory", plain), ("vector memory", remembering)]
            for n, question in enumerate(questions):
                for name, pipeline in configs[:: 1 if n % 2 else -1]:  # alternate who goes first
                    start = time.perf_counter()
                    pipeline.ask(AskRequest(question=question, use_cache=False))
                    times[name].append(time.perf_counter() - start)
            for question in questions:
                remembering.ask(AskRequest(question=question))  # stores the answer (or hits a near-duplicate)
                start = time.perf_counter()
                hit = remembering.ask(AskRequest(question=question)).cache_hit
                if hit:  # a miss is a full answer again, timed above
                    times["cache hit"].append(time.perf_counter() - start)
                hits += hit

    rows = {name: percentiles(t) for name, t in times.items()}
    report = {
        "questions": len(questions),
        "rounds": args.rounds,
        "knowledge_base_documents": len(documents),
        "champions_loaded": sorted(ml.models),
        "remembered_vectors": REMEMBERED_VECTORS,
        "configs": rows,
        "speedup_p50_vector_memory": rows["no vector memory"]["p50_ms"] / rows["vector memory"]["p50_ms"],
        "cache_hits_on_repeat": hits / (len(questions) * args.rounds),
        "machine": machine(),
        "seconds": time.perf_counter() - started,
    }
    write_report(report, args.out)

    print(f"\n{len(questions)} distinct sample tickets x {args.rounds} rounds; knowledge base {len(documents)} articles; "
          f"champions: {', '.join(report['champions_loaded']) or 'none (run make demo)'}")
    print(f"{'config':<20} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for name, r in rows.items():
        print(f"{name:<20} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['mean_ms']:>8.1f}")
    print(f"vector memory: {report['speedup_p50_vector_memory']:.2f}x faster at p50; "
          f"repeats served from the cache: {report['cache_hits_on_repeat']:.0%}")
    print(f"\nwrote {args.out} in {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()

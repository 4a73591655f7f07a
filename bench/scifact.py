"""Retrieval on BEIR SciFact: BM25, dense, RRF, normalised fusion and the trained reranker, side by side.

    .venv/bin/python bench/scifact.py [--data-dir ../shared/data] [--scale 10000,100000,1000000]

Ingests the 5,183 abstracts through the same path as `hybrid ingest` (recursive chunker, 512
word pieces, MiniLM vectors, FAISS + bm25s), then for the 300 test claims reports nDCG@10,
recall@100 and MRR@10 per mode (documents ranked at their best chunk), index build throughput,
and single-query latency p50 / p99 per mode (query embedding included; model loading excluded).

Nothing is tuned on the test claims: normalised fusion's dense weight is chosen on the 809 train
claims, and the reranker is trained on the train claims' candidates.

``--scale`` adds synthetic collections of the given sizes: vectors are noisy copies of the real
SciFact vectors, texts are word sequences drawn from SciFact's word frequencies. It reports
build time, index size on disk, process memory, hybrid latency and the dense index's recall@10
against exact search. Writes bench/results/scifact.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from models.rag.collection import CollectionStore  # noqa: E402
from models.rag.factory import build_ingestor, query_encoder, sentence_encoder  # noqa: E402
from models.rag.ranking_metrics import mrr_at_k, ndcg_at_k, recall_at_k, unique_docs  # noqa: E402
from models.rag.retriever import HybridRetriever  # noqa: E402
from models.rag.types import Document  # noqa: E402
from models.reranker import SearchReranker  # noqa: E402
from models.settings import HybridSettings, RagSettings  # noqa: E402
from report import machine, write_report  # noqa: E402
from training.rerank_data import candidate_frame  # noqa: E402

#: nDCG@10 on the test split (BEIR, Thakur et al. 2021, Table 2; MTEB for MiniLM)
PUBLISHED = {"BM25 (BEIR)": 0.665, "BM25 + MiniLM-L6 cross-encoder (BEIR)": 0.688, "ColBERT (BEIR)": 0.671,
             "TAS-B (BEIR)": 0.643, "all-MiniLM-L6-v2 (MTEB)": 0.645}
DENSE_WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7)
DEPTH = 100


def read_beir(folder: Path) -> tuple[list[Document], dict[str, str], dict[str, dict[str, dict[str, int]]]]:
    corpus = pd.read_json(folder / "corpus.jsonl", lines=True, dtype={"_id": str})
    documents = [Document(doc_id=doc_id, text=text, source="scifact/corpus.jsonl", title=title)
                 for doc_id, title, text in zip(corpus["_id"], corpus["title"], corpus["text"])]
    queries = pd.read_json(folder / "queries.jsonl", lines=True, dtype={"_id": str})
    qrels = {}
    for split in ("train", "test"):
        table = pd.read_csv(folder / "qrels" / f"{split}.tsv", sep="\t", dtype={"query-id": str, "corpus-id": str})
        qrels[split] = {q: dict(zip(g["corpus-id"], g["score"])) for q, g in table.groupby("query-id")}
    return documents, dict(zip(queries["_id"], queries["text"])), qrels


def rankings(retriever: HybridRetriever, queries: list[str], mode: str) -> list[list[str]]:
    """Document rankings (each document at its best chunk), up to 100 documents deep."""
    found = []
    for start in range(0, len(queries), 64):
        found += retriever.search_many(queries[start:start + 64], k=2 * DEPTH, mode=mode)
    return [unique_docs([hit.doc_id for hit in hits])[:DEPTH] for hits in found]


def quality(ranked: list[list[str]], qrels: list[dict[str, int]]) -> dict[str, float]:
    return {
        "ndcg_at_10": float(np.mean([ndcg_at_k(r, q, 10) for r, q in zip(ranked, qrels)])),
        "recall_at_100": float(np.mean([recall_at_k(r, q, 100) for r, q in zip(ranked, qrels)])),
        "mrr_at_10": float(np.mean([mrr_at_k(r, q, 10) for r, q in zip(ranked, qrels)])),
    }


def latency(retriever: HybridRetriever, queries: list[str], mode: str, k: int = 10) -> dict[str, float]:
    retriever.search(queries[0], k=k, mode=mode)  # warm: first calls allocate
    times = []
    for query in queries:
        start = time.perf_counter()
        retriever.search(query, k=k, mode=mode)
        times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)), "queries": len(times)}


def scifact_run(folder: Path, work: Path) -> dict:
    documents, queries, qrels = read_beir(folder)
    settings = HybridSettings(rag=RagSettings(collections_dir=work))
    encoder = sentence_encoder(settings)
    encoder.encode(["warm up"])
    ingestor = build_ingestor(settings, encoder=encoder)

    CollectionStore(work).drop("scifact")  # the build is timed from nothing
    start = time.perf_counter()
    report = ingestor.ingest("scifact", documents)
    build_seconds = time.perf_counter() - start
    print(f"ingested {len(documents)} abstracts into {report.chunks_total} chunks in {build_seconds:.1f}s", file=sys.stderr)
    again = ingestor.ingest("scifact", documents)

    store = CollectionStore(work)
    queries_encoder = query_encoder(settings, encoder)  # ONNX Runtime for single queries, as a server uses
    test_ids = sorted(qrels["test"], key=int)
    train_ids = sorted(qrels["train"], key=int)
    test_q, test_rel = [queries[q] for q in test_ids], [qrels["test"][q] for q in test_ids]
    train_q, train_rel = [queries[q] for q in train_ids], [qrels["train"][q] for q in train_ids]

    def retriever(**kwargs) -> HybridRetriever:
        return HybridRetriever(store, "scifact", queries_encoder, candidates=DEPTH, **kwargs)

    # Normalised fusion's one weight, chosen on the train claims.
    by_weight = {w: quality(rankings(retriever(fusion="normalised", dense_weight=w), train_q, "hybrid"), train_rel)["ndcg_at_10"]
                 for w in tqdm(DENSE_WEIGHTS, desc="dense weight on train claims")}
    weight = max(by_weight, key=by_weight.get)

    labelled = pd.DataFrame([(q, queries[q], d, g) for q in train_ids for d, g in qrels["train"][q].items()],
                            columns=["query_id", "query", "doc_id", "relevance"])
    start = time.perf_counter()
    frame = candidate_frame(retriever(), labelled)
    reranker = SearchReranker().fit(frame)
    train_seconds = time.perf_counter() - start

    modes = {
        "bm25": (retriever(), "bm25"),
        "dense": (retriever(), "dense"),
        "rrf": (retriever(fusion="rrf"), "hybrid"),
        f"normalised (dense weight {weight})": (retriever(fusion="normalised", dense_weight=weight), "hybrid"),
        "hybrid candidates + reranker": (retriever(reranker=reranker), "rerank"),
    }
    results = {}
    for name, (searcher, mode) in tqdm(modes.items(), desc="modes on test claims"):
        results[name] = quality(rankings(searcher, test_q, mode), test_rel) | {"latency": latency(searcher, test_q, mode)}
    return {
        "documents": len(documents), "chunks": report.chunks_total,
        "build_seconds": build_seconds, "build_chunks_per_second": report.chunks_total / build_seconds,
        "reingest_chunks_added": again.chunks_added, "reingest_seconds": again.seconds,
        "test_queries": len(test_ids), "train_queries": len(train_ids),
        "normalised_weight_on_train": {str(w): v for w, v in by_weight.items()},
        "reranker_train_seconds": train_seconds, "reranker_train_rows": len(frame),
        "modes": results,
    }


def scale_run(folder: Path, sizes: list[int], work: Path) -> list[dict]:
    """Synthetic collections built from SciFact's vectors and word frequencies."""
    documents, queries, qrels = read_beir(folder)
    settings = HybridSettings(rag=RagSettings(collections_dir=work))
    encoder = sentence_encoder(settings)
    store = CollectionStore(work)
    if store.current_version("scifact") is None:  # the SciFact run left its collection here; else build it
        build_ingestor(settings, encoder=encoder).ingest("scifact", documents)
    base = np.asarray(store.open("scifact").vectors)
    texts = [f"{d.title}\n{d.text}" for d in documents]
    words = Counter(w for t in texts for w in t.lower().split())
    vocab, counts = zip(*words.items())
    p = np.array(counts, dtype=float) / sum(counts)
    vocab = np.array(vocab)
    test_q = [queries[q] for q in sorted(qrels["test"], key=int)][:200]
    rows = []
    for size in sizes:
        rng = np.random.default_rng(size)
        print(f"synthetic collection of {size:,} chunks", file=sys.stderr)
        vectors = base[rng.integers(0, len(base), size)] + rng.normal(0, 0.03, (size, base.shape[1])).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        lengths = rng.integers(40, 120, size)
        drawn = rng.choice(len(vocab), size=int(lengths.sum()), p=p)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        chunks = pd.DataFrame({
            "chunk_id": [f"s{i}#0" for i in range(size)], "doc_id": [f"s{i}" for i in range(size)], "position": 0,
            "text": [" ".join(vocab[drawn[a:b]]) for a, b in zip(bounds[:-1], bounds[1:])],
            "title": "", "source": "synthetic", "content_hash": [f"{i:032x}" for i in range(size)],
        })
        name = f"synthetic-{size}"
        rss_before = _rss_mb()
        start = time.perf_counter()
        with store.locked(name):
            store.write(name, chunks, vectors, {"synthetic": True})
        build = time.perf_counter() - start
        del chunks
        retriever = HybridRetriever(store, name, query_encoder(settings, encoder), candidates=DEPTH)
        loaded = retriever.collection
        exact_rows = _exact_top10(loaded.vectors, encoder.encode(test_q))
        _, ann_rows = loaded.dense.search(encoder.encode(test_q), 10)
        recall = float(np.mean([len(set(a) & set(e)) / 10 for a, e in zip(ann_rows, exact_rows)]))
        rows.append({
            "chunks": size, "build_seconds": build, "dense_index": type(loaded.dense.index).__name__,
            "disk_mb": sum(f.stat().st_size for f in (work / name).rglob("*") if f.is_file()) / 2**20,
            "peak_rss_mb": _rss_mb(), "rss_before_mb": rss_before,
            "ann_recall_at_10": recall,
            **{mode: latency(retriever, test_q, mode) for mode in ("dense", "bm25", "hybrid")},
        })
        print(json.dumps(rows[-1]), file=sys.stderr)
        store.drop(name)
    return rows


def _exact_top10(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    best = []
    for start in range(0, len(vectors), 200_000):
        scores = queries @ np.asarray(vectors[start:start + 200_000]).T
        top = np.argpartition(-scores, 9, axis=1)[:, :10]
        best.append((np.take_along_axis(scores, top, 1), top + start))
    scores = np.concatenate([s for s, _ in best], axis=1)
    rows = np.concatenate([r for _, r in best], axis=1)
    return np.take_along_axis(rows, np.argsort(-scores, axis=1)[:, :10], 1)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(report: dict) -> None:
    run = report.get("scifact")
    if run:
        print(f"\nSciFact test ({run['test_queries']} claims, {run['chunks']} chunks; built at "
              f"{run['build_chunks_per_second']:.0f} chunks/s)")
        print(f"{'mode':<34} {'nDCG@10':>8} {'R@100':>7} {'MRR@10':>7} {'p50 ms':>7} {'p99 ms':>7}")
        for name, r in run["modes"].items():
            print(f"{name:<34} {r['ndcg_at_10']:8.3f} {r['recall_at_100']:7.3f} {r['mrr_at_10']:7.3f} "
                  f"{r['latency']['p50_ms']:7.1f} {r['latency']['p99_ms']:7.1f}")
        for name, value in PUBLISHED.items():
            print(f"{name:<34} {value:8.3f}")
    for row in report.get("scale", []):
        print(f"{row['chunks']:>9,} chunks: build {row['build_seconds']:.0f}s, {row['disk_mb']:.0f} MB on disk, "
              f"peak RSS {row['peak_rss_mb']:.0f} MB, {row['dense_index']} recall@10 vs exact {row['ann_recall_at_10']:.3f}, "
              f"hybrid p50 {row['hybrid']['p50_ms']:.1f} / p99 {row['hybrid']['p99_ms']:.1f} ms "
              f"(dense {row['dense']['p50_ms']:.1f}, bm25 {row['bm25']['p50_ms']:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                        help="folder holding scifact/ in BEIR format (default: ../shared/data)")
    parser.add_argument("--scale", default="", help="comma-separated synthetic collection sizes, e.g. 100000,1000000")
    parser.add_argument("--skip-scifact", action="store_true", help="only the scale run")
    parser.add_argument("--work", type=Path, help="keep the collections here (default: a temporary folder); a "
                        "second run reuses the SciFact collection, since ingesting it takes about 9 minutes")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "scifact.json")
    args = parser.parse_args()
    folder = args.data_dir / "scifact"
    if not (folder / "corpus.jsonl").exists():
        parser.error(f"{folder}/corpus.jsonl not found: point --data-dir at a folder holding BEIR SciFact")
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report |= {"dataset": "BEIR SciFact", "machine": machine(), "published_ndcg_at_10": PUBLISHED}
    with tempfile.TemporaryDirectory(prefix="scifact-") as scratch:
        work = args.work or Path(scratch)
        if not args.skip_scifact:
            report["scifact"] = scifact_run(folder, work)
        if args.scale:
            report["scale"] = scale_run(folder, [int(s) for s in args.scale.split(",")], work)
    write_report(report, args.out)
    print_table(report)


if __name__ == "__main__":
    main()

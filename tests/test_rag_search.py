"""Collections, ingestion and search: real FAISS and bm25s indexes on disk, real MiniLM vectors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.base import InputError
from models.rag.collection import UnknownCollection
from models.rag.fusion import best_first, normalised_fusion, reciprocal_rank_fusion
from models.rag.ranking_metrics import mrr_at_k, ndcg_at_k, recall_at_k, unique_docs
from models.rag.retriever import HybridRetriever
from models.rag.types import Document
from models.settings import HybridSettings, RagSettings

DOCS = [
    Document("cards/freeze.md", "# Freezing a card\n\nFreeze a lost card in the app under Cards. Freezing is free.", "freeze.md", "Freezing a card"),
    Document("refunds.md", "# Refunds\n\nDuplicate charges are refunded within 5 business days.", "refunds.md", "Refunds"),
    Document("travel.md", "# Travel\n\nTell us before you travel abroad so foreign payments are not blocked.", "travel.md", "Travel"),
    Document("fees.md", "# Fees\n\nATM withdrawals abroad cost 2% with a minimum fee of $3.", "fees.md", "Fees"),
]


@pytest.fixture(scope="module")
def encoder():
    from models.embeddings import SentenceEncoder

    return SentenceEncoder(max_seq_length=544)


@pytest.fixture()
def ingestor(tmp_path: Path, encoder):
    from models.rag.factory import build_ingestor

    return build_ingestor(HybridSettings(rag=RagSettings(collections_dir=tmp_path / "collections")), encoder=encoder,
                          progress=False)


def test_rrf_adds_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60)
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert [row for row, _ in best_first(fused, 3)] == [1, 3, 2]


def test_normalised_fusion_weights_min_max_scores() -> None:
    fused = normalised_fusion([{1: 0.9, 2: 0.5, 3: 0.1}, {3: 12.0, 1: 2.0}], [0.7, 0.3])
    assert fused[1] == pytest.approx(0.7 * 1.0 + 0.3 * 0.0)
    assert fused[3] == pytest.approx(0.7 * 0.0 + 0.3 * 1.0)
    assert fused[2] == pytest.approx(0.7 * 0.5)


def test_ranking_metrics_by_hand() -> None:
    relevant = {"a": 1, "b": 2}
    ranked = ["x", "b", "y", "a"]
    dcg = 2 / math.log2(3) + 1 / math.log2(5)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(ranked, relevant, 10) == pytest.approx(dcg / ideal)
    assert mrr_at_k(ranked, relevant, 10) == pytest.approx(0.5)
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(0.5)
    assert unique_docs(["d1", "d2", "d1", "d3"]) == ["d1", "d2", "d3"]


def test_each_mode_finds_the_right_document(ingestor) -> None:
    ingestor.ingest("kb", DOCS)
    retriever = HybridRetriever(ingestor.store, "kb", ingestor.encoder, candidates=10)
    for mode in ("dense", "bm25", "hybrid"):
        hits = retriever.search("how do I freeze my lost card", k=2, mode=mode)
        assert hits[0].doc_id == "cards/freeze.md", mode
        assert hits[0].chunk_id == "cards/freeze.md#0"
        assert hits[0].score >= hits[-1].score
    hybrid = retriever.search("ATM fee abroad", k=4, mode="hybrid")[0]
    assert hybrid.doc_id == "fees.md"
    assert hybrid.dense_score is not None and hybrid.bm25_score is not None and hybrid.bm25_score > 0


def test_reingesting_is_a_no_op_and_a_change_replaces_only_that_document(ingestor) -> None:
    first = ingestor.ingest("kb", DOCS)
    assert first.documents_added == 4 and first.version == "v000001"
    again = ingestor.ingest("kb", DOCS)
    assert again.version is None and again.chunks_added == 0 and again.documents_unchanged == 4

    changed = Document("fees.md", "# Fees\n\nATM withdrawals abroad are now free.", "fees.md", "Fees")
    update = ingestor.ingest("kb", [changed])
    assert (update.documents_updated, update.chunks_added, update.chunks_removed) == (1, 1, 1)
    collection = ingestor.store.open("kb")
    assert collection.version == "v000002" and len(collection) == 4
    assert "now free" in collection.chunks.set_index("doc_id").loc["fees.md", "text"]
    # Unchanged documents keep their vectors: nothing else was re-embedded.
    freeze = collection.chunks.index[collection.chunks["doc_id"] == "cards/freeze.md"][0]
    assert np.allclose(collection.vectors[freeze], ingestor.encoder.encode([DOCS[0].title + "\n" + DOCS[0].text])[0], atol=1e-5)


def test_delete_removes_a_document_and_reports_unknown_ids(ingestor) -> None:
    ingestor.ingest("kb", DOCS)
    report = ingestor.ingest("kb", [], delete=["travel.md", "nope.md"])
    assert report.documents_deleted == 1 and report.not_found == ["nope.md"]
    retriever = HybridRetriever(ingestor.store, "kb", ingestor.encoder)
    assert "travel.md" not in {h.doc_id for h in retriever.search("travel abroad", k=10, mode="bm25")}


def test_a_crash_midway_leaves_the_previous_version_usable(ingestor, monkeypatch) -> None:
    ingestor.ingest("kb", DOCS[:2])
    import models.rag.collection as collection_module

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(collection_module.BM25Index, "build", crash)
    with pytest.raises(OSError):
        ingestor.ingest("kb", DOCS[2:])
    monkeypatch.undo()
    collection = ingestor.store.open("kb")
    assert collection.version == "v000001" and set(collection.chunks["doc_id"]) == {d.doc_id for d in DOCS[:2]}
    # The next ingest succeeds and cleans up the partial version.
    assert ingestor.ingest("kb", DOCS[2:]).version == "v000002"
    assert not list((ingestor.store.root / "kb").glob(".*.partial"))


def test_a_running_retriever_sees_a_new_version(ingestor) -> None:
    ingestor.ingest("kb", DOCS[:1])
    retriever = HybridRetriever(ingestor.store, "kb", ingestor.encoder)
    assert {h.doc_id for h in retriever.search("fees", k=5, mode="dense")} == {"cards/freeze.md"}
    ingestor.ingest("kb", DOCS[3:])
    assert retriever.search("ATM fees", k=1, mode="bm25")[0].doc_id == "fees.md"


def test_bad_search_input_is_an_input_error(ingestor) -> None:
    ingestor.ingest("kb", DOCS)
    retriever = HybridRetriever(ingestor.store, "kb", ingestor.encoder)
    with pytest.raises(InputError, match="query"):
        retriever.search("   ")
    with pytest.raises(InputError, match="mode"):
        retriever.search("card", mode="semantic")
    with pytest.raises(InputError, match="hybrid train reranker"):
        retriever.search("card", mode="rerank")
    assert retriever.search("the of and", k=3, mode="bm25") == []  # stopwords only: nothing matches
    with pytest.raises(UnknownCollection, match="hybrid ingest"):
        ingestor.store.open("nope")
    with pytest.raises(InputError, match="collection"):
        ingestor.store.folder("../escape")


def test_reranker_learns_from_labelled_queries_and_round_trips(tmp_path: Path, settings, kb_collection) -> None:
    from models.rag.factory import open_retriever
    from models.reranker import SearchReranker
    from training.rerank_data import reranker_splits, sample_labelled_queries

    retriever = open_retriever("kb", settings, load_reranker=False)
    splits = reranker_splits(retriever, sample_labelled_queries(settings), settings)
    assert not set(splits.train["query_id"]) & set(splits.test["query_id"])
    reranker = SearchReranker(n_estimators=100).fit(splits.train)
    metrics = reranker.evaluate(splits.test)
    assert 0.0 < metrics["ndcg_at_10"] <= 1.0 and metrics["n_queries"] == splits.test["query_id"].nunique()
    reranker.save(tmp_path / "reranker")
    loaded = SearchReranker.load(tmp_path / "reranker")
    assert np.allclose(loaded.predict(splits.test)["score"], reranker.predict(splits.test)["score"])

    retriever.reranker = loaded
    query = "I was charged twice for the same purchase"
    hits = retriever.search(query, k=5, mode="rerank")
    assert len(hits) == 5 and hits[0].score >= hits[-1].score


def test_labelled_queries_must_name_documents_in_the_collection(settings, kb_collection) -> None:
    from models.rag.factory import open_retriever
    from training.rerank_data import candidate_frame

    labelled = pd.DataFrame({"query_id": ["q1"], "query": ["card"], "doc_id": ["NOT-THERE"], "relevance": [1]})
    with pytest.raises(InputError, match="none of the labelled doc_ids"):
        candidate_frame(open_retriever("kb", settings, load_reranker=False), labelled, progress=False)


def _hit(doc: str, position: int, text: str):
    from models.rag.types import Hit

    return Hit(f"{doc}#{position}", doc, text, f"{doc}.md", doc.title(), 1.0)


def test_context_drops_duplicates_keeps_citations_and_the_budget() -> None:
    from models.rag.context import assemble_context
    from models.rag.tokens import TokenCounter

    counter = TokenCounter()
    long_text = " ".join(f"Clause {i} says fees are waived for premium members." for i in range(60))
    hits = [
        _hit("fees", 0, "ATM withdrawals abroad cost 2% with a minimum fee of $3."),
        _hit("fees", 1, "ATM withdrawals abroad cost 2% with a minimum fee of $3 per withdrawal."),  # overlapping chunk
        _hit("travel", 0, "Tell us before you travel so foreign payments are not blocked."),
        _hit("terms", 0, long_text),
        _hit("other", 0, "Never reached: the budget is spent."),
    ]
    context = assemble_context(hits, counter, budget_tokens=200)
    assert [p.doc_id for p in context.passages] == ["fees", "travel", "terms"]
    assert context.duplicates_dropped == 1 and context.over_budget_dropped == 1
    assert context.passages[-1].truncated and long_text.startswith(context.passages[-1].text)
    assert context.tokens <= 200 and context.tokens == sum(p.tokens for p in context.passages)
    assert context.citations == {"1": "fees#0", "2": "travel#0", "3": "terms#0"}
    assert context.render().startswith("[1] Fees (fees)\nATM withdrawals")


def test_a_local_cross_encoder_reorders_the_fused_candidates(ingestor, tmp_path: Path) -> None:
    from sentence_transformers import CrossEncoder

    from models.embeddings import default_model_path
    from models.rag.cross_encoder import CrossEncoderReranker

    # Stands in for a user's trained cross-encoder: MiniLM with a fresh scoring head, saved to a local folder.
    CrossEncoder(str(default_model_path()), num_labels=1, device="cpu").save(str(tmp_path / "cross-encoder"))
    ingestor.ingest("kb", DOCS)
    cross_encoder = CrossEncoderReranker(tmp_path / "cross-encoder")
    retriever = HybridRetriever(ingestor.store, "kb", ingestor.encoder, reranker=cross_encoder, cross_encoder_depth=3)
    query = "fees for cash abroad"
    hits = retriever.search(query, k=3, mode="rerank")
    assert len(hits) == 3
    expected = cross_encoder.score(query, [f"{h.title}\n{h.text}" for h in hits])
    assert [h.score for h in hits] == pytest.approx(sorted(expected, reverse=True), rel=1e-5)
    fused_top3 = {h.doc_id for h in retriever.search(query, k=3, mode="hybrid")}
    assert {h.doc_id for h in hits} == fused_top3  # reads only the best fused candidates


def test_onnx_query_encoder_gives_the_pytorch_vectors(encoder, tmp_path: Path) -> None:
    from models.rag.query_encoder import OnnxQueryEncoder

    fast = OnnxQueryEncoder(encoder, cache_dir=tmp_path / "encoders")
    texts = ["how do I freeze my card", "ATM withdrawal fees when travelling abroad in Europe"]
    vectors = fast.encode(texts)
    assert fast.backend == "onnxruntime" and len(list((tmp_path / "encoders").glob("*.onnx"))) == 1
    assert np.allclose(vectors, encoder.encode(texts), atol=1e-4)
    again = OnnxQueryEncoder(encoder, cache_dir=tmp_path / "encoders")   # the exported file is reused
    assert np.allclose(again.encode(texts[:1]), vectors[:1], atol=1e-6)
    assert fast.encode(["card"] * 20).shape == (20, 384)                # large batches go through PyTorch

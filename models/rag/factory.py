"""Ingestors and retrievers built from the settings (``[rag]`` in hybrid.toml).

    retriever = open_retriever("kb")                  # with the reranker champion, when one is registered
    report = build_ingestor().ingest("kb", documents)
"""

from __future__ import annotations

from models.embeddings import DEFAULT_MODEL, SentenceEncoder
from models.rag.collection import CollectionStore
from models.rag.cross_encoder import CrossEncoderReranker
from models.rag.ingest import Ingestor
from models.rag.query_encoder import OnnxQueryEncoder
from models.rag.retriever import HybridRetriever, Scorer
from models.settings import HybridSettings, get_settings


def collection_store(settings: HybridSettings | None = None) -> CollectionStore:
    return CollectionStore((settings or get_settings()).rag.collections_dir)


def sentence_encoder(settings: HybridSettings) -> SentenceEncoder:
    # Chunks are embedded whole: the encoder reads as many word pieces as a chunk holds (plus its title).
    return SentenceEncoder(settings.rag.embedding_model, batch_size=32, max_seq_length=settings.rag.chunk_tokens + 32)


def query_encoder(settings: HybridSettings, encoder: SentenceEncoder | None = None,
                  threads: int | None = None) -> OnnxQueryEncoder:
    """The encoder searches use: ONNX Runtime for a few queries, PyTorch (``encoder``) for large batches.
    ``threads``: ONNX Runtime's per call (None: up to 4)."""
    return OnnxQueryEncoder(encoder or sentence_encoder(settings), cache_dir=settings.rag.collections_dir / ".encoders",
                            threads=threads)


def build_ingestor(settings: HybridSettings | None = None, encoder: SentenceEncoder | None = None,
                   progress: bool = True) -> Ingestor:
    from models.rag.chunking import make_chunker
    from models.rag.tokens import TokenCounter

    settings = settings or get_settings()
    rag = settings.rag
    encoder = encoder or sentence_encoder(settings)
    chunker = make_chunker(rag.chunker, target_tokens=rag.chunk_tokens, overlap_tokens=rag.chunk_overlap,
                           counter=TokenCounter(rag.embedding_model), encode=encoder.encode)
    manifest = {"embedding_model": rag.embedding_model or DEFAULT_MODEL, "chunker": rag.chunker,
                "chunk_tokens": rag.chunk_tokens, "chunk_overlap": rag.chunk_overlap}
    return Ingestor(collection_store(settings), chunker, encoder, manifest, dense_kind=rag.dense_index, progress=progress)


def champion_reranker(settings: HybridSettings) -> Scorer | None:
    """The registered reranker champion, or None when none has been trained."""
    from models.registry import NoChampionError, champion_uri, connect_store, load_capability_from_uri

    connect_store(settings)
    try:
        return load_capability_from_uri(champion_uri("reranker", settings))
    except NoChampionError:
        return None


def open_retriever(name: str, settings: HybridSettings | None = None, reranker: Scorer | None = None,
                   encoder: SentenceEncoder | OnnxQueryEncoder | None = None, load_reranker: bool = True) -> HybridRetriever:
    settings = settings or get_settings()
    rag = settings.rag
    store = collection_store(settings)
    if store.current_version(name) is None:
        store.open(name)  # raises UnknownCollection, naming the collections there are
    if rag.cross_encoder:  # the user's own cross-encoder wins over the trained champion
        reranker = CrossEncoderReranker(rag.cross_encoder)
    elif reranker is None and load_reranker:
        reranker = champion_reranker(settings)
    return HybridRetriever(store, name, encoder or query_encoder(settings), candidates=rag.candidates,
                           fusion=rag.fusion, rrf_k=rag.rrf_k, dense_weight=rag.dense_weight, reranker=reranker,
                           cross_encoder_depth=rag.cross_encoder_depth)

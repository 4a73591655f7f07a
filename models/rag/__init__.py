"""Retrieval for the GenAI path: ingest documents into on-disk collections, search them.

    from models.rag import open_retriever
    retriever = open_retriever("kb")                     # a collection written by `hybrid ingest`
    hits = retriever.search("how do I freeze my card", k=5, mode="hybrid")
"""

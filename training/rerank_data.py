"""Training data for the reranker: labelled queries -> the retriever's candidates with features and labels.

A labelled-queries file is a table with one row per (query, relevant document): columns ``query``,
``doc_id`` (as ingested: the record id, or the file path relative to the ingested folder), and
optionally ``relevance`` (a grade > 0, default 1) and ``query_id``. With no file, the bundled sample
tickets serve as queries: each ticket's relevant articles are the knowledge-base articles written
for its intent (the ``category`` of each article), so ``hybrid train reranker`` works on a fresh clone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from models.base import InputError
from models.rag.retriever import HybridRetriever
from models.settings import HybridSettings
from models.tables import read_table
from training.datasets import DatasetSplits, sample_data_dir

QUERY_BATCH = 256
SAMPLE_QUERIES_PER_INTENT = 12


def read_labelled_queries(path: Path | str) -> pd.DataFrame:
    frame = read_table(path)
    missing = [c for c in ("query", "doc_id") if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: column(s) {missing} not found; it has {list(frame.columns)}. A labelled-queries "
                         "file has one row per relevant document: query, doc_id[, relevance][, query_id]")
    return _normalised(frame, str(path))


def sample_labelled_queries(settings: HybridSettings) -> pd.DataFrame:
    folder = sample_data_dir(settings)
    tickets = pd.read_json(folder / "tickets.jsonl", lines=True)
    articles = pd.read_json(folder / "knowledge_base.jsonl", lines=True)
    picked = (tickets.groupby("intent", group_keys=False)
              .apply(lambda g: g.sample(min(len(g), SAMPLE_QUERIES_PER_INTENT), random_state=settings.training.seed)))
    pairs = picked.rename(columns={"text": "query"}).merge(
        articles[["doc_id", "category"]], left_on="intent", right_on="category")
    pairs["query_id"] = pairs["ticket_id"] if "ticket_id" in pairs else pairs.groupby("query").ngroup().astype(str)
    return _normalised(pairs[["query_id", "query", "doc_id"]], "sample tickets")


def _normalised(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    frame = frame.dropna(subset=["query", "doc_id"]).copy()
    if frame.empty:
        raise InputError(f"{where}: no labelled (query, doc_id) rows")
    frame["query"] = frame["query"].astype(str)
    frame["doc_id"] = frame["doc_id"].astype(str)
    if "relevance" not in frame:
        frame["relevance"] = 1
    frame["relevance"] = pd.to_numeric(frame["relevance"], errors="coerce").fillna(0).astype(int)
    if "query_id" not in frame:
        frame["query_id"] = frame.groupby("query", sort=False).ngroup().astype(str)
    frame["query_id"] = frame["query_id"].astype(str)
    return frame[["query_id", "query", "doc_id", "relevance"]].reset_index(drop=True)


def candidate_frame(retriever: HybridRetriever, labelled: pd.DataFrame, progress: bool = True) -> pd.DataFrame:
    """One row per (query, candidate chunk): the reranker's features, the doc's relevance, the query's relevant count."""
    known = set(retriever.collection.chunks["doc_id"])
    graded = labelled[labelled["relevance"] > 0]
    unknown = sorted(set(graded["doc_id"]) - known)
    if len(unknown) == len(set(graded["doc_id"])):
        raise InputError(f"none of the labelled doc_ids is in collection {retriever.name!r} (e.g. {unknown[:3]}); "
                         "use the ids the collection holds (see `hybrid search`)")
    queries = labelled.drop_duplicates("query_id")[["query_id", "query"]]
    relevant = graded.groupby("query_id").apply(lambda g: dict(zip(g["doc_id"], g["relevance"]))).to_dict()
    doc_ids = retriever.collection.chunks["doc_id"].to_numpy()
    frames = []
    with tqdm(total=len(queries), desc="reranker candidates", unit="query", disable=not progress, file=sys.stderr) as bar:
        for start in range(0, len(queries), QUERY_BATCH):
            batch = queries.iloc[start:start + QUERY_BATCH]
            for (query_id, query), cands in zip(batch.itertuples(index=False),
                                                retriever.first_stage(batch["query"].tolist(), retriever.candidates)):
                grades = relevant.get(query_id, {})
                features = retriever.features(query, cands)
                docs = doc_ids[cands.rows]
                frames.append(features.assign(
                    query_id=query_id, doc_id=docs, relevance=[grades.get(d, 0) for d in docs],
                    n_relevant=len(grades)))
            bar.update(len(batch))
    return pd.concat(frames, ignore_index=True)


def reranker_splits(retriever: HybridRetriever, labelled: pd.DataFrame, settings: HybridSettings,
                    test: pd.DataFrame | None = None, description: dict[str, str] | None = None) -> DatasetSplits:
    """Train/test candidate frames, split by query so no query is on both sides."""
    if test is None:
        query_ids = labelled["query_id"].unique()
        if len(query_ids) < 4:
            raise InputError(f"{len(query_ids)} labelled queries are too few to hold some out; give at least 4 or pass --test")
        train_ids, test_ids = train_test_split(query_ids, test_size=settings.training.test_size, random_state=settings.training.seed)
        labelled, test = labelled[labelled["query_id"].isin(train_ids)], labelled[labelled["query_id"].isin(test_ids)]
    train_frame, test_frame = candidate_frame(retriever, labelled), candidate_frame(retriever, test)
    description = (description or {}) | {
        "collection": retriever.name, "collection_version": retriever.collection.version,
        "train_queries": str(labelled["query_id"].nunique()), "test_queries": str(test["query_id"].nunique()),
        "train_rows": str(len(train_frame)), "test_rows": str(len(test_frame)),
        "train_relevant_share": f"{np.mean(train_frame['relevance'] > 0):.4f}",
    }
    return DatasetSplits(train=train_frame, test=test_frame, description=description)

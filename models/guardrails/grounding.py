"""Is each sentence of an answer supported by the context it was generated from?

    report = check_grounding("Refunds take 5 days [1]. We also give free phones.", passages, threshold=0.5)
    report.support   # (1.0, 0.0): one score per answer sentence, in [0, 1]
    report.flagged   # (1,): indices of sentences below the threshold

A sentence's support is its best match among windows of one or two consecutive context sentences:

- lexical: the share of the sentence's content words (lowercased, Snowball-stemmed, stopwords
  removed, negations kept) that the window contains; numbers count as words, so a changed figure
  lowers support;
- with an encoder: the mean of that share and the MiniLM cosine similarity. The mean rather than
  the max, because MiniLM gives any two sentences about the same topic a cosine of 0.5 or more,
  which alone would pass an invented fee; the cosine credits paraphrases that share few words.

A sentence with no content words ("That is all.") claims nothing and gets support 1.0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from bm25s.stopwords import STOPWORDS_EN_PLUS

from models.embeddings import SentenceEncoder
from models.rag.context import split_sentences
from models.rag.sparse import english_stemmer

_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
_NEGATIONS = {"no", "nor", "not", "don't", "doesn't", "didn't", "isn't", "aren't", "wasn't", "won't", "can't", "cannot", "never"}
_STOPWORDS = frozenset(STOPWORDS_EN_PLUS) - _NEGATIONS


@dataclass(frozen=True)
class GroundingReport:
    sentences: tuple[str, ...]
    support: tuple[float, ...]
    flagged: tuple[int, ...]  # indices into sentences


def content_words(text: str) -> set[str]:
    words = [w for w in _WORD.findall(text.lower().replace("n't", " not")) if w not in _STOPWORDS]
    return set(english_stemmer().stemWords(words))


def check_grounding(
    answer: str, passages: list[str], threshold: float, encoder: SentenceEncoder | None = None
) -> GroundingReport:
    """Support per answer sentence against ``passages``; sentences under ``threshold`` are flagged."""
    sentences = split_sentences(answer)
    windows = _windows(passages)
    if not sentences:
        return GroundingReport((), (), ())
    claims, contexts = [content_words(s) for s in sentences], [content_words(w) for w in windows]
    lexical = np.array([[_coverage(claim, context) for context in contexts] for claim in claims]).reshape(len(claims), len(contexts))
    if encoder is not None and windows:
        vectors = encoder.encode(sentences + windows)
        cosine = np.clip(vectors[: len(sentences)] @ vectors[len(sentences):].T, 0.0, 1.0)
        lexical = (lexical + cosine) / 2
    support = lexical.max(axis=1) if windows else np.zeros(len(sentences))
    support = np.where([not claim for claim in claims], 1.0, support)
    flagged = tuple(i for i, value in enumerate(support) if value < threshold)
    return GroundingReport(tuple(sentences), tuple(round(float(v), 4) for v in support), flagged)


def _windows(passages: list[str]) -> list[str]:
    """Each context sentence, and each pair of neighbours (an answer often joins two)."""
    windows: list[str] = []
    for passage in passages:
        sentences = split_sentences(passage)
        windows += sentences
        windows += [f"{a} {b}" for a, b in zip(sentences, sentences[1:])]
    return windows


def _coverage(claim: set[str], window: set[str]) -> float:
    return len(claim & window) / len(claim) if claim else 1.0

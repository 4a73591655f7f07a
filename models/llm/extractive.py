"""The offline generator: an answer made of the retrieved sentences that best answer the question.

    generator = ExtractiveGenerator(encoder, max_sentences=3)
    answer = generator.answer("can I use a card I reported lost?", context)
    answer.text        # "Once a card is reported lost it is blocked for good [1]. ... [2]"
    answer.sentences   # each with the passage it came from and its support score

With no LLM endpoint configured the service still answers, air-gapped, and says so: nothing is
written that the context does not say, word for word, and every sentence cites its passage. A
sentence's score mixes its meaning's closeness to the question (MiniLM cosine) with how many of the
question's terms it contains (stemmed, stopwords removed), so a sentence that names the thing asked
about beats a merely related one. Sentences are then picked greedily with a redundancy penalty
(maximal marginal relevance), so three sentences repeating one fact do not crowd out a second fact,
and are put back in reading order within each passage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from models.rag.context import Context, split_sentences
from models.rag.sparse import analyse

_HEADING = re.compile(r"^#+\s*")
#: shorter pieces are headings or fragments, not statements worth citing
MIN_SENTENCE_CHARS = 25
#: weight of meaning (cosine) against term coverage in a sentence's relevance
MEANING_WEIGHT = 0.7
#: weight of relevance against redundancy when picking the next sentence (MMR's lambda)
RELEVANCE_WEIGHT = 0.75
NO_ANSWER = "I could not find this in the knowledge base."


@dataclass(frozen=True)
class ExtractedSentence:
    text: str
    source_id: str     # the passage it was taken from, as numbered in the context
    position: int      # its order within that passage
    score: float       # relevance to the question in [0, 1]


@dataclass(frozen=True)
class ExtractiveAnswer:
    text: str
    sentences: tuple[ExtractedSentence, ...]


class ExtractiveGenerator:
    def __init__(self, encoder, max_sentences: int = 3, min_score: float = 0.25) -> None:
        """``encoder``: anything with ``encode(texts) -> L2-normalised vectors`` (the search's query encoder).

        ``min_score``: sentences less relevant than this are never used; with none left the answer says
        the knowledge base does not cover the question instead of quoting something unrelated.
        """
        self.encoder = encoder
        self.max_sentences = max_sentences
        self.min_score = min_score

    def answer(self, question: str, context: Context) -> ExtractiveAnswer:
        candidates = _sentences(context)
        if not candidates:
            return ExtractiveAnswer(NO_ANSWER, ())
        texts = [text for _, _, text in candidates]
        vectors = self.encoder.encode([question, *texts])
        meaning = np.clip(vectors[1:] @ vectors[0], 0.0, 1.0)
        coverage = _term_coverage(question, texts)
        relevance = MEANING_WEIGHT * meaning + (1 - MEANING_WEIGHT) * coverage
        chosen = _pick(relevance, vectors[1:], self.max_sentences, self.min_score)
        if not chosen:
            return ExtractiveAnswer(NO_ANSWER, ())
        order = {p.source_id: n for n, p in enumerate(context.passages)}
        picked = sorted(
            (ExtractedSentence(texts[i], candidates[i][0], candidates[i][1], round(float(relevance[i]), 4)) for i in chosen),
            key=lambda s: (order[s.source_id], s.position),
        )
        return ExtractiveAnswer(" ".join(f"{s.text} [{s.source_id}]" for s in picked), tuple(picked))

    def stream(self, question: str, context: Context) -> Iterator[str | ExtractiveAnswer]:
        """Word by word, like an LLM's tokens, then the whole answer last."""
        answer = self.answer(question, context)
        words = answer.text.split(" ")
        for n, word in enumerate(words):
            yield word if n == 0 else f" {word}"
        yield answer


def _sentences(context: Context) -> list[tuple[str, int, str]]:
    """(source id, position, sentence) for every statement-like sentence of every passage."""
    out = []
    for passage in context.passages:
        pieces = (_HEADING.sub("", s).strip() for s in split_sentences(passage.text))
        kept = [s for s in pieces if len(s) >= MIN_SENTENCE_CHARS]
        out.extend((passage.source_id, n, s) for n, s in enumerate(kept))
    return out


def _term_coverage(question: str, sentences: list[str]) -> np.ndarray:
    """Share of the question's distinct terms each sentence contains."""
    [asked, *found] = analyse([question, *sentences])
    asked_terms = set(asked)
    if not asked_terms:
        return np.zeros(len(sentences))
    return np.array([len(asked_terms & set(terms)) / len(asked_terms) for terms in found])


def _pick(relevance: np.ndarray, vectors: np.ndarray, limit: int, floor: float) -> list[int]:
    """Greedy maximal marginal relevance over the sentences at or above ``floor``."""
    chosen: list[int] = []
    available = set(np.flatnonzero(relevance >= floor).tolist())
    while available and len(chosen) < limit:
        def gain(i: int) -> float:
            redundancy = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
            return RELEVANCE_WEIGHT * relevance[i] - (1 - RELEVANCE_WEIGHT) * redundancy

        best = max(available, key=gain)
        chosen.append(best)
        available.remove(best)
    return chosen

"""Cutting documents into chunks that fit the embedding model's window, along the text's own structure.

    chunker = make_chunker("recursive", target_tokens=256, overlap_tokens=32)
    chunks = chunker.chunk(document)              # [Chunk(position=0, ...), Chunk(position=1, ...), ...]
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from models.base import InputError
from models.rag.loaders import normalise_text
from models.rag.tokens import TokenCounter
from models.rag.types import Chunk, Document

CHUNKER_KINDS = ("recursive", "semantic")
Encode = Callable[[list[str]], np.ndarray]
_HEADING = re.compile(r"#{1,6}[ \t]")
# Boundaries from strongest to weakest; a piece remembers the strongest boundary just before it.
_SEPARATORS = (
    re.compile(r"\n+(?=#{1,6}[ \t])"),  # 0: a Markdown heading starts
    re.compile(r"\n[^\S\n]*\n\s*"),     # 1: a blank line ends a paragraph
    re.compile(r"\n"),                  # 2: a line ends
    re.compile(r"(?<=[.!?])\s+"),       # 3: a sentence ends
    re.compile(r"\s+"),                 # 4: a word ends (only inside a sentence longer than the target)
)
_SENTENCE, _TOKEN_CUT = 3, 5


class Chunker(Protocol):
    def chunk(self, document: Document) -> list[Chunk]: ...


@dataclass(frozen=True)
class _Piece:
    start: int    # character span in the normalised text
    end: int
    level: int    # strength of the boundary before it: 0 heading ... 5 a cut inside a word
    tokens: int


def _split(text: str, span: tuple[int, int, int], level: int) -> list[tuple[int, int, int]]:
    """``span`` cut at separator ``level``, whitespace trimmed; the first part keeps the span's own boundary."""
    start, end, before = span
    if level == _SENTENCE and _HEADING.match(text, start):
        return [span]  # "## 2. Refunds" is one heading, not two sentences
    bounds = [start] + [x for m in _SEPARATORS[level].finditer(text, start, end) for x in m.span()] + [end]
    parts = []
    for s, e in zip(bounds[::2], bounds[1::2]):
        s, e = s + len(text[s:e]) - len(text[s:e].lstrip()), s + len(text[s:e].rstrip())
        if s < e:
            parts.append((s, e, before if not parts else level))
    return parts


def _checked_overlap(overlap_tokens: int, target_tokens: int) -> int:
    if not 0 <= overlap_tokens < target_tokens:
        raise InputError(f"overlap_tokens ({overlap_tokens}) must be at least 0 and less than target_tokens ({target_tokens})")
    return overlap_tokens


def _sentences(text: str) -> list[tuple[int, int, int]]:
    spans = [(0, len(text), 0)]
    for level in range(_SENTENCE + 1):
        spans = [part for span in spans for part in _split(text, span, level)]
    return spans


class _TokenBudget:
    """What both chunkers share: pieces measured once, and a final count that guarantees the limit."""

    def __init__(self, target_tokens: int, counter: TokenCounter | None) -> None:
        if target_tokens < 1:
            raise InputError(f"target_tokens must be at least 1, got {target_tokens}")
        self.target_tokens = target_tokens
        self.counter = counter or TokenCounter()

    def _measure(self, text: str, spans: list[tuple[int, int, int]], level: int = 4) -> list[_Piece]:
        """Count all spans in one call; any over the target is split at the next weaker boundary."""
        pieces: list[_Piece] = []
        for (s, e, before), n in zip(spans, self.counter.count_many([text[s:e] for s, e, _ in spans])):
            if n <= self.target_tokens:
                pieces.append(_Piece(s, e, before, n))
            elif level < _TOKEN_CUT:
                pieces += self._measure(text, _split(text, (s, e, before), level), level + 1)
            else:
                pieces += self._cut(text, s, e, before)
        return pieces

    def _cut(self, text: str, start: int, end: int, before: int) -> list[_Piece]:
        """The last resort for a run with no usable boundary (a long URL, text without spaces)."""
        pieces, limit = [], self.target_tokens
        while start < end:
            head = self.counter.truncate(text[start:end], limit) or text[start:end]
            n = self.counter.count(head)
            if n > self.target_tokens and limit > 1:  # a tokenizer whose prefix re-tokenises longer
                limit -= 1
                continue
            pieces.append(_Piece(start, start + len(head), before if not pieces else _TOKEN_CUT, n))
            start += len(head)
            start += len(text[start:end]) - len(text[start:end].lstrip())
            limit = self.target_tokens
        return pieces

    def _chunks(self, document: Document, text: str, spans: list[tuple[int, int]]) -> list[Chunk]:
        """Chunks from character spans, each counted once more as a whole and cut again if the sum misjudged."""
        texts = [text[s:e] for s, e in spans]
        final: list[str] = []
        for piece, n in zip(texts, self.counter.count_many(texts)):
            final += [piece] if n <= self.target_tokens else [piece[p.start:p.end] for p in self._cut(piece, 0, len(piece), 0)]
        return [Chunk(document.doc_id, k, t, document.source, document.title) for k, t in enumerate(final)]

    def _whole(self, document: Document, text: str) -> list[Chunk] | None:
        """The document as its only chunk when it fits, as most abstracts do: one count, no splitting."""
        if text and self.counter.count(text) > self.target_tokens:
            return None
        return [Chunk(document.doc_id, 0, text, document.source, document.title)] if text else []


class RecursiveChunker(_TokenBudget):
    """Chunks that end at the strongest boundary available (section, paragraph, line, sentence, word),
    packed close to ``target_tokens``, each starting with about ``overlap_tokens`` of the previous one."""

    def __init__(self, target_tokens: int = 512, overlap_tokens: int = 64, counter: TokenCounter | None = None) -> None:
        super().__init__(target_tokens, counter)
        self.overlap_tokens = _checked_overlap(overlap_tokens, target_tokens)

    def chunk(self, document: Document) -> list[Chunk]:
        text = normalise_text(document.text)
        if (whole := self._whole(document, text)) is not None:
            return whole
        pieces = self._measure(text, _sentences(text))
        for k in range(1, len(pieces)):  # a heading belongs with what follows it: no strong break right after one
            if _HEADING.match(text, pieces[k - 1].start) and pieces[k].level < _SENTENCE:
                pieces[k] = _Piece(pieces[k].start, pieces[k].end, _SENTENCE, pieces[k].tokens)
        spans, i, lead = [], 0, None
        while i < len(pieces):
            start, fill = lead or (pieces[i].start, 0)
            j, heading = i, False
            while j < len(pieces) and (j == i or fill + pieces[j].tokens <= self.target_tokens):
                if j > i and pieces[j].level == 0 and fill > self.target_tokens / 2:
                    heading = True  # a new section starts a new chunk once this one is half full
                    break
                fill, j = fill + pieces[j].tokens, j + 1
            if j < len(pieces) and not heading:
                j = self._best_break(pieces, i, j, lead[1] if lead else 0)
            spans.append((start, pieces[j - 1].end))
            lead = self._overlap(text, pieces, i, j) if j < len(pieces) and pieces[j].level > 0 else None
            i = j
        return self._chunks(document, text, spans)

    def _best_break(self, pieces: list[_Piece], i: int, j: int, fill: int) -> int:
        """Among the breaks that leave the chunk at least half full, the strongest; the latest of equals."""
        best, best_level = j, pieces[j].level
        for k in range(i + 1, j + 1):
            fill += pieces[k - 1].tokens
            if fill >= self.target_tokens / 2 and pieces[k].level <= best_level:
                best, best_level = k, pieces[k].level
        return best

    def _overlap(self, text: str, pieces: list[_Piece], i: int, j: int) -> tuple[int, int] | None:
        """(start, tokens) of the previous chunk's tail that the next chunk repeats: whole sentences when
        they fit the budget, else the last sentence's trailing words."""
        budget = min(self.overlap_tokens, self.target_tokens - pieces[j].tokens)
        k, taken = j, 0
        while k - 1 > i and taken + pieces[k - 1].tokens <= budget:
            k, taken = k - 1, taken + pieces[k - 1].tokens
        if k < j:
            return pieces[k].start, taken
        last = pieces[j - 1]
        words = [m.span() for m in re.finditer(r"\S+", text[last.start:last.end])]
        counts, w, taken = self.counter.count_many([text[last.start + a:last.start + b] for a, b in words]), len(words), 0
        while w > 1 and taken + counts[w - 1] <= budget:
            w, taken = w - 1, taken + counts[w - 1]
        return (last.start + words[w][0], taken) if w < len(words) else None


class SemanticChunker(_TokenBudget):
    """Chunks that end where the topic changes: adjacent sentences whose embeddings are unusually far apart.

    A document that fits ``target_tokens`` stays whole: a percentile threshold always finds "unusual"
    distances, so it would cut every document, and embedding each sentence costs a second encoding pass.
    """

    def __init__(self, target_tokens: int = 512, counter: TokenCounter | None = None, encode: Encode | None = None,
                 breakpoint_percentile: float = 90.0) -> None:
        super().__init__(target_tokens, counter)
        if not 0 <= breakpoint_percentile <= 100:
            raise InputError(f"breakpoint_percentile must be between 0 and 100, got {breakpoint_percentile}")
        if encode is None:
            from models.embeddings import SentenceEncoder

            encode = SentenceEncoder().encode
        self.encode, self.breakpoint_percentile = encode, breakpoint_percentile

    def chunk(self, document: Document) -> list[Chunk]:
        text = normalise_text(document.text)
        if (whole := self._whole(document, text)) is not None:
            return whole
        pieces = self._measure(text, _sentences(text))
        vectors = np.asarray(self.encode([text[p.start:p.end] for p in pieces]), dtype=np.float64)
        distances = 1.0 - np.sum(vectors[:-1] * vectors[1:], axis=1)
        threshold = np.percentile(distances, self.breakpoint_percentile) if len(distances) else np.inf
        spans, first, fill = [], 0, pieces[0].tokens
        for k in range(1, len(pieces)):
            if distances[k - 1] > threshold or fill + pieces[k].tokens > self.target_tokens:
                spans.append((pieces[first].start, pieces[k - 1].end))
                first, fill = k, 0
            fill += pieces[k].tokens
        spans.append((pieces[first].start, pieces[-1].end))
        return self._chunks(document, text, spans)


def make_chunker(kind: str, target_tokens: int = 512, overlap_tokens: int = 64, counter: TokenCounter | None = None,
                 encode: Encode | None = None, breakpoint_percentile: float = 90.0) -> Chunker:
    """The chunker a setting names; the semantic one never overlaps, so ``overlap_tokens`` is only checked."""
    if kind not in CHUNKER_KINDS:
        raise InputError(f"unknown chunker {kind!r}; choose one of {', '.join(CHUNKER_KINDS)}")
    _checked_overlap(overlap_tokens, target_tokens)
    if kind == "recursive":
        return RecursiveChunker(target_tokens, overlap_tokens, counter)
    return SemanticChunker(target_tokens, counter, encode, breakpoint_percentile)

"""Context assembly: search hits -> the passages a generator reads, within a token budget, citable.

    context = assemble_context(hits, TokenCounter(), budget_tokens=1500)
    prompt_part = context.render()          # "[1] Title (doc_id)\\n<text>\\n\\n[2] ..."
    context.passages[0].source_id            # "1": what an answer cites, mapped back to chunk and document

Hits are taken best first. A hit repeating one already kept (the same text, or mostly the same
words, as overlapping chunks of one document are) is dropped. The last passage that does not fit
whole is cut at a token boundary when a useful part of it fits; the rest are left out and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from models.rag.types import Hit

#: a passage cut shorter than this many word pieces is not worth its citation
MIN_PASSAGE_TOKENS = 48
#: how an answer cites passages: [1], [2, 3] or [1-3]
CITATION = re.compile(r"\[(\d+(?:\s*[,-]\s*\d+)*)\]")
#: a sentence ends at . ! or ? (after any closing quote or bracket) before a capital or digit, or at a line break
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n+")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Passage:
    source_id: str               # "1", "2", ... in the order the generator sees them
    chunk_id: str
    doc_id: str
    title: str
    source: str
    text: str
    tokens: int
    truncated: bool = False


@dataclass(frozen=True)
class Context:
    passages: list[Passage]
    tokens: int
    budget_tokens: int
    duplicates_dropped: int = 0
    over_budget_dropped: int = 0
    citations: dict[str, str] = field(default_factory=dict)   # source id -> chunk id

    def render(self) -> str:
        return "\n\n".join(f"[{p.source_id}] {p.title or p.doc_id} ({p.doc_id})\n{p.text}" for p in self.passages)


def assemble_context(hits: list[Hit], counter, budget_tokens: int = 1500, max_overlap: float = 0.8) -> Context:
    """``counter``: a TokenCounter (the embedding model's tokenizer), so the budget is counted as the models count."""
    kept: list[Passage] = []
    kept_words: list[set[str]] = []
    used = duplicates = over = 0
    for hit in hits:
        words = set(_WORD.findall(hit.text.lower()))
        if any(_overlap(words, other) >= max_overlap for other in kept_words):
            duplicates += 1
            continue
        if used >= budget_tokens:
            over += 1
            continue
        tokens = counter.count(hit.text)
        text, truncated = hit.text, False
        if used + tokens > budget_tokens:
            room = budget_tokens - used
            if room < MIN_PASSAGE_TOKENS:
                over += 1
                continue
            text, truncated = counter.truncate(hit.text, room), True
            tokens = counter.count(text)
        kept.append(Passage(str(len(kept) + 1), hit.chunk_id, hit.doc_id, hit.title, hit.source, text, tokens, truncated))
        kept_words.append(words)
        used += tokens
    return Context(kept, used, budget_tokens, duplicates, over, {p.source_id: p.chunk_id for p in kept})


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (a passage or an answer) with citation markers such as ``[1]`` removed."""
    cleaned = re.sub(rf"\s*{CITATION.pattern}", "", text)  # with the space before it: "days [1]." -> "days."
    return [s.strip() for s in _SENTENCE_END.split(cleaned) if s and s.strip()]


def cited_source_ids(answer: str) -> set[str]:
    """The passage numbers an answer cites, ranges expanded."""
    cited: set[str] = set()
    for group in CITATION.findall(answer):
        for part in re.split(r"\s*,\s*", group):
            first, _, last = part.partition("-")
            cited.update(str(n) for n in range(int(first), int(last or first) + 1))
    return cited


def _overlap(a: set[str], b: set[str]) -> float:
    """Share of the smaller word set found in the other: an overlapping chunk scores high, a different one low."""
    return len(a & b) / max(min(len(a), len(b)), 1)

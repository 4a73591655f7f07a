"""Chunking: token limits as the embedding model counts them, overlap, sections kept together, topic breaks."""

from __future__ import annotations

import re

import numpy as np
import pytest

from models.base import InputError
from models.rag.chunking import RecursiveChunker, SemanticChunker, make_chunker
from models.rag.tokens import TokenCounter
from models.rag.types import Document


class TallyingCounter(TokenCounter):
    """The real counter, also tallying how many characters it was asked to tokenise."""

    def __init__(self) -> None:
        super().__init__()
        self.characters = 0

    def count_many(self, texts: list[str]) -> list[int]:
        self.characters += sum(map(len, texts))
        return super().count_many(texts)


@pytest.fixture(scope="module")
def counter() -> TallyingCounter:
    return TallyingCounter()


def manual(sections: int = 5, paragraphs: int = 3, sentences: int = 6) -> str:
    """A Markdown document whose sections are each longer than a 120-token chunk."""
    parts = ["# Card guide"]
    for s in range(sections):
        parts.append(f"## Section {s}")
        for p in range(paragraphs):
            parts.append(" ".join(f"Rule {s}.{p}.{k} explains refunds and card limits in detail." for k in range(sentences)))
    return "\n\n".join(parts)


def test_token_counter_counts_word_pieces_and_truncates_to_a_prefix(counter: TokenCounter) -> None:
    assert counter.count("How do I freeze my card?") == 7
    assert counter.count_many(["a b", "", "unbelievably"]) == [2, 0, counter.count("unbelievably")]
    text = "Refunds arrive within five working days, unbelievably."
    for limit in (1, 3, 8, 100):
        head = counter.truncate(text, limit)
        assert text.startswith(head) and head and counter.count(head) <= limit
    assert counter.truncate(text, 100) == text
    assert counter.truncate(text, 8) == "Refunds arrive within five working days,"


def test_short_document_is_one_chunk_equal_to_its_normalised_text(counter: TokenCounter) -> None:
    doc = Document("faq.md", "Freeze your card   \n\n\n\nin the app.  ", "kb/faq.md", "Freezing")
    chunks = RecursiveChunker(512, 64, counter).chunk(doc)
    assert [(c.doc_id, c.position, c.text, c.source, c.title) for c in chunks] == [
        ("faq.md", 0, "Freeze your card\n\nin the app.", "kb/faq.md", "Freezing")]
    assert RecursiveChunker(512, 64, counter).chunk(Document("e", " \n ", "e")) == []


def test_recursive_chunks_respect_the_limit_and_cover_the_document(counter: TokenCounter) -> None:
    doc = Document("guide.md", manual(), "kb/guide.md", "Card guide")
    chunks = RecursiveChunker(120, 20, counter).chunk(doc)
    assert len(chunks) > 5
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert all(c.doc_id == "guide.md" and c.source == "kb/guide.md" and c.title == "Card guide" for c in chunks)
    assert max(counter.count_many([c.text for c in chunks])) <= 120
    assert all(c.text.strip() and c.text in doc.text for c in chunks)
    for s in range(5):
        for p in range(3):
            for k in range(6):
                assert any(f"Rule {s}.{p}.{k} " in c.text for c in chunks)


def test_consecutive_chunks_overlap_and_sections_start_chunks(counter: TokenCounter) -> None:
    chunks = RecursiveChunker(120, 20, counter).chunk(Document("guide.md", manual(), "guide.md"))
    for previous, current in zip(chunks, chunks[1:]):
        if current.text.startswith("## "):
            continue  # a new section is a clean break
        head = re.split(r"(?<=[.!?])\s+", current.text)[0]
        assert previous.text.endswith(head), (previous.text[-80:], current.text[:80])
        assert 5 <= counter.count(head) <= 20
    assert chunks[0].text.startswith("# Card guide\n\n## Section 0\n\n")
    starts = [c.text.split("\n")[0] for c in chunks[1:] if c.text.startswith("## ")]
    assert starts == [f"## Section {s}" for s in range(1, 5)]
    assert sum("## Section" in c.text for c in chunks) == 5  # never mid-chunk, never repeated as overlap


def test_heading_waits_until_the_chunk_is_half_full(counter: TokenCounter) -> None:
    text = "## A\n\nTiny intro.\n\n## B\n\n" + " ".join(f"Rule {k} covers card limits abroad." for k in range(30))
    chunks = RecursiveChunker(100, 10, counter).chunk(Document("d", text, "d"))
    assert chunks[0].text.startswith("## A\n\nTiny intro.\n\n## B\n\nRule 0")


def test_text_without_boundaries_is_cut_by_words_then_tokens(counter: TokenCounter) -> None:
    words = " ".join(f"word{k}" for k in range(400))
    blob = "x-" * 500 + "東京" * 200  # no spaces; a lone run of letters over 100 characters would be one [UNK] token
    for text in (words, blob, f"Intro. {words}. {blob} end."):
        chunks = RecursiveChunker(50, 10, counter).chunk(Document("d", text, "d"))
        assert len(chunks) > 2 and max(counter.count_many([c.text for c in chunks])) <= 50
        assert all(c.text in text for c in chunks)


class NewlinesCost(TokenCounter):
    """Words plus one token per newline: a tokenizer whose whole chunk counts more than its pieces' sum."""

    def count_many(self, texts: list[str]) -> list[int]:
        return [len(t.split()) + t.count("\n") for t in texts]

    def truncate(self, text: str, max_tokens: int) -> str:
        ends = [m.end() for m in re.finditer(r"\S+", text) if self.count(text[: m.end()]) <= max_tokens]
        return text[: ends[-1]] if ends else ""


def test_a_chunk_the_piece_sum_misjudged_is_cut_again() -> None:
    text = "\n".join(f"line {k} words" for k in range(40))  # three pieces sum to 9, their chunk counts 11
    chunks = RecursiveChunker(10, 0, NewlinesCost()).chunk(Document("d", text, "d"))
    assert max(NewlinesCost().count_many([c.text for c in chunks])) <= 10
    assert all(c.text in text for c in chunks) and chunks[-1].text.endswith("line 39 words")


def test_long_document_tokenises_each_piece_about_once() -> None:
    tally = TallyingCounter()
    text = manual(sections=20)
    RecursiveChunker(120, 20, tally).chunk(Document("d", text, "d"))
    assert tally.characters < 4 * len(text)  # whole once, pieces once, chunks once, plus overlap tails


def test_make_chunker_checks_its_settings(counter: TokenCounter) -> None:
    assert isinstance(make_chunker("recursive", 256, 32, counter=counter), RecursiveChunker)
    assert isinstance(make_chunker("semantic", 256, counter=counter, encode=lambda t: np.eye(len(t))), SemanticChunker)
    with pytest.raises(InputError, match="recursive, semantic"):
        make_chunker("fixed", counter=counter)
    with pytest.raises(InputError, match="overlap_tokens"):
        make_chunker("recursive", 64, 64, counter=counter)


TOPICS = {"card": ("card", "pin", "atm"), "cake": ("flour", "oven", "sugar")}


def topic_vectors(texts: list[str]) -> np.ndarray:
    """A deterministic stand-in for an embedding model: one axis per topic, by keyword."""
    rows = np.array([[sum(w in t.lower() for w in words) for words in TOPICS.values()] for t in texts], dtype=float)
    rows += 1e-3
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_semantic_chunker_breaks_at_the_topic_change(counter: TokenCounter) -> None:
    card = [f"Step {k}: your card pin works at any atm." for k in range(8)]
    cake = [f"Step {k}: mix flour and sugar, then use the oven." for k in range(8)]
    doc = Document("mixed", " ".join(card + cake), "mixed.txt", "Mixed")
    chunks = SemanticChunker(120, counter, topic_vectors).chunk(doc)
    assert [c.text for c in chunks] == [" ".join(card), " ".join(cake)]
    assert [c.position for c in chunks] == [0, 1] and chunks[1].title == "Mixed"
    small = SemanticChunker(40, counter, topic_vectors).chunk(doc)
    assert max(counter.count_many([c.text for c in small])) <= 40
    assert not any("pin" in c.text and "oven" in c.text for c in small)


def test_semantic_chunker_with_the_real_encoder(counter: TokenCounter) -> None:
    from models.embeddings import SentenceEncoder

    first = "My bank card was stolen yesterday. I need to block my credit card. Please cancel the stolen card."
    second = "Boil the pasta in salted water. Drain the pasta well. Serve the pasta with tomato sauce."
    chunks = SemanticChunker(40, counter, SentenceEncoder().encode).chunk(Document("d", f"{first} {second}", "d"))
    assert [c.text for c in chunks] == [first, second]

"""Labelled question pairs for measuring a semantic cache: should the answer to ``q1`` be served for ``q2``?

    questions = banking77_questions(Path("../shared/data"), "test")      # or sample_questions(n=300)
    vectors = SentenceEncoder().encode(questions["text"].tolist())
    pairs = build_pairs(questions, vectors, seed=7)    # columns: q1, q2, should_hit, kind, intent

Every pair starts from a real question ``q1`` (banking77, or the project's sample tickets when the
public data is absent). Kinds:
- ``paraphrase`` (hit): ``q1`` reworded without changing its meaning (contractions, politeness, case,
  "how do I" / "how can I", ...).
- ``same_intent`` (hit): the most similar *other* real question of the same intent. Assumption: in an
  FAQ assistant every question of one banking77 intent gets the same answer. It is the nearest one
  because that is the entry a cache would actually find.
- ``different_intent`` (miss): the most similar real question of another intent, the hard negative a
  cosine threshold has to reject.
- ``polarity_flip``, ``number_change``, ``antonym``, ``entity_change`` (miss): ``q1`` edited to ask for
  the opposite or about something else ("cancel my card" -> "don't cancel my card", 2 -> 20, block ->
  unblock, Visa -> Mastercard). Made only where ``q1`` has something to edit. The edits use wider word
  lists than the cache's key-term guard (e.g. minimum/maximum, before/after, names of people), so the
  guard's recall on them is measured, not given by construction; its misses show what lists cannot cover.
Deterministic for a seed.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pandas as pd

from models.base import InputError
from models.llm.cache import verb_forms

HIT_KINDS = ("paraphrase", "same_intent")
MISS_KINDS = ("polarity_flip", "number_change", "antonym", "entity_change", "different_intent")
KINDS = HIT_KINDS + MISS_KINDS


def banking77_questions(data_dir: Path, split: str) -> pd.DataFrame:
    """banking77's ``split`` ("train" or "test") as columns text, intent."""
    path = Path(data_dir) / "banking77" / f"{split}.csv"
    if not path.exists():
        raise InputError(f"{path} not found: get banking77 from github.com/PolyAI-LDN/task-specific-datasets "
                         "(banking_data/) and pass its parent folder")
    frame = pd.read_csv(path)
    return frame.rename(columns={"category": "intent"})[["text", "intent"]].drop_duplicates("text").reset_index(drop=True)


def sample_questions(n: int = 300, seed: int = 7) -> pd.DataFrame:
    """The project's generated support tickets as columns text, intent, entities (no public data needed)."""
    from training.sample_data import generate_tickets

    tickets = generate_tickets(n=n, seed=seed)
    return tickets[["text", "intent", "entities"]].drop_duplicates("text").reset_index(drop=True)


# --- meaning-preserving rewrites --------------------------------------------------------------------

_PARAPHRASES: tuple[tuple[str, str], ...] = (
    (r"\bdo not\b", "don't"), (r"\bdon't\b", "do not"),
    (r"\bcannot\b", "can't"), (r"\bcan't\b", "cannot"),
    (r"\bI am\b", "I'm"), (r"\bI'm\b", "I am"),
    (r"\bit is\b", "it's"), (r"\bit's\b", "it is"),
    (r"\bhas not\b", "hasn't"), (r"\bhasn't\b", "has not"),
    (r"\bhave not\b", "haven't"), (r"\bhaven't\b", "have not"),
    (r"\bdid not\b", "didn't"), (r"\bdidn't\b", "did not"),
    (r"\bis not\b", "isn't"), (r"\bisn't\b", "is not"),
    (r"\bwhat is\b", "what's"), (r"\bWhat is\b", "What's"),
    (r"\b[Hh]ow do I\b", "How can I"), (r"\b[Hh]ow can I\b", "How do I"),
    (r"\bI want to\b", "I'd like to"), (r"\bI would like to\b", "I want to"),
    (r"^Can I\b", "Is it possible to"), (r"^Is it possible to\b", "Can I"),
    (r"\bplease\b ?", ""), (r"\bPlease\b,? ?", ""),
    (r"\bmoney\b", "funds"), (r"\bfunds\b", "money"),
    (r"\bhelp me\b", "assist me"), (r"\bquickly\b", "fast"),
)
_PREFIXES = ("Hi, ", "Hello, ", "Hey there, ", "Quick question: ")
_SUFFIXES = (" Thanks.", " Thank you!", " Please help.")


def paraphrase(text: str, rng: random.Random) -> str:
    out = text
    rules = [r for r in _PARAPHRASES if re.search(r[0], out)]
    for pattern, replacement in rng.sample(rules, k=min(len(rules), rng.randint(1, 2))):
        out = re.sub(pattern, replacement, out, count=1)
    style = rng.random()
    if style < 0.3:
        out = rng.choice(_PREFIXES) + out[:1].lower() + out[1:]
    elif style < 0.6:
        out = out.rstrip() + rng.choice(_SUFFIXES)
    elif style < 0.8:
        out = out.lower().rstrip(" ?.!")
    return re.sub(r"\s{2,}", " ", out).strip()


# --- meaning-changing edits ------------------------------------------------------------------------

# First match wins; removing a negation comes before adding one.
_FLIPS: tuple[tuple[str, str], ...] = (
    (r"\bdon't\b|\bdo not\b|\bdont\b", "do"), (r"\bdoesn't\b|\bdoes not\b|\bdoesnt\b", "does"),
    (r"\bdidn't\b|\bdid not\b|\bdidnt\b", "did"), (r"\bcan't\b|\bcannot\b|\bcant\b", "can"),
    (r"\bisn't\b|\bis not\b|\bisnt\b", "is"), (r"\bhasn't\b|\bhas not\b|\bhasnt\b", "has"),
    (r"\bhaven't\b|\bhave not\b|\bhavent\b", "have"), (r"\bwon't\b|\bwill not\b|\bwont\b", "will"),
    (r"\bwasn't\b|\bwas not\b|\bwasnt\b", "was"), (r"\bnot\b ?", ""), (r"\bnever\b", "always"),
    (r"\bI want\b", "I don't want"), (r"\bI need\b", "I don't need"), (r"\bcan\b", "can't"),
    (r"\bis\b", "isn't"), (r"\bwill\b", "won't"), (r"\bdid\b", "didn't"), (r"\bhas\b", "hasn't"),
    (r"\bshould\b", "shouldn't"), (r"\bdoes\b", "doesn't"), (r"\bwas\b", "wasn't"),
    (r"^(Cancel|Block|Close|Delete|Freeze|Send|Change|Top up|Activate|Transfer)\b", r"Don't \1"),
)


def polarity_flip(text: str) -> str | None:
    for pattern, replacement in _FLIPS:
        if re.search(pattern, text, flags=re.IGNORECASE if pattern[0] != "^" else 0):
            flipped = re.sub(pattern, replacement, text, count=1, flags=re.IGNORECASE if pattern[0] != "^" else 0)
            return re.sub(r"\s{2,}", " ", flipped).strip()
    return None


_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_NUMBER_WORD = re.compile(r"\b(two|three|four|five|six|seven|eight|nine|ten)\b", re.IGNORECASE)
_WORDS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def number_change(text: str, rng: random.Random) -> str | None:
    match = _NUMBER.search(text)
    if match:
        value = float(match.group().replace(",", ""))
        new = rng.choice([value * 10, value + rng.randint(1, 9), max(value * 2, value + 3)])
        new = new if new != value else value + 1
        new_text = str(int(new)) if float(new).is_integer() else f"{new:.2f}"
        return text[: match.start()] + new_text + text[match.end():]
    match = _NUMBER_WORD.search(text)
    if match:
        other = rng.choice([w for w in _WORDS if w != match.group().lower()])
        return text[: match.start()] + other + text[match.end():]
    return None


# Wider than the guard's ANTONYMS: the last row holds pairs the guard does not list.
_ANTONYM_BASES = (
    ("block", "unblock"), ("freeze", "unfreeze"), ("lock", "unlock"), ("link", "unlink"), ("enable", "disable"),
    ("activate", "deactivate"), ("increase", "decrease"), ("add", "remove"), ("accept", "decline"),
    ("approve", "reject"), ("deposit", "withdraw"), ("open", "close"), ("upgrade", "downgrade"),
    ("subscribe", "unsubscribe"), ("start", "stop"),
    ("minimum", "maximum"), ("before", "after"), ("higher", "lower"), ("more", "less"), ("first", "last"),
    ("incoming", "outgoing"), ("domestic", "international"), ("early", "late"),
    ("new", "old"), ("today", "yesterday"), ("online", "offline"), ("cheapest", "dearest"),
)
_WORDS_AS_IS = {"minimum", "maximum", "before", "after", "higher", "lower", "more", "less", "first", "last",
                "incoming", "outgoing", "domestic", "international", "early", "late", "new", "old", "today",
                "yesterday", "online", "offline", "cheapest", "dearest"}


def _antonym_map() -> dict[str, str]:
    mapping: dict[str, str] = {}
    for a, b in _ANTONYM_BASES:
        forms_a, forms_b = ([a], [b]) if a in _WORDS_AS_IS else (verb_forms(a), verb_forms(b))
        for fa, fb in zip(forms_a, forms_b):
            mapping.setdefault(fa, fb)
            mapping.setdefault(fb, fa)
    mapping.update({"sent": "received", "received": "sent", "send": "receive", "receive": "send"})
    return mapping


_ANTONYM_MAP = _antonym_map()
_WORD = re.compile(r"[A-Za-z]+")


def _same_case(word: str, like: str) -> str:
    return word.capitalize() if like[:1].isupper() else word


def antonym_swap(text: str, rng: random.Random) -> str | None:
    matches = [m for m in _WORD.finditer(text) if m.group().lower() in _ANTONYM_MAP]
    if not matches:
        return None
    m = rng.choice(matches)
    return text[: m.start()] + _same_case(_ANTONYM_MAP[m.group().lower()], m.group()) + text[m.end():]


# Groups of interchangeable names; swapping within a group changes what is asked about. People are
# not in the guard's lists.
_ENTITY_GROUPS: tuple[tuple[str, ...], ...] = (
    ("Visa", "Mastercard", "Amex"), ("Apple Pay", "Google Pay"), ("euros", "dollars", "pounds"),
    ("euro", "dollar", "pound"), ("EUR", "USD", "GBP"), ("€", "$", "£"), ("UK", "France", "Spain", "Germany"),
    ("virtual", "physical"), ("debit", "credit"), ("my husband", "my daughter", "my friend", "my landlord"),
)


def entity_change(text: str, rng: random.Random, spans: list[dict] | None = None) -> str | None:
    """Swap one named thing: a lexicon entry, or (sample tickets) a labelled entity span for another."""
    options = []
    for group in _ENTITY_GROUPS:
        for name in group:
            pattern = re.escape(name) if not name[0].isalnum() else r"\b" + re.escape(name) + r"\b"
            for m in re.finditer(pattern, text):
                options.append((m.start(), m.end(), [g for g in group if g != name]))
    for span in spans or []:
        if span["label"] in {"PER", "ORG", "LOC", "PRODUCT", "ORDER_ID"}:
            options.append((span["start"], span["end"], span["alternatives"]))
    options = [o for o in options if o[2]]
    if not options:
        return None
    start, end, alternatives = rng.choice(options)
    return text[:start] + rng.choice(alternatives) + text[end:]


def _with_span_alternatives(questions: pd.DataFrame) -> list[list[dict] | None]:
    """Entity spans with, for each, other entity texts of the same label seen in the sample."""
    if "entities" not in questions:
        return [None] * len(questions)
    by_label: dict[str, set[str]] = {}
    for spans in questions["entities"]:
        for s in spans:
            by_label.setdefault(s["label"], set()).add(s["text"])
    return [[{**s, "alternatives": sorted(by_label[s["label"]] - {s["text"]})} for s in spans]
            for spans in questions["entities"]]


# --- pairs -----------------------------------------------------------------------------------------

def build_pairs(questions: pd.DataFrame, vectors: np.ndarray, seed: int = 7) -> pd.DataFrame:
    """Labelled pairs from ``questions`` (columns text, intent) and their L2-normalised ``vectors``."""
    if len(questions) != len(vectors):
        raise InputError(f"vectors: {len(vectors)} rows for {len(questions)} questions; encode questions['text']")
    if questions["intent"].nunique() < 2:
        raise InputError("questions: need at least two intents to build different-intent pairs")
    rng = random.Random(seed)
    texts = questions["text"].tolist()
    intents = questions["intent"].to_numpy()
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    same = intents[:, None] == intents[None, :]
    nearest_same = np.where(same, similarity, -np.inf).argmax(axis=1)
    nearest_other = np.where(~same, similarity, -np.inf).argmax(axis=1)
    spans = _with_span_alternatives(questions)

    rows = []
    for i, q in enumerate(texts):
        def add(q2: str | None, kind: str, hit: bool) -> None:
            if q2 and q2.strip() and q2 != q:
                rows.append({"q1": q, "q2": q2, "should_hit": hit, "kind": kind, "intent": intents[i]})

        add(paraphrase(q, rng), "paraphrase", True)
        if np.isfinite(similarity[i, nearest_same[i]]):
            add(texts[nearest_same[i]], "same_intent", True)
        add(texts[nearest_other[i]], "different_intent", False)
        add(polarity_flip(q), "polarity_flip", False)
        add(number_change(q, rng), "number_change", False)
        add(antonym_swap(q, rng), "antonym", False)
        add(entity_change(q, rng, spans[i]), "entity_change", False)
    return pd.DataFrame(rows, columns=["q1", "q2", "should_hit", "kind", "intent"])

"""Semantic cache of answers: reuse a stored answer when a new question means the same thing.

    cache = SemanticCache.from_settings(get_settings().cache, SentenceEncoder())
    cache.store("how do I cancel my card?", {"answer": "..."}, tenant="acme", intent="cancel_card")
    hit = cache.lookup("how can I cancel my card", tenant="acme", intent="cancel_card")
    if hit: hit.payload, hit.similarity, hit.cached_question, hit.age_s

A cached answer is served only when all of these hold, so a false hit can be explained by one rule:
1. same tenant (another tenant's entries are never read);
2. same intent: both ``None`` or both the same label (an answer cached without an intent is never
   served to a classified question, nor the reverse);
3. younger than ``ttl_s`` on the cache's clock (expired entries are evicted when met);
4. cosine similarity >= the entry's threshold (``threshold``, or ``intent_thresholds[intent]`` when given:
   thresholds learned per intent, stored with each entry);
5. the key-term guard finds no conflict (``key_term_conflict``): cosine over sentence embeddings
   scores "cancel my card" / "don't cancel my card" above 0.9, so questions that differ in their count
   of negating words, in a number, in one side of an antonym pair (block/unblock, before/after, ...) or in a named
   entity of the same kind (currency, card network, country, a capitalised name) are never matched; nor
   are two questions that are the same but for one content word swapped for another (``one_word_swap``:
   "activate my new card" / "... old card"), which no word list covers.
Candidates are tried from the most similar down, so a guarded near-duplicate does not hide a valid one.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from models.base import InputError
from models.llm.cache_backends import CacheBackend, CacheEntry, MemoryBackend, RedisBackend, new_entry_id
from models.rag.sparse import english_stemmer
from models.settings import CacheSettings

_TENANT = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass(frozen=True)
class CacheHit:
    payload: dict
    similarity: float
    cached_question: str
    age_s: float


# ---------------------------------------------------------------------------------------------------
# Key-term guard: a few word lists compared between the two questions. Cheap, and every refusal
# names its reason.
# ---------------------------------------------------------------------------------------------------

NEGATIONS = frozenset({
    "not", "no", "never", "nothing", "nobody", "nor", "neither", "cannot", "cant", "dont", "doesnt", "didnt",
    "wont", "isnt", "arent", "wasnt", "werent", "hasnt", "havent", "hadnt", "shouldnt", "wouldnt", "couldnt",
    "mustnt", "aint", "neednt",
})

# "one" is left out on purpose: "which one", "no one" are not amounts.
NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero _ two three four five six seven eight nine ten eleven twelve".split()) if w != "_"}


def verb_forms(base: str) -> tuple[str, ...]:
    """A verb's common inflections, in a fixed order (enough for questions): block, blocks, blocked, blocking."""
    if base.endswith("e"):
        return base, base + "s", base + "d", base[:-1] + "ing"
    return base, base + "s", base + "ed", base + "ing"


def _forms(base: str, *extra: str) -> frozenset[str]:
    return frozenset(verb_forms(base)) | frozenset(extra)


#: key verbs (and a few comparatives) whose two sides ask for opposite things
ANTONYMS: tuple[tuple[frozenset[str], frozenset[str]], ...] = (
    (_forms("block"), _forms("unblock")),
    (_forms("freeze", "froze", "frozen"), _forms("unfreeze", "unfroze", "unfrozen")),
    (_forms("lock"), _forms("unlock")),
    (_forms("link"), _forms("unlink")),
    (_forms("enable"), _forms("disable")),
    (_forms("activate"), _forms("deactivate")),
    (_forms("increase"), _forms("decrease", "reduce", "reduced", "reducing", "lower", "lowered", "lowering")),
    (_forms("add"), _forms("remove")),
    (_forms("accept", "approve", "approved", "approving"), _forms("decline", "reject", "rejected", "rejecting")),
    (_forms("deposit"), _forms("withdraw", "withdrew", "withdrawn", "withdrawal")),
    (_forms("send", "sent"), _forms("receive")),
    (_forms("open"), _forms("close")),
    (_forms("subscribe"), _forms("unsubscribe")),
    (_forms("upgrade"), _forms("downgrade")),
    (_forms("start"), _forms("stop", "stopped", "stopping")),
    (frozenset({"incoming"}), frozenset({"outgoing"})),
    (frozenset({"before", "earlier", "early"}), frozenset({"after", "later", "late"})),
    (frozenset({"more", "higher", "maximum", "max", "most"}), frozenset({"less", "lower", "minimum", "min", "least"})),
    (frozenset({"first"}), frozenset({"last"})),
    (frozenset({"domestic", "national"}), frozenset({"international", "abroad", "foreign"})),
)

#: named things of one kind; two questions naming different members of a kind differ
ENTITY_KINDS: dict[str, dict[str, str]] = {
    "currency": {
        **dict.fromkeys(["$", "usd", "dollar", "dollars"], "usd"),
        **dict.fromkeys(["£", "gbp", "pound", "pounds", "sterling"], "gbp"),
        **dict.fromkeys(["€", "eur", "euro", "euros"], "eur"),
        **dict.fromkeys(["¥", "jpy", "yen"], "jpy"),
        **dict.fromkeys(["chf", "franc", "francs"], "chf"),
        **dict.fromkeys(["aud"], "aud"),
        **dict.fromkeys(["cad"], "cad"),
    },
    "card_network": {"visa": "visa", "mastercard": "mastercard", "amex": "amex", "maestro": "maestro"},
    "wallet": {"apple": "apple pay", "google": "google pay", "paypal": "paypal", "samsung": "samsung pay"},
    "card_type": {"virtual": "virtual", "physical": "physical", "disposable": "disposable", "plastic": "physical",
                  "debit": "debit", "credit": "credit"},
    "country": dict.fromkeys([
        "uk", "us", "usa", "america", "britain", "england", "france", "germany", "spain", "italy", "portugal",
        "ireland", "netherlands", "belgium", "switzerland", "austria", "poland", "greece", "china", "japan",
        "india", "canada", "mexico", "brazil", "australia", "russia", "turkey", "sweden", "norway", "denmark",
    ]),
}
ENTITY_KINDS["country"] = {k: {"us": "usa", "america": "usa", "britain": "uk", "england": "uk"}.get(k, k)
                           for k in ENTITY_KINDS["country"]}

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*|\d+(?:[.,]\d+)*|[$£€¥]")
_SENTENCE_START = re.compile(r"(?:^|[.!?\n]\s*)$")
_CAPITALISED = re.compile(r"\b[A-Z][a-zA-Z]+\b")
_NOT_NAMES = frozenset({"i", "im", "ive", "id", "ill"})


def _tokens(text: str) -> list[str]:
    return [t.replace("'", "") for t in _TOKEN.findall(text.lower().replace("’", "'"))]


def _number(token: str) -> str | None:
    if token in NUMBER_WORDS:
        return NUMBER_WORDS[token]
    if token[0].isdigit():
        value = float(token.replace(",", ""))
        return f"{value:g}"
    return None


def _names(text: str) -> set[str]:
    """Capitalised words not at a sentence start: names, organisations, products."""
    names = set()
    for match in _CAPITALISED.finditer(text):
        word = match.group().lower()
        if word not in _NOT_NAMES and not _SENTENCE_START.search(text[: match.start()]):
            names.add(word)
    return names


@dataclass(frozen=True)
class _KeyTerms:
    negations: int
    numbers: frozenset[str]
    antonym_sides: frozenset[tuple[int, int]]
    entities: dict[str, frozenset[str]]
    tokens: frozenset[str]


def _key_terms(text: str) -> _KeyTerms:
    tokens = _tokens(text)
    sides = {(i, side) for i, pair in enumerate(ANTONYMS) for side, forms in enumerate(pair) if forms & set(tokens)}
    entities = {kind: frozenset(lexicon[t] for t in tokens if t in lexicon) for kind, lexicon in ENTITY_KINDS.items()}
    entities["name"] = frozenset(_names(text))
    return _KeyTerms(
        negations=sum(t in NEGATIONS for t in tokens),
        numbers=frozenset(n for n in map(_number, tokens) if n is not None),
        antonym_sides=frozenset(sides),
        entities=entities,
        tokens=frozenset(tokens),
    )


#: words whose swap does not change what is asked: function words, and greetings a rewording adds
_FUNCTION_WORDS = ENGLISH_STOP_WORDS | NEGATIONS | frozenset({"thanks", "thank", "hi", "hello", "hey", "pls"})


def one_word_swap(a: str, b: str) -> str | None:
    """The swapped pair when ``a`` and ``b`` differ in exactly one place, one content word for another.

    A near-duplicate with one content word replaced is how a meaning changes without moving the
    embedding (new/old card, today/yesterday, online/offline); synonyms look the same to MiniLM (money
    and funds 0.69, new and old 0.50), so every such swap is refused and a synonym costs a hit, not a
    wrong answer. Differences in function words ("how do I" / "how can I"), inflection (card/cards),
    number spelling (two/2) and greetings do not count; questions changed in more than one place are
    left to the threshold."""
    ta, tb = ([_number(t) or t for t in _tokens(text)] for text in (a, b))
    changed = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=ta, b=tb, autojunk=False).get_opcodes():
        if op != "equal" and any(t not in _FUNCTION_WORDS for t in ta[i1:i2] + tb[j1:j2]):
            changed.append((ta[i1:i2], tb[j1:j2]))
    if len(changed) != 1 or len(changed[0][0]) != 1 or len(changed[0][1]) != 1:
        return None
    (wa,), (wb,) = changed[0]
    stem = english_stemmer().stemWord
    return None if stem(wa) == stem(wb) else f"{wa}/{wb}"


def key_term_conflict(a: str, b: str, *, swaps: bool = True) -> str | None:
    """Why ``a`` and ``b`` must not share an answer despite similar wording, or None when nothing differs.
    ``swaps=False`` leaves out the one-word-swap rule (to measure the lists alone)."""
    ka, kb = _key_terms(a), _key_terms(b)
    # Counted, not just present: "it didn't work, can't I retry" has two to flip.
    if ka.negations != kb.negations:
        return f"negation differs: {ka.negations} vs {kb.negations} negating words"
    if ka.numbers != kb.numbers:
        return f"numbers differ: {sorted(ka.numbers)} vs {sorted(kb.numbers)}"
    for i in range(len(ANTONYMS)):
        sa = {s for p, s in ka.antonym_sides if p == i}
        sb = {s for p, s in kb.antonym_sides if p == i}
        if sa and sb and sa != sb:
            return f"opposite actions: {'/'.join(min(forms, key=len) for forms in ANTONYMS[i])}"
    for kind, ea in ka.entities.items():
        eb = kb.entities[kind]
        if kind == "name":
            # A name must appear (in any case) in the other question; lower-casing is not a change.
            missing = (ea - kb.tokens) | (eb - ka.tokens)
            if missing:
                return f"names differ: {sorted(missing)}"
        elif ea and eb and ea != eb:
            return f"{kind} differs: {sorted(ea)} vs {sorted(eb)}"
    swapped = one_word_swap(a, b) if swaps else None
    return f"one word swapped: {swapped}" if swapped else None


# ---------------------------------------------------------------------------------------------------


class SemanticCache:
    """Answers keyed by question meaning, per tenant and intent, with a TTL and LRU eviction."""

    def __init__(
        self,
        encoder,
        backend: CacheBackend,
        threshold: float = 0.90,
        ttl_s: float = 3600.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
        *,
        guard: bool = True,
        intent_thresholds: Mapping[str, float] | None = None,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise InputError(f"threshold={threshold}: pass a cosine similarity in (0, 1]")
        if ttl_s <= 0 or max_entries <= 0:
            raise InputError(f"ttl_s={ttl_s}, max_entries={max_entries}: both must be positive")
        self.encoder = encoder
        self.backend = backend
        self.threshold = threshold
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self.guard = guard
        self.intent_thresholds = dict(intent_thresholds or {})

    @classmethod
    def from_settings(cls, settings: CacheSettings, encoder) -> SemanticCache:
        if settings.backend == "redis":
            backend: CacheBackend = RedisBackend(settings.redis_url, ttl_s=settings.ttl_s)
        else:
            backend = MemoryBackend()
        return cls(encoder, backend, threshold=settings.threshold, ttl_s=settings.ttl_s,
                   max_entries=settings.max_entries, guard=settings.key_term_guard,
                   intent_thresholds=settings.intent_thresholds)

    def _vector(self, question: str) -> np.ndarray:
        if not isinstance(question, str) or not question.strip():
            raise InputError("question: pass a non-empty string")
        return np.asarray(self.encoder.encode([question])[0], dtype=np.float32)

    @staticmethod
    def _check_tenant(tenant: str) -> None:
        if not isinstance(tenant, str) or not _TENANT.match(tenant):
            raise InputError(f"tenant={tenant!r}: use 1-128 letters, digits, '_', '.' or '-'")

    def entry_threshold(self, intent: str | None) -> float:
        """The similarity an entry of ``intent`` needs: its learned threshold, else the global one."""
        return self.intent_thresholds.get(intent, self.threshold) if intent is not None else self.threshold

    def lookup(self, question: str, tenant: str = "default", intent: str | None = None) -> CacheHit | None:
        self._check_tenant(tenant)
        vector = self._vector(question)
        now = self.clock()
        floor = min([self.threshold, *self.intent_thresholds.values()])
        for similarity, entry in self.backend.search(tenant, vector, floor, oldest_alive=now - self.ttl_s):
            if entry.intent != intent or similarity < entry.threshold:
                continue
            if self.guard and key_term_conflict(question, entry.question) is not None:
                continue
            self.backend.touch(tenant, entry.id, now)
            return CacheHit(payload=entry.payload, similarity=similarity, cached_question=entry.question,
                            age_s=now - entry.created)
        return None

    def store(self, question: str, payload: dict, tenant: str = "default", intent: str | None = None) -> None:
        self._check_tenant(tenant)
        if not isinstance(payload, dict):
            raise InputError("payload: pass a JSON-serialisable dict")
        now = self.clock()
        entry = CacheEntry(id=new_entry_id(), question=question, payload=payload, intent=intent,
                           threshold=self.entry_threshold(intent), created=now, vector=self._vector(question))
        self.backend.add(tenant, entry, self.max_entries, now)

    def clear(self, tenant: str | None = None) -> int:
        """Forget ``tenant``'s entries (every tenant's when None); returns how many were removed."""
        if tenant is not None:
            self._check_tenant(tenant)
        return self.backend.clear(tenant)

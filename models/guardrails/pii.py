"""Finding and redacting personal data: emails, phone numbers, card and account numbers, names.

    result = redact("Mail jo@example.com or call +44 20 7946 0958", ner=None)
    result.text    # "Mail [EMAIL] or call [PHONE]"
    result.spans   # (PiiSpan(type="EMAIL", start=5, end=19), PiiSpan(type="PHONE", start=28, end=44))
    result.summary # "1 EMAIL, 1 PHONE"

Patterns find the structured kinds; card numbers must pass the Luhn check, IBANs the mod-97 check and
phone numbers the numbering plan of a configured region, so order ids and amounts are left alone. Names and places come from an optional NER callable with
the project's NER output shape (``models/ner.py``: dicts with label, start, end, text, score).
Spans carry offsets into the original text and a type, never the value, so they are safe to log.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers

#: the NER capability's batch interface: texts in, one list of entity dicts per text
NerFunction = Callable[[list[str]], list[list[dict]]]

#: where a national phone number (no +) is looked up by default; [guardrails].phone_regions overrides it
PHONE_REGIONS: tuple[str, ...] = ("US", "GB")

#: NER labels that are personal data, and the token that replaces them
NER_TYPES: dict[str, str] = {"PER": "PERSON", "PERSON": "PERSON", "LOC": "LOCATION", "GPE": "LOCATION"}

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_ACCOUNT = re.compile(r"\b(?:account|acct|a/c)(?:\s*(?:number|no\.?|#))?\s*(?:is|:)?\s*(\d[\d -]{4,16}\d)\b", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?![\w-])")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class PiiSpan:
    type: str  # EMAIL, PHONE, CARD, ACCOUNT, PERSON, LOCATION
    start: int
    end: int


@dataclass(frozen=True)
class Redaction:
    text: str
    spans: tuple[PiiSpan, ...]

    @property
    def summary(self) -> str:
        """What was found, by type and count only (e.g. "2 EMAIL, 1 CARD")."""
        return ", ".join(f"{n} {kind}" for kind, n in sorted(Counter(s.type for s in self.spans).items()))


def luhn_valid(number: str) -> bool:
    """The Luhn checksum every payment card number satisfies (spaces and dashes ignored)."""
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """The ISO 13616 mod-97 check."""
    compact = iban.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _phone_like(match: str, regions: tuple[str, ...]) -> bool:
    """A number some region's numbering plan assigns (Google's libphonenumber metadata, via ``phonenumbers``):
    "order 2024 1234" has a phone number's shape but is no valid number in the US or the UK."""
    digits = sum(c.isdigit() for c in match)
    # Seven digits is the shortest local number; bare digit runs are ids, and ISO dates are dates.
    if not (7 <= digits <= 15) or _ISO_DATE.fullmatch(match) or (match.isdigit() and not match.startswith("0")):
        return False
    for region in regions if not match.startswith("+") else (None,):
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(match, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def find_pii(text: str, ner: NerFunction | None = None,
             regions: tuple[str, ...] | list[str] = PHONE_REGIONS) -> tuple[PiiSpan, ...]:
    """Non-overlapping PII spans in ``text``, in order; an earlier kind wins where two overlap. A phone number
    is one valid in one of ``regions`` (ISO 3166 codes), or an international one (+...) valid anywhere."""
    regions = tuple(regions)
    candidates: list[PiiSpan] = []
    candidates += [PiiSpan("EMAIL", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    candidates += [PiiSpan("CARD", m.start(), m.end()) for m in _CARD.finditer(text) if luhn_valid(m.group())]
    candidates += [PiiSpan("ACCOUNT", m.start(), m.end()) for m in _IBAN.finditer(text) if iban_valid(m.group())]
    candidates += [PiiSpan("ACCOUNT", m.start(1), m.end(1)) for m in _ACCOUNT.finditer(text)]
    candidates += [PiiSpan("PHONE", m.start(), m.end()) for m in _PHONE.finditer(text)
                   if _phone_like(m.group(), regions)]
    if ner is not None and text:
        candidates += [
            PiiSpan(NER_TYPES[e["label"]], int(e["start"]), int(e["end"]))
            for e in ner([text])[0] if e["label"] in NER_TYPES
        ]
    taken: list[PiiSpan] = []
    for span in candidates:  # priority order: the order the kinds were added
        if all(span.end <= t.start or span.start >= t.end for t in taken):
            taken.append(span)
    return tuple(sorted(taken, key=lambda s: s.start))


def redact(text: str, ner: NerFunction | None = None,
           regions: tuple[str, ...] | list[str] = PHONE_REGIONS) -> Redaction:
    """``text`` with every PII span replaced by ``[TYPE]``; spans keep the original offsets."""
    spans = find_pii(text, ner, regions)
    parts, cursor = [], 0
    for span in spans:
        parts += [text[cursor:span.start], f"[{span.type}]"]
        cursor = span.end
    parts.append(text[cursor:])
    return Redaction("".join(parts), spans)

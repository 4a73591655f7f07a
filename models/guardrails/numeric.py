"""Do the numbers an answer states match the ML results and the context it was given?

    facts = {"sentiment.confidence": 0.93, "anomaly.count": 2, "intent.label": "card_lost"}
    check_numbers("Confidence is 93% and we found 3 anomalies.", facts, passages=[], tolerance=0.01)
    # (NumericMismatch(number="3", value=3.0, nearest_fact="anomaly.count=2"),)

Every number in the answer (integers, decimals, thousands separators, percentages) must equal a
numeric fact within a relative ``tolerance`` or appear in the context passages; a percentage also
matches the fraction it stands for (93% matches 0.93). Citation markers such as ``[1]`` are not
numbers. Numbers glued to words or ids (``ORD-1182733``, ``T00123``) are identifiers, not claims.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from models.rag.context import CITATION

_NUMBER = re.compile(
    r"(?<![\w.,-])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*(?:%|percent\b|per cent\b))?(?![\w-])", re.IGNORECASE
)


@dataclass(frozen=True)
class StatedNumber:
    text: str  # as written, e.g. "1,234.5" or "93%"
    values: tuple[float, ...]  # what it may stand for: a percentage is both 93 and 0.93


@dataclass(frozen=True)
class NumericMismatch:
    number: str
    value: float
    nearest_fact: str | None  # "name=value" of the closest numeric fact, for the reviewer


def stated_numbers(text: str) -> list[StatedNumber]:
    numbers = []
    for match in _NUMBER.finditer(CITATION.sub(" ", text)):
        written = match.group().strip()
        digits = re.sub(r"\s*(?:%|percent|per cent)$", "", written, flags=re.IGNORECASE).replace(",", "")
        value = float(digits)
        is_percent = digits != written.replace(",", "")
        numbers.append(StatedNumber(written, (value, value / 100) if is_percent else (value,)))
    return numbers


def numeric_facts(facts: dict[str, object]) -> dict[str, float]:
    """The facts that are numbers (booleans and strings are not)."""
    return {
        name: float(value) for name, value in facts.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


def check_numbers(
    answer: str, facts: dict[str, object], passages: list[str], tolerance: float
) -> tuple[NumericMismatch, ...]:
    """Numbers in ``answer`` that match no numeric fact and no number in ``passages``."""
    known = numeric_facts(facts)
    context = [v for passage in passages for number in stated_numbers(passage) for v in number.values]
    mismatches = []
    for number in stated_numbers(answer):
        if any(_close(v, f, tolerance) for v in number.values for f in [*known.values(), *context]):
            continue
        value = number.values[0]
        nearest = min(known.items(), key=lambda item: abs(item[1] - value), default=None)
        mismatches.append(NumericMismatch(number.text, value, None if nearest is None else f"{nearest[0]}={nearest[1]:g}"))
    return tuple(mismatches)


def _close(stated: float, fact: float, tolerance: float) -> bool:
    return abs(stated - fact) <= tolerance * max(abs(fact), 1e-9) or stated == fact

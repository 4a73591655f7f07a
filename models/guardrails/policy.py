"""Content policy on answers: what an answer must never contain, and what happens when it does.

    result = apply_policy(answer, blocked_phrases=["guaranteed returns"], system_prompt=prompt)
    result.text        # the answer, SAFE_MESSAGE when withheld, or with card numbers redacted
    result.violations  # (PolicyViolation(rule="blocked_phrase", action="withheld", detail=...), ...)

Rules, most severe first:

- ``system_prompt_leak`` (withheld): the answer repeats 8 or more consecutive words of the system
  prompt it was given, the usual sign of a successful exfiltration attack;
- ``blocked_phrase`` (withheld): a configured phrase (``guardrails.blocked_phrases``), case-insensitive;
- ``card_number`` (redacted): a full payment card number (Luhn-valid) becomes ``[CARD]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.guardrails.pii import find_pii

SAFE_MESSAGE = "I can't share that answer. A member of our support team will follow up with you."
#: consecutive system-prompt words that count as a leak; shorter runs occur by chance ("if you are not sure")
LEAK_WORDS = 8


@dataclass(frozen=True)
class PolicyViolation:
    rule: str  # system_prompt_leak | blocked_phrase | card_number
    action: str  # withheld | redacted
    detail: str


@dataclass(frozen=True)
class PolicyResult:
    text: str
    violations: tuple[PolicyViolation, ...]

    @property
    def withheld(self) -> bool:
        return any(v.action == "withheld" for v in self.violations)


def apply_policy(answer: str, blocked_phrases: list[str], system_prompt: str = "") -> PolicyResult:
    if system_prompt and _shares_run(answer, system_prompt, LEAK_WORDS):
        detail = f"answer repeats {LEAK_WORDS}+ consecutive words of the system prompt"
        return PolicyResult(SAFE_MESSAGE, (PolicyViolation("system_prompt_leak", "withheld", detail),))
    lowered = answer.lower()
    hits = [phrase for phrase in blocked_phrases if phrase.strip() and phrase.lower() in lowered]
    if hits:
        detail = f"answer contains blocked phrase(s) {hits} (guardrails.blocked_phrases)"
        return PolicyResult(SAFE_MESSAGE, (PolicyViolation("blocked_phrase", "withheld", detail),))
    cards = [span for span in find_pii(answer) if span.type == "CARD"]
    if not cards:
        return PolicyResult(answer, ())
    text = answer
    for span in reversed(cards):
        text = text[:span.start] + "[CARD]" + text[span.end:]
    detail = f"{len(cards)} full card number(s) redacted from the answer"
    return PolicyResult(text, (PolicyViolation("card_number", "redacted", detail),))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _shares_run(answer: str, source: str, length: int) -> bool:
    source_words = _words(source)
    runs = {tuple(source_words[i:i + length]) for i in range(len(source_words) - length + 1)}
    answer_words = _words(answer)
    return any(tuple(answer_words[i:i + length]) in runs for i in range(len(answer_words) - length + 1))

"""The two guards around the LLM: what goes in, and what comes out.

    guard_in = InputGuard(settings.guardrails, detector=injection_detector, ner=ner_function)
    checked = guard_in.check(question)
    if checked.blocked: ...                      # refuse; checked.events says why
    prompt_question = checked.text               # PII already replaced by [EMAIL], [PHONE], ...

    guard_out = OutputGuard(settings.guardrails, encoder=SentenceEncoder())
    result = guard_out.check(answer, passages, facts, system_prompt=instructions)
    result.text, result.events, result.sentence_support

    AuditLog(settings.guardrails.audit_log).record(request_id, checked.events + result.events)

Input, in order: the size limit (blocks; nothing else runs on an oversized text), prompt injection
(the trained detector, or the rules alone without one; blocks when ``block_injection``, else
flags), then PII (redacted when ``redact_pii``, else flagged). Output: the content policy first
(a withheld answer is replaced and checked no further), then grounding and numeric consistency,
which flag but never change the answer. ``system_prompt`` should be the instructions only, not
the retrieved context, which an answer may legitimately quote. Event details never hold raw PII.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from models.embeddings import SentenceEncoder
from models.guardrails.grounding import check_grounding
from models.guardrails.injection import InjectionDetector, rule_match
from models.guardrails.numeric import check_numbers
from models.guardrails.pii import NerFunction, redact
from models.guardrails.policy import apply_policy
from models.settings import GuardrailSettings

Stage = Literal["input", "output"]
Kind = Literal["size", "pii", "injection", "ungrounded", "numeric_mismatch", "policy"]
Action = Literal["blocked", "redacted", "flagged", "withheld"]
_SNIPPET_CHARS = 80


@dataclass(frozen=True)
class GuardEvent:
    stage: Stage
    kind: Kind
    action: Action
    detail: str  # human-readable, never containing raw PII


@dataclass(frozen=True)
class GuardedInput:
    text: str  # the text to pass on, PII redacted; "" when blocked for size
    blocked: bool
    events: tuple[GuardEvent, ...]


@dataclass(frozen=True)
class GuardedOutput:
    text: str
    events: tuple[GuardEvent, ...]
    sentence_support: tuple[float, ...]  # one per answer sentence; () when the answer was withheld


class InputGuard:
    def __init__(self, settings: GuardrailSettings, detector: InjectionDetector | None = None,
                 ner: NerFunction | None = None) -> None:
        self.settings = settings
        self.detector = detector
        self.ner = ner

    def check(self, text: str) -> GuardedInput:
        limit = self.settings.max_question_chars
        if len(text) > limit:
            detail = f"input is {len(text)} characters; the limit is {limit} (guardrails.max_question_chars)"
            return GuardedInput("", True, (GuardEvent("input", "size", "blocked", detail),))
        events = []
        blocked = False
        score, rule, threshold = self._injection(text)
        if score >= threshold:
            blocked = self.settings.block_injection
            source = f"rule {rule!r}" if rule else "classifier"
            detail = f"prompt-injection score {score:.2f} >= {threshold:.2f} ({source})"
            events.append(GuardEvent("input", "injection", "blocked" if blocked else "flagged", detail))
        redaction = redact(text, self.ner, self.settings.phone_regions)
        if redaction.spans:
            action = "redacted" if self.settings.redact_pii else "flagged"
            events.append(GuardEvent("input", "pii", action, f"{action} {redaction.summary}"))
        return GuardedInput(redaction.text if self.settings.redact_pii else text, blocked, tuple(events))

    def _injection(self, text: str) -> tuple[float, str, float]:
        """Score, matched rule and the threshold that decides: the detector's own (the one it was evaluated
        with, or ``[injection].threshold``), so what blocks is what was measured."""
        if self.detector is None:
            rule = rule_match(text)
            return (1.0 if rule else 0.0), rule, 0.5
        row = self.detector.predict(pd.DataFrame({"text": [text]})).iloc[0]
        return float(row["score"]), str(row["rule"]), float(self.detector.operating_threshold)


class OutputGuard:
    def __init__(self, settings: GuardrailSettings, encoder: SentenceEncoder | None = None) -> None:
        self.settings = settings
        self.encoder = encoder

    def screen(self, sentence: str, system_prompt: str = "") -> str | None:
        """One sentence of a streamed answer, before it is sent: the policy's text for it, or None when the
        policy withholds it (then nothing more of the answer should be sent)."""
        result = apply_policy(sentence, self.settings.blocked_phrases, system_prompt)
        return None if result.withheld else result.text

    def check(self, answer: str, passages: list[str], facts: dict[str, object], system_prompt: str = "") -> GuardedOutput:
        policy = apply_policy(answer, self.settings.blocked_phrases, system_prompt)
        events = [GuardEvent("output", "policy", v.action, f"{v.rule}: {v.detail}") for v in policy.violations]
        if policy.withheld:
            return GuardedOutput(policy.text, tuple(events), ())
        grounding = check_grounding(policy.text, passages, self.settings.grounding_threshold, self.encoder)
        for index in grounding.flagged:
            snippet = redact(grounding.sentences[index]).text[:_SNIPPET_CHARS]
            detail = (f"sentence {index + 1} has support {grounding.support[index]:.2f} < "
                      f"{self.settings.grounding_threshold} in the context: {snippet!r}")
            events.append(GuardEvent("output", "ungrounded", "flagged", detail))
        for mismatch in check_numbers(policy.text, facts, passages, self.settings.numeric_tolerance):
            nearest = f"; nearest ML fact {mismatch.nearest_fact}" if mismatch.nearest_fact else ""
            detail = f"{mismatch.number!r} matches no ML fact or context number{nearest}"
            events.append(GuardEvent("output", "numeric_mismatch", "flagged", detail))
        return GuardedOutput(policy.text, tuple(events), grounding.support)

"""The combiner: where the ML and GenAI paths say something about the same thing, reconcile them.

    conflicts = combine(results, answer)      # list[Conflict]: kind, detail, which side won and why

The ML results are measured on the request; the answer is written from retrieved passages. So where
they disagree the ML side wins on what it measured (figures, entities, the intent, the tone of the
message), and each disagreement is reported for the confidence scorer and a reviewer to weigh:
- number: a figure the answer states that matches no ML result or passage (the output guard's check);
- entity: a name the answer gives that is neither in the request's entities nor in its sources;
- intent_topic: a confident intent that none of the cited passages is about;
- tone: an upbeat answer to a message the sentiment model reads as negative.
"""

from __future__ import annotations

import re

from fusion.schemas import AskResponse, Conflict, PredictResults
from models.rag.sparse import analyse

#: a capitalised run of words (not at a sentence start) that reads as a name
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)+)\b")
_UPBEAT = re.compile(r"\b(great|awesome|fantastic|wonderful|glad|happy to|congratulations|excellent|exciting)\b|!", re.I)
#: an intent at least this confident should find its topic among the cited passages
INTENT_TOPIC_CONFIDENCE = 0.8


def combine(results: PredictResults, answer: AskResponse | None, passages: dict[str, str] | None = None) -> list[Conflict]:
    """``passages``: chunk id -> text of the passages the answer cites (for entities and topics)."""
    if answer is None or answer.generator == "guardrail":
        return []
    passages = passages or {}
    return [*_numbers(answer), *_entities(results, answer, passages), *_intent_topic(results, answer, passages),
            *_tone(results, answer)]


def _numbers(answer: AskResponse) -> list[Conflict]:
    return [Conflict(kind="number", detail=e.detail,
                     resolution="the ML results hold the measured figure; the answer's number is not to be relied on")
            for e in answer.guardrail_events if e.kind == "numeric_mismatch"]


def _entities(results: PredictResults, answer: AskResponse, passages: dict[str, str]) -> list[Conflict]:
    if results.ner is None:
        return []
    known = " ".join([*(e.text for e in results.ner), *passages.values()]).lower()
    named = dict.fromkeys(m.group(1) for m in _NAME.finditer(answer.answer))
    return [Conflict(kind="entity", detail=f"the answer names {name!r}, which is neither among the request's entities "
                     f"({', '.join(e.text for e in results.ner) or 'none'}) nor in the passages it cites",
                     resolution="NER on the request wins; the name is unsupported")
            for name in named if name.lower() not in known]


def _intent_topic(results: PredictResults, answer: AskResponse, passages: dict[str, str]) -> list[Conflict]:
    intent = results.intent
    if intent is None or intent.confidence < INTENT_TOPIC_CONFIDENCE or not answer.citations:
        return []
    intent_terms = set(analyse([intent.label.replace("_", " ")])[0])
    cited = [f"{c.title} {passages.get(c.chunk_id, '')}" for c in answer.citations]
    if not intent_terms or any(intent_terms & set(terms) for terms in analyse(cited)):
        return []
    return [Conflict(kind="intent_topic", detail=f"intent {intent.label!r} ({intent.confidence:.2f}) but none of the "
                     f"cited passages ({', '.join(c.doc_id for c in answer.citations)}) is about it",
                     resolution="the intent stands; the answer may address another topic")]


def _tone(results: PredictResults, answer: AskResponse) -> list[Conflict]:
    sentiment = results.sentiment
    if sentiment is None or sentiment.label != "negative" or not _UPBEAT.search(answer.answer):
        return []
    return [Conflict(kind="tone", detail=f"the message reads negative ({sentiment.confidence:.2f}) but the answer is upbeat",
                     resolution="the sentiment stands; the reply's tone should be reviewed")]

"""The combiner's reconciliations and the signals the confidence scorer reads, on hand-made results."""

from __future__ import annotations

import pytest

from fusion.combiner import combine
from fusion.schemas import (
    AskResponse,
    Citation,
    EntitySpan,
    GuardrailEvent,
    IntentPrediction,
    PredictRequest,
    PredictResults,
    SentimentPrediction,
)
from fusion.signals import part_signals


def _answer(text: str, titles: tuple[str, ...] = ("Freezing a lost or stolen card",), events=()) -> AskResponse:
    citations = [Citation(source_id=str(n), chunk_id=f"KB{n}#0", doc_id=f"KB{n}", title=t, source="kb.jsonl")
                 for n, t in enumerate(titles, 1)]
    return AskResponse(request_id="r", answer=text, generator="extractive", citations=citations,
                       guardrail_events=list(events))


def test_a_figure_the_ml_results_contradict_is_a_number_conflict_the_ml_side_wins() -> None:
    event = GuardrailEvent(stage="output", kind="numeric_mismatch", action="flagged", detail="'7' matches no ML fact")
    [conflict] = combine(PredictResults(), _answer("There were 7 alarms [1].", events=[event]))
    assert conflict.kind == "number" and "ML results" in conflict.resolution


def test_a_name_neither_in_the_request_nor_the_sources_is_an_entity_conflict() -> None:
    results = PredictResults(ner=[EntitySpan(label="PER", start=0, end=10, text="Maria Diaz", score=0.9)])
    passages = {"KB1#0": "Cards reported lost are blocked."}
    conflicts = combine(results, _answer("Thanks, Maria Diaz. Our agent John Smith will call you [1]."), passages)
    assert [c.kind for c in conflicts] == ["entity"] and "John Smith" in conflicts[0].detail
    assert combine(results, _answer("Thanks, Maria Diaz [1]."), passages) == []


def test_a_confident_intent_no_cited_passage_is_about_is_an_intent_topic_conflict() -> None:
    results = PredictResults(intent=IntentPrediction(label="refund_request", confidence=0.95))
    [conflict] = combine(results, _answer("Cards are blocked at once [1].", titles=("Freezing a lost or stolen card",)))
    assert conflict.kind == "intent_topic" and "refund_request" in conflict.detail
    assert combine(results, _answer("Refunds take 5 days [1].", titles=("How refunds work",))) == []
    unsure = PredictResults(intent=IntentPrediction(label="refund_request", confidence=0.4))
    assert combine(unsure, _answer("Cards are blocked at once [1].")) == []


def test_an_upbeat_reply_to_a_negative_message_is_a_tone_conflict() -> None:
    angry = PredictResults(sentiment=SentimentPrediction(label="negative", confidence=0.92))
    assert [c.kind for c in combine(angry, _answer("Great news! Your card is blocked [1]."))] == ["tone"]
    assert combine(angry, _answer("Your card is blocked [1].")) == []


def test_no_answer_means_nothing_to_reconcile() -> None:
    assert combine(PredictResults(intent=IntentPrediction(label="x", confidence=0.99)), None) == []


def test_part_signals_read_each_result() -> None:
    assert part_signals("intent", IntentPrediction(label="out_of_scope", confidence=0.3)) == {"p_self": 0.3, "abstained": 1.0}
    spans = [EntitySpan(label="PER", start=0, end=3, text="Ana", score=0.8), EntitySpan(label="ORG", start=4, end=7,
                                                                                     text="Acme", score=0.5)]
    ner = part_signals("ner", spans)
    assert ner["p_self"] == pytest.approx(0.4) and ner["span_score_min"] == 0.5 and ner["n_entities"] == 2
    assert part_signals("ner", []) == {"n_entities": 0.0}
    with pytest.raises(TypeError, match="no signals"):
        part_signals("intent", object())


@pytest.mark.parametrize("body, field", [
    ({}, "text, series, features"),
    ({"text": "   "}, "text, series, features"),
    ({"text": "hi", "tasks": ["translate"]}, "tasks"),
    ({"text": "hi", "tasks": []}, "tasks"),
    ({"features": {"amount": [1, 2]}}, "features"),
    ({"text": "hi", "unknown": 1}, "unknown"),
])
def test_bad_requests_name_the_field(body: dict, field: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as error:
        PredictRequest(**body)
    assert field in str(error.value)

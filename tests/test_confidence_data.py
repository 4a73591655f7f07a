"""The confidence scorer's training requests: harder copies keep their gold labels exact."""

from __future__ import annotations

import random

from fusion.confidence_data import NOISE_RATES, UNANSWERABLE, _noisy, sample_requests


def test_noise_replaces_letters_outside_the_entities_only() -> None:
    text = "This is Maria Garcia, order 48213 was charged twice."
    entities = [{"start": 8, "end": 20, "label": "PER", "text": "Maria Garcia"}, {"start": 28, "end": 33, "label": "ID", "text": "48213"}]
    noisy = _noisy(text, entities, 0.5, random.Random(0))
    assert len(noisy) == len(text) and noisy != text
    assert all(noisy[e["start"]:e["end"]] == e["text"] for e in entities)
    assert _noisy(text, entities, 0.0, random.Random(0)) == text


def test_sample_requests_cover_every_noise_rate_and_the_unanswerable_questions(settings) -> None:
    requests = sample_requests(settings, n_tickets=5, unanswerable=UNANSWERABLE[:3])
    assert len(requests) == 5 * len(NOISE_RATES) + 3
    tickets, questions = requests[:-3], requests[-3:]
    assert all(r.request.tasks == ["intent", "sentiment", "ner", "answer"] and r.gold["answer"] for r in tickets)
    assert all(r.request.tasks == ["answer"] and r.gold == {"answer": None} for r in questions)
    assert len({r.group for r in tickets}) == 5  # the noisy copies of a ticket share its group
    for labelled in tickets:
        assert all(labelled.request.text[start:end] for start, end, _ in labelled.gold["ner"])

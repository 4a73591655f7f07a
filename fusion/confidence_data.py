"""Training data for the confidence scorer: the real pipeline run on labelled requests it never saw,
each part's signals next to whether that part turned out right.

    frame = harvest(pipeline, sample_requests(settings))    # request_id, part, <signals>, req_*, correct
    splits = confidence_splits(frame, settings)             # whole requests held out for the test

Where the labels come from, per part (outcomes checked against gold, never the model's own say-so):
- intent, sentiment: the predicted label equals the gold label (an abstention is wrong);
- ner: the predicted spans equal the gold spans exactly (offsets and types);
- answer: for a question the knowledge base answers, it answered and cited an article of the
  question's topic; for one it does not, it said it could not find it.

The sample tickets are too easy to produce errors (the demo's models score near 1.0 on them), so
the default requests are fresh tickets (another seed: none was trained on) made harder: letters
outside the entities replaced at random (same length, so the gold spans stay exact), at several
rates, plus questions on the knowledge base's topics that it cannot answer. A scorer trained on
this learns how the signals relate to errors on this generator; train it on your own labelled
traffic (``hybrid train confidence --train``) for figures that hold on it.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from fusion.pipeline import HybridPipeline
from fusion.schemas import PredictRequest
from models.base import InputError
from models.llm.extractive import NO_ANSWER
from models.settings import HybridSettings
from training.datasets import DatasetSplits, sample_data_dir

#: share of letters outside the entities replaced, per harder copy of a ticket
NOISE_RATES = (0.0, 0.08, 0.16, 0.3)
#: fresh tickets: a seed the sample data (seed 7) and its models never used
HARVEST_SEED = 1013
#: on the sample knowledge base's topics, but nothing it says answers them
UNANSWERABLE = (
    "can I pay my invoice with bitcoin?", "do you accept payment in gold coins?", "can my dog open an account?",
    "can I order a card made of wood?", "is there a discount for left-handed customers?",
    "can I get my refund paid as gift vouchers for a cinema?", "do you deliver cards by drone to Antarctica?",
    "can I change the font of my monthly statement to Comic Sans?", "what is the wifi password in your branch lobby?",
    "can I pay my subscription with airline miles?", "do you offer a card that changes colour with the weather?",
    "can I transfer money to a prison inmate's account?", "will you refund me in Japanese yen cash at my door?",
    "can I freeze my card with a voice command on a smart fridge?", "do you give cashback on horse riding lessons?",
    "can my password be a photo of my cat?", "can I reset my password by sending a letter by pigeon?",
    "is my account insured against meteor strikes?", "can I get a refund for a concert that was too loud?",
    "do you sponsor amateur chess tournaments?", "can I pay with a cheque written on a napkin?",
    "can I move my subscription to my grandmother's smartwatch?", "what do your staff eat for lunch?",
    "can I book a meeting room in your head office for a birthday party?", "do you lend money for buying a submarine?",
    "can I open a joint account with my employer?", "does the app run on a 1998 Nokia phone?",
    "can I receive my salary in lottery tickets?", "can I pay with a voucher from a different bank?",
    "can you tell me tomorrow's lottery numbers?",
)


@dataclass(frozen=True)
class LabelledRequest:
    request: PredictRequest
    gold: dict[str, Any] = field(default_factory=dict)   # part -> what a right answer is
    group: str = ""                                      # requests made from one source stay on one side of a split


def sample_requests(settings: HybridSettings, n_tickets: int = 150, seed: int = HARVEST_SEED,
                    unanswerable: tuple[str, ...] = UNANSWERABLE) -> list[LabelledRequest]:
    """Fresh sample tickets at several noise rates (intent, sentiment, NER and an answer each), and
    ``unanswerable`` questions (an answer only)."""
    from training.sample_data import generate_tickets

    folder = sample_data_dir(settings)
    articles = pd.read_json(folder / "knowledge_base.jsonl", lines=True)
    docs_by_topic = articles.groupby("category")["doc_id"].apply(set).to_dict()
    tickets = generate_tickets(n=n_tickets, seed=seed)
    rng = random.Random(seed)
    requests = []
    for ticket in tickets.itertuples():
        for rate in NOISE_RATES:
            text = _noisy(ticket.text, ticket.entities, rate, rng)
            gold = {"intent": ticket.intent, "sentiment": ticket.sentiment, "ner": _spans(ticket.entities),
                    "answer": docs_by_topic.get(ticket.intent, set())}
            request = PredictRequest(text=text, tasks=["intent", "sentiment", "ner", "answer"])
            requests.append(LabelledRequest(request, gold, group=f"ticket-{ticket.ticket_id}"))
    for n, question in enumerate(unanswerable):
        requests.append(LabelledRequest(PredictRequest(text=question, tasks=["answer"]), {"answer": None}, f"question-{n}"))
    return requests


def sample_series(settings: HybridSettings, points: int | None = None) -> dict[str, Any]:
    """The first series of the sample data as a request's series (``SeriesIn`` fields), its first ``points``
    observations when given."""
    frame = pd.read_csv(sample_data_dir(settings) / "series.csv")
    one = frame[frame["series_id"] == frame["series_id"].iloc[0]]
    one = one if points is None else one.head(points)
    return {"series_id": str(one["series_id"].iloc[0]), "timestamps": one["timestamp"].tolist(),
            "values": one["value"].astype(float).tolist()}


def harvest(pipeline: HybridPipeline, requests: list[LabelledRequest], progress: bool = True) -> pd.DataFrame:
    """One row per part that ran and has a gold label: its signals, the request's, and ``correct``."""
    rows = []
    for n, labelled in enumerate(tqdm(requests, desc="harvesting confidence signals", unit="requests",
                                      disable=not progress)):
        outcome = pipeline.run(labelled.request)
        results = outcome.response.results
        for part, signals in outcome.signals.items():
            if part not in labelled.gold:
                continue
            correct = part_correct(part, labelled.gold[part], results, outcome.response.answer)
            rows.append({"request_id": f"r{n}", "group": labelled.group or f"r{n}", "part": part, **signals,
                         **outcome.request_signals, "correct": int(correct)})
    if not rows:
        raise InputError("confidence: no part ran with a gold label; train the capabilities first (`make demo`)")
    return pd.DataFrame(rows)


def confidence_splits(frame: pd.DataFrame, scorer, settings: HybridSettings, source: str) -> DatasetSplits:
    """Train/test by the scorer's holdout: whole groups (the noisy copies of one ticket) held out."""
    train, test = scorer.holdout(frame, settings.training.test_size, settings.training.seed)
    description = {"train_path": source, "test_path": f"held out {settings.training.test_size:.0%} of the requests",
                   "train_rows": str(len(train)), "test_rows": str(len(test)),
                   "parts": ",".join(sorted(frame["part"].unique()))}
    return DatasetSplits(train=train, test=test, description=description)


def part_correct(part: str, gold: Any, results, answer) -> bool:
    """Whether a part of a response is right against its gold (see the module docstring for each part)."""
    if part in ("intent", "sentiment"):
        return getattr(results, part).label == gold
    if part == "ner":
        return {(e.start, e.end, e.label) for e in results.ner} == gold
    if part == "answer":
        if gold is None:  # the knowledge base does not cover it: the right answer says so
            return answer.answer.strip() == NO_ANSWER
        return answer.answer.strip() != NO_ANSWER and any(c.doc_id in gold for c in answer.citations)
    raise InputError(f"confidence: no outcome check for part {part!r}")


def _spans(entities: list[dict]) -> set[tuple[int, int, str]]:
    return {(e["start"], e["end"], e["label"]) for e in entities}


def _noisy(text: str, entities: list[dict], rate: float, rng: random.Random) -> str:
    """``text`` with a ``rate`` share of its letters outside the entities replaced by random letters: the
    same length, so every gold span still points at its entity."""
    if rate == 0:
        return text
    protected = {i for e in entities for i in range(e["start"], e["end"])}
    chars = list(text)
    for i, ch in enumerate(chars):
        if ch.isalpha() and i not in protected and rng.random() < rate:
            chars[i] = rng.choice(string.ascii_lowercase)
    return "".join(chars)

"""A labelled set of prompts for the LLM router, generated offline: which tier is enough for each.

    frame = generate_router_prompts(seed=7)    # columns: text, tier, family
    frame.groupby(["tier", "family"]).size()

Tiers, weakest first: ``cheap`` (chit-chat and one-fact lookups), ``small`` (a support question one
help article answers), ``large`` (multi-step, comparative, analytical or multi-constraint work, and
explaining an ML result), and the specialist ``code`` (SQL, Python/pandas, regex, config files,
debugging a traceback). Every prompt is built from the project's own generators: real sample
tickets (``training.sample_data.generate_tickets``), their entity values (products, order IDs,
amounts, places), and the help articles' titles and facts (``generate_knowledge_base``), wrapped in
template families written for this set.

Where the labels come from: **by construction**. Each template family is assigned the weakest tier
the project *assumes* answers it well (a greeting needs no large model; comparing two plans across
articles does). No LLM answered these prompts and no answer was graded, so a label is an assumption
about sufficiency, not measured LLM quality. What that means for the metrics: routing accuracy says
how well a router recovers the family's tier; PGR, APGR and CPT(95%) (``models/llm/routing_metrics``)
turn those labels into a quality model (right tier or stronger = full quality, one tier too weak =
partial credit), so they measure agreement with these assumptions, not answer quality on a real
deployment. Relabel with graded answers from your own tiers (``hybrid train llm-router --train F``)
to measure the real thing.

The vocabulary overlaps across tiers on purpose, so keywords alone do not separate them: support
tickets mention "error code 402" (small, not code), "step by step" and "explain" appear in
single-article how-tos (small), code prompts talk about refunds and tickets, and short prompts can
be hard ("Premium or Business Plus for 4 people, yearly?") while long tickets can be easy. Families
(``family`` column) let a benchmark hold out whole template families to measure generalisation to
an unseen phrasing style rather than to unseen fillers of known templates.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from models.base import InputError
from models.settings import HybridSettings
from models.tables import read_table
from training.sample_data import generate_knowledge_base, generate_tickets

TIERS: tuple[str, ...] = ("cheap", "small", "large", "code")
#: template family -> (tier, rows generated)
FAMILIES: dict[str, tuple[str, int]] = {
    "greeting": ("cheap", 150),
    "contact": ("cheap", 120),
    "fact_lookup": ("cheap", 200),
    "yes_no": ("cheap", 130),
    "ticket": ("small", 400),
    "howto": ("small", 220),
    "policy": ("small", 180),
    "compare": ("large", 130),
    "multi_step": ("large", 130),
    "analysis": ("large", 110),
    "explain_ml": ("large", 120),
    "constrained": ("large", 110),
    "sql": ("code", 100),
    "python": ("code", 100),
    "regex": ("code", 70),
    "config": ("code", 70),
    "debug": ("code", 80),
}

_PLANS = ("Basic", "Premium", "Business Plus")
_INTENT_WORDS = ("refund_request", "card_lost", "order_status", "billing_dispute", "delivery_delayed",
                 "password_reset", "account_locked", "payment_failed", "close_account", "upgrade_plan")
_CHANNELS = ("email", "chat", "phone", "social")
_MONTHS = ("January", "March", "May", "July", "September", "November")


class _Pools:
    """Values drawn from the sample tickets and help articles, so prompts speak the project's domain."""

    def __init__(self, seed: int) -> None:
        tickets = generate_tickets(1200, seed)
        kb = generate_knowledge_base(seed)
        self.tickets = tickets
        self.titles = kb["title"].tolist()
        self.facts = [s.strip() + "." for body in kb["body"] for s in body.split(". ") if 30 < len(s) < 160]
        self.entities: dict[str, list[str]] = {}
        for spans in tickets["entities"]:
            for span in spans:
                self.entities.setdefault(span["label"], []).append(span["text"])
        for label in self.entities:
            self.entities[label] = sorted(set(self.entities[label]))

    def value(self, label: str, rng: random.Random) -> str:
        return rng.choice(self.entities[label])

    def ticket(self, rng: random.Random) -> pd.Series:
        return self.tickets.iloc[rng.randrange(len(self.tickets))]


def _pick(rng: random.Random, *options: str) -> str:
    return rng.choice(options)


def _topic(title: str) -> str:
    return title[0].lower() + title[1:].rstrip("?")


# ---- cheap ---------------------------------------------------------------------------------
def _greeting(p: _Pools, rng: random.Random) -> str:
    return _pick(
        rng, "hi", "hello", "hey there", "good morning", "hi, anyone there?", "thanks!", "thank you so much",
        "ok thanks, that's all", "cheers", "bye", "great, thanks for your help", "how are you today?",
        "are you a bot?", "is this a real person?", "hello :)", "thx", "perfect, that worked",
        "good evening, just saying hi", "you've been very helpful", "nice, thank you", "ok", "sounds good",
        "what's your name?", "can I talk to a human?", "hello again", "morning!", "lol ok",
    ) + _pick(rng, "", "", "", " :)", "!", " 👍")


def _contact(p: _Pools, rng: random.Random) -> str:
    return _pick(
        rng, "what are your opening hours?", "when is chat support open?", "what's the phone number for the card security line?",
        "is support open on {day}?", "what's your support email?", "where is the help section in the app?",
        "what time does chat close?", "do you have a phone number I can call?", "what's the address of your office in {LOC}?",
        "is there an app for android?", "how do I contact support?", "who do I call about a lost card?",
        "is the security line open at night?", "what are support hours on weekends?",
    ).format(day=_pick(rng, "Sunday", "Saturday", "public holidays", "Christmas day"), LOC=p.value("LOC", rng))


def _fact_lookup(p: _Pools, rng: random.Random) -> str:
    return _pick(
        rng, "how much is {PLAN}?", "what does {PLAN} cost per month?", "how long is the reset link valid?",
        "how long do refunds take?", "what's the return window?", "how many shipping addresses can I save?",
        "how much is a replacement card?", "how long does standard delivery take?", "what's the express shipping fee?",
        "how much storage does {PLAN} include?", "what's the minimum password length?", "how long is the free trial?",
        "how many reset links can I request per hour?", "how long does a card take to arrive?",
        "what's the student discount?", "how long do you keep invoices?", "what is the fee to redirect a parcel?",
        "minimum users for Business Plus?", "how many failed logins before a lock?", "annual discount on {PLAN}?",
        "how long does an account stay locked?", "price of {PLAN}?", "what's the return label fee?",
    ).format(PLAN=rng.choice(_PLANS))


def _yes_no(p: _Pools, rng: random.Random) -> str:
    return _pick(
        rng, "do you ship to {LOC}?", "can I pay with PayPal?", "do you accept American Express?", "is there a student discount?",
        "can I use a prepaid card?", "is freezing my card free?", "do you deliver on weekends?", "can I have two accounts?",
        "is there a free trial of {PLAN}?", "do you have gift cards?", "is express delivery available to {LOC}?",
        "can I pay by bank transfer?", "do refunds go back to my card?", "is the {PRODUCT} in stock?",
        "does {PLAN} include priority support?", "can I change my email address?", "do you sell the {PRODUCT}?",
    ).format(LOC=p.value("LOC", rng), PLAN=rng.choice(_PLANS), PRODUCT=p.value("PRODUCT", rng))


# ---- small ---------------------------------------------------------------------------------
def _ticket(p: _Pools, rng: random.Random) -> str:
    return str(p.ticket(rng)["text"])


def _howto(p: _Pools, rng: random.Random) -> str:
    task = _pick(
        rng, "freeze my card", "order a replacement card", "reset my password", "change my shipping address",
        "cancel an order", "track my order", "start a return", "dispute a charge", "unlock my account",
        "upgrade to {PLAN}", "close my account", "update my payment method", "download an invoice",
        "turn on two-factor authentication", "report a faulty {PRODUCT}", "cancel my membership",
    ).format(PLAN=rng.choice(_PLANS), PRODUCT=p.value("PRODUCT", rng))
    return _pick(
        rng, "how do I {t}?", "how can I {t} in the app?", "step by step, how do I {t}?", "can you explain how to {t}?",
        "what's the process to {t}?", "I'm on {PLAN}, how do I {t}?", "where do I go to {t}?",
        "I need to {t}, what do I do?", "walk me through how to {t} please", "is it possible to {t} online?",
    ).format(t=task, PLAN=rng.choice(_PLANS))


def _policy(p: _Pools, rng: random.Random) -> str:
    title = rng.choice(p.titles)
    return _pick(
        rng, "can you explain {topic}?", "what's your policy on {topic}?", "summarise the help article '{title}' for me",
        "I read '{title}' but I'm still confused, what does it mean for me?", "what should I know about {topic}?",
        "tell me about {topic}", "explain {topic} in simple words", "quick question about {topic}: how does it work?",
        "what happens with {topic} if I'm in {LOC}?", "what are the rules for {topic}?",
    ).format(topic=_topic(title), title=title, LOC=p.value("LOC", rng))


# ---- large ---------------------------------------------------------------------------------
def _compare(p: _Pools, rng: random.Random) -> str:
    a, b = rng.sample(_PLANS, 2)
    people, years = rng.randint(2, 40), rng.randint(1, 3)
    return _pick(
        rng, "Compare {a} and {b} for a team of {n}: which is cheaper over {y} years with annual billing, and what do we lose?",
        "{a} or {b} for {n} people, yearly?",
        "what's the difference between standard and express replacement cards, and when is express worth it if I'm in {LOC}?",
        "compare a refund with a replacement for a faulty {PRODUCT}: cost, speed and what happens to the warranty",
        "Is it better to cancel order {ORDER_ID} or wait and return it? Compare fees and how long the money takes to come back.",
        "compare disputing a {MONEY} charge with you versus filing a chargeback with my bank, pros and cons",
        "weigh up upgrading to {b} now versus at the end of the billing period, including proration and the {y}-year cost",
        "which is cheaper for {n} users over {y} years: {a} monthly or {b} annually? show the arithmetic",
        "should I close my account or downgrade to Basic? compare what happens to my data, invoices and store credit",
        "pros and cons of redirecting my parcel versus refusing delivery for order {ORDER_ID}",
    ).format(a=a, b=b, n=people, y=years, LOC=p.value("LOC", rng), PRODUCT=p.value("PRODUCT", rng),
             ORDER_ID=p.value("ORDER_ID", rng), MONEY=p.value("MONEY", rng))


def _multi_step(p: _Pools, rng: random.Random) -> str:
    first, second = p.ticket(rng), p.ticket(rng)
    while second["intent"] == first["intent"]:
        second = p.ticket(rng)
    ask = _pick(
        rng, "Which of these should I deal with first, and what are the steps for each?",
        "Give me a plan, in order, that fixes both without being charged twice.",
        "What do I need to do, in what order, and how long will all of it take?",
        "Work out whether the second problem is caused by the first and tell me what to do.",
        "Please handle both and tell me the deadlines I must not miss.",
    )
    return f"{first['text']}\n\nAlso: {second['text']}\n\n{ask}"


def _analysis(p: _Pools, rng: random.Random) -> str:
    if rng.random() < 0.5:
        tickets = [p.ticket(rng)["text"].replace("\n", " ") for _ in range(rng.randint(2, 4))]
        listed = "\n".join(f"{i + 1}) {t}" for i, t in enumerate(tickets))
        ask = _pick(
            rng, "Group these tickets by root cause and say which policy change would prevent most of them.",
            "Analyse these tickets: what do they have in common, and what should the support team change?",
            "Rank these by urgency and explain your reasoning for each.",
            "Which of these customers is most likely to churn, and why?",
        )
        return f"{ask}\n{listed}"
    return _pick(
        rng, "Refund requests rose {k}% in {m} while order volume was flat. What could explain it and how would we check?",
        "analyse why {i} tickets doubled after the {m} app release and propose three hypotheses we can test",
        "Our {c} channel has twice the negative sentiment of {c2}. Think through the likely causes and what data would confirm each.",
        "Estimate the yearly cost of refunding the ${f} express fee on late deliveries if {k}% of 30,000 express orders are late, and say what assumptions matter most.",
        "why would billing disputes spike at the start of each month? reason it through using how invoices and pending authorisations work",
    ).format(k=rng.randint(12, 80), m=rng.choice(_MONTHS), i=rng.choice(_INTENT_WORDS), c=rng.choice(_CHANNELS),
             c2=rng.choice(_CHANNELS), f="9.99")


def _explain_ml(p: _Pools, rng: random.Random) -> str:
    ticket = p.ticket(rng)
    confidence = rng.uniform(0.35, 0.97)
    other = rng.choice([i for i in _INTENT_WORDS if i != ticket["intent"]])
    return _pick(
        rng, "The intent model labelled this ticket {i} with confidence {c:.2f}: \"{t}\". Explain why it might have chosen that, and whether a human should review it.",
        "Why would the classifier say {o} instead of {i} for: \"{t}\"? What in the text could mislead it?",
        "sentiment came out {s} for \"{t}\" but the customer sounds different to me. explain what the model may be picking up on",
        "The anomaly detector flagged a spike in {i} tickets on {d}. Explain what the score means and what we should check before acting.",
        "the forecast says next week's volume is {k}% above this week with a wide 95% interval. explain what that means for staffing and how much to trust it",
        "Explain to a non-technical manager why the router sent \"{t}\" to the large model, and whether that was worth the cost.",
        "The model gave {i} {c:.0%} and {o} {c2:.0%} for the same ticket. Interpret these numbers and recommend a threshold.",
    ).format(i=ticket["intent"], o=other, c=confidence, c2=1 - confidence, t=ticket["text"].replace("\n", " "),
             s=ticket["sentiment"], d=p.value("DATE", rng), k=rng.randint(5, 60))


def _constrained(p: _Pools, rng: random.Random) -> str:
    ticket = p.ticket(rng)["text"].replace("\n", " ")
    fact = rng.choice(p.facts)
    return _pick(
        rng, "Write a reply to this customer in under {w} words, formal tone, mention that \"{f}\", do not promise a refund, and end with a question: \"{t}\"",
        "Draft an apology for \"{t}\" that is friendly but not grovelling, cites the relevant policy, offers one concrete next step, and fits in an SMS.",
        "reply to \"{t}\" in {lang}, keep it under {w} words, include the fact \"{f}\" and no emojis",
        "Rewrite our policy \"{f}\" so a 12-year-old understands it, keep every number exactly, and add one example.",
        "Write three alternative replies to \"{t}\": one empathetic, one brief, one that escalates, each under {w} words and each quoting the policy.",
    ).format(w=rng.choice((50, 60, 80, 100, 120)), f=fact, t=ticket, lang=rng.choice(("French", "Spanish", "German", "plain English")))


# ---- code ----------------------------------------------------------------------------------
def _sql(p: _Pools, rng: random.Random) -> str:
    return _pick(
        rng, "Write a SQL query that counts tickets per intent for the last {n} days from tickets(ticket_id, channel, intent, created_at).",
        "sql to find customers with more than {k} refund requests this year",
        "give me a postgres query joining orders and refunds to show the average refund time per month",
        "SELECT the top {k} products by number of product_defect tickets, with a window function for the rank",
        "write a query that finds duplicate charges: same customer, same amount, within 1 hour",
        "how do I write a GROUP BY over channel and sentiment with the share of negative tickets?",
        "sqlite query to delete tickets older than {n} days but keep open disputes",
        "what's wrong with this SQL: SELECT intent, count(*) FROM tickets WHERE created_at > now() - 30 GROUP BY 1 ORDER BY count DESC",
    ).format(n=rng.choice((7, 30, 90)), k=rng.randint(2, 10))


def _python(p: _Pools, rng: random.Random) -> str:
    return _pick(
        rng, "Write a Python function that parses order IDs like {ORDER_ID} out of a ticket and returns them as a list.",
        "pandas: how do I compute the weekly share of refund_request tickets per channel from a DataFrame with columns text, intent, channel, created_at?",
        "write a python script that reads tickets.jsonl and prints the 5 most common intents",
        "convert amounts like {MONEY} to floats in python, handling currency symbols and thousand separators",
        "write a pytest test for a function refund_due(order) that returns True within 30 days of delivery",
        "implement exponential backoff with jitter in python for calls to our refunds API",
        "give me a python dataclass for a support ticket with validation of the order id",
        "write a function that splits a long ticket into sentences and keeps the offsets",
    ).format(ORDER_ID=p.value("ORDER_ID", rng), MONEY=p.value("MONEY", rng))


def _regex(p: _Pools, rng: random.Random) -> str:
    return _pick(
        rng, "regex that matches order IDs like {ORDER_ID}", "Give me a regular expression for amounts like {MONEY}.",
        "regex to pull dates like {DATE} out of a ticket", "write a regex that masks card numbers but keeps the last 4 digits",
        "why doesn't my regex \\d{{3}}-\\d+ match {ORDER_ID}?", "regex for UK postcodes please",
        "a pattern to detect email addresses in tickets so we can redact them",
    ).format(ORDER_ID=p.value("ORDER_ID", rng), MONEY=p.value("MONEY", rng), DATE=p.value("DATE", rng))


def _config(p: _Pools, rng: random.Random) -> str:
    return _pick(
        rng, "Write the hybrid.toml section that sets the {t} tier to a vLLM server on port {port}.",
        "docker-compose file for redis and the support service, with a healthcheck",
        "give me a kubernetes deployment yaml with 2 replicas, readiness probe on /readyz and 512Mi memory limit",
        "nginx config to proxy /v1 to 127.0.0.1:{port} with a 60s timeout",
        "write a GitHub Actions workflow that runs pytest on python 3.11",
        "systemd unit file for the scoring job that restarts on failure",
        "YAML for a cron job that retrains the intent model every Monday at 02:00",
    ).format(t=rng.choice(("cheap", "small", "large")), port=rng.choice((8000, 8080, 3000, 11434)))


def _debug(p: _Pools, rng: random.Random) -> str:
    return _pick(
        rng, "I get KeyError: 'intent' on df.groupby('intent').size() after reading tickets.csv, why?",
        "Traceback (most recent call last):\n  File \"refunds.py\", line {n}, in <module>\n    total = sum(r['amount'] for r in refunds)\nTypeError: unsupported operand type(s) for +: 'int' and 'str'\nhow do I fix it?",
        "my python code returns None instead of the refund amount:\ndef refund(order):\n    if order.days < 30:\n        order.amount",
        "ValueError: could not convert string to float: '{MONEY}' when loading the payments csv",
        "why does my async call to the refunds API hang forever? I use requests inside an async def",
        "the json.loads on the webhook body fails with JSONDecodeError: Expecting value: line 1 column 1",
    ).format(n=rng.randint(10, 300), MONEY=p.value("MONEY", rng))


_BUILDERS: dict[str, Callable[[_Pools, random.Random], str]] = {
    "greeting": _greeting, "contact": _contact, "fact_lookup": _fact_lookup, "yes_no": _yes_no,
    "ticket": _ticket, "howto": _howto, "policy": _policy,
    "compare": _compare, "multi_step": _multi_step, "analysis": _analysis, "explain_ml": _explain_ml,
    "constrained": _constrained,
    "sql": _sql, "python": _python, "regex": _regex, "config": _config, "debug": _debug,
}


_OPENERS = ("", "", "", "", "", "", "hi, ", "hey - ", "quick question: ", "hello, ", "sorry, ", "one more thing: ")
_CLOSERS = ("", "", "", "", "", "", " thanks", " thanks!", " pls", " cheers", " thank you")


def _styled(text: str, rng: random.Random) -> str:
    """Chat-style noise shared by every tier: an opener or a closer, lowercase or a capital first letter."""
    text = rng.choice(_OPENERS) + text + rng.choice(_CLOSERS)
    roll = rng.random()
    if roll < 0.2:
        return text.lower()
    if roll < 0.6:
        return text[:1].upper() + text[1:]
    return text


def generate_router_prompts(seed: int = 7) -> pd.DataFrame:
    """Prompts labelled with the weakest tier assumed to answer them well (see the module docstring).

    Same seed, same rows. Duplicates within a family are dropped, so family sizes are approximate.
    """
    rng = random.Random(seed)
    pools = _Pools(seed)
    rows: list[dict[str, str]] = []
    for family, (tier, n) in FAMILIES.items():
        seen: set[str] = set()
        for _ in range(n * 4):  # templates x fillers repeat sometimes; a few extra draws keep families near n
            if len(seen) >= n:
                break
            text = _styled(_BUILDERS[family](pools, rng).strip(), rng)
            if text not in seen:
                seen.add(text)
                rows.append({"text": text, "tier": tier, "family": family})
    frame = pd.DataFrame(rows, columns=["text", "tier", "family"])
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def load_examples(settings: HybridSettings) -> pd.DataFrame:
    """The similarity router's example utterances: ``[router] examples`` (JSONL/CSV/Parquet with text and
    tier), or the project's labelled prompt set."""
    from training.datasets import sample_data_dir

    path = Path(settings.router.examples) if settings.router.examples else sample_data_dir(settings) / "router_prompts.jsonl"
    if not path.exists():
        raise InputError(f"[router] examples: {path} not found; point it at a file of (text, tier) rows")
    frame = read_table(path)
    missing = [c for c in ("text", "tier") if c not in frame.columns]
    if missing:
        raise InputError(f"[router] examples: {path} lacks column(s) {missing}; it has {list(frame.columns)}")
    return frame[["text", "tier"]]

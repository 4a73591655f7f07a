"""A labelled set of requests for the input classifier (``dispatcher``): which paths each one needs.

    frame = generate_dispatch_requests(seed=7)   # text, has_series, series_length, has_features, labels, family, path
    frame.groupby(["path", "family"]).size()

A request is what ``/predict`` receives: optional text, an optional time series (only its presence
and length are seen here) and an optional row of tabular features. The labels are the paths it
needs, multi-label over ``answer`` (the GenAI/RAG path), ``intent``, ``sentiment``, ``ner``,
``anomaly``, ``forecast`` and ``tabular_anomaly``. Labels come **by construction** from each
template family (``family`` column), under these rules:

- **genai** (labels ``["answer"]``): a question or instruction that needs language (answer from
  the knowledge base, explain, summarise, draft, translate, write code), with no structured data,
  no explicit ML task, and nothing an ML model should report (calm wording, no named people,
  organisations, amounts or places).
- **ml** (no ``answer``): structured input with no question (a bare or merely captioned series ->
  ``anomaly`` + ``forecast``; a bare feature row -> ``tabular_anomaly``; both -> all three), or
  explicit ML tasks: "classify the intent of ..." -> ``intent``; "extract the entities ..." ->
  ``ner``; "sentiment only" / "how does this customer feel" -> ``sentiment``; "forecast ..." with a
  series -> ``forecast``; "flag anomalies ..." with a series -> ``anomaly``; "score this row" / "is
  this transaction unusual" with features -> ``tabular_anomaly``; combinations of these. An
  explicit task names exactly what runs: the quoted message inside it is payload, so its wording
  adds no label.
- **both**: structured input plus a request to explain, summarise or advise ("why did sales drop
  and what should we do?" with a series -> ``answer`` + ``anomaly`` + ``forecast``; "explain the
  spike" -> ``answer`` + ``anomaly``; "how many staff will we need next month?" -> ``answer`` +
  ``forecast``; "why was this row flagged?" with features -> ``answer`` + ``tabular_anomaly``); or
  a customer message that asks something and carries what ML should report: a strongly emotional
  message (anger, or gushing praise; capitals, "!!!") -> + ``sentiment``; named people,
  organisations, amounts or places -> + ``ner``; or an explicit ML task plus a language task
  ("classify this and draft a reply" -> ``intent`` + ``answer``).

``anomaly`` and ``forecast`` never appear without a series, ``tabular_anomaly`` never without
features. ``path`` is ``genai`` (only ``answer``), ``ml`` (no ``answer``) or ``both``. Domains go
beyond banking: retail, telecom, utilities, healthcare administration, SaaS operations, logistics,
HR and travel. Families differ in phrasing, so a benchmark can hold whole families out and
measure generalisation to an unseen style of request rather than to new fillers of known templates.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pandas as pd

LABELS: tuple[str, ...] = ("answer", "intent", "sentiment", "ner", "anomaly", "forecast", "tabular_anomaly")
SERIES_LABELS: tuple[str, ...] = ("anomaly", "forecast")
FEATURE_LABELS: tuple[str, ...] = ("tabular_anomaly",)


def path_of(labels: list[str] | tuple[str, ...]) -> str:
    """``genai`` (only answer), ``ml`` (no answer) or ``both``."""
    if "answer" in labels:
        return "genai" if len(labels) == 1 else "both"
    return "ml"


# ---- pools -------------------------------------------------------------------------------------
_DOMAINS: dict[str, dict[str, tuple[str, ...]]] = {
    "banking": {
        "thing": ("card", "savings account", "direct debit", "loan application", "overdraft", "wire transfer"),
        "task": ("freeze my card", "raise my overdraft limit", "set up a standing order", "close a savings account",
                 "dispute a card payment", "change my PIN"),
        "metric": ("card transactions", "daily withdrawals", "login attempts", "chargebacks", "deposits"),
        "topic": ("the overdraft policy", "international transfer fees", "the card replacement process", "interest on savings"),
    },
    "retail": {
        "thing": ("order", "return", "gift card", "loyalty points", "delivery slot", "store credit"),
        "task": ("return a jacket", "change my delivery address", "use a discount code", "cancel an order",
                 "redeem loyalty points", "exchange a pair of shoes"),
        "metric": ("online sales", "store footfall", "basket size", "returns", "checkout conversions"),
        "topic": ("the returns policy", "price matching", "click and collect", "the loyalty programme"),
    },
    "telecom": {
        "thing": ("mobile plan", "SIM card", "broadband router", "roaming bundle", "phone contract", "data allowance"),
        "task": ("port my number", "activate roaming", "upgrade my phone", "cap my data usage", "replace a SIM",
                 "move my broadband to a new address"),
        "metric": ("dropped calls", "data usage", "network latency", "support calls", "new activations"),
        "topic": ("the fair usage policy", "early termination fees", "roaming charges", "contract upgrades"),
    },
    "utilities": {
        "thing": ("meter reading", "energy bill", "tariff", "smart meter", "water bill", "payment plan"),
        "task": ("submit a meter reading", "switch to a fixed tariff", "set up a payment plan", "report a gas leak",
                 "move my account to a new home", "get a smart meter fitted"),
        "metric": ("electricity consumption", "gas usage", "water flow", "kWh per household", "outage reports"),
        "topic": ("estimated bills", "the priority services register", "standing charges", "the warm home discount"),
    },
    "healthcare": {
        "thing": ("appointment", "referral", "prescription refill", "insurance claim", "patient record", "test result"),
        "task": ("reschedule an appointment", "request a prescription refill", "update my insurance details",
                 "get a copy of my records", "register a new patient", "cancel a referral"),
        "metric": ("clinic bookings", "no-show rates", "waiting times", "claims submitted", "ER admissions"),
        "topic": ("the cancellation policy for appointments", "how referrals work", "pre-authorisation", "patient privacy"),
    },
    "saas": {
        "thing": ("workspace", "API key", "subscription", "SSO setup", "webhook", "seat licence"),
        "task": ("rotate an API key", "add a seat", "enable single sign-on", "downgrade my subscription",
                 "export workspace data", "configure a webhook"),
        "metric": ("API error rates", "request latency", "active users", "CPU load", "failed jobs"),
        "topic": ("the uptime SLA", "rate limits", "data retention", "seat-based billing"),
    },
    "logistics": {
        "thing": ("shipment", "parcel", "freight booking", "customs form", "pallet", "delivery window"),
        "task": ("redirect a parcel", "book a pickup", "file a damage claim", "change a delivery window",
                 "track a freight container", "print a customs label"),
        "metric": ("parcels shipped", "on-time deliveries", "warehouse throughput", "fuel costs", "late pickups"),
        "topic": ("liability for damaged goods", "customs duties", "the pickup cut-off", "dangerous goods rules"),
    },
    "hr": {
        "thing": ("payslip", "holiday request", "pension contribution", "onboarding checklist", "expense claim", "timesheet"),
        "task": ("request parental leave", "submit an expense claim", "change my bank details for payroll",
                 "book annual leave", "enrol in the pension scheme", "correct a timesheet"),
        "metric": ("overtime hours", "sick days", "applications received", "attrition", "headcount"),
        "topic": ("the parental leave policy", "remote work rules", "the expenses policy", "probation reviews"),
    },
    "travel": {
        "thing": ("flight booking", "hotel reservation", "seat upgrade", "baggage allowance", "travel insurance", "boarding pass"),
        "task": ("change my flight", "add checked baggage", "cancel a hotel booking", "request a refund for a delayed flight",
                 "pick a seat", "add a passenger to a booking"),
        "metric": ("bookings", "cancellations", "hotel occupancy", "check-in times", "ticket sales"),
        "topic": ("the cancellation policy", "compensation for delays", "baggage rules", "fare classes"),
    },
}
_PEOPLE = ("Maria Lopez", "John Smith", "Priya Patel", "Chen Wei", "Fatima Khan", "Lukas Becker", "Aisha Bello",
           "Tom O'Brien", "Sofia Rossi", "Kenji Tanaka", "Olivia Brown", "Diego Fernandez", "Emma Dubois", "Raj Mehta")
_ORGS = ("Acme Corp", "Globex", "Northwind Traders", "BrightPath Energy", "Helix Health", "Skyline Airways",
         "Vertex Telecom", "Bluefin Logistics", "Initech", "Summit Bank", "Orbit Retail", "Cobalt Cloud")
_PLACES = ("Denver", "Madrid", "Leeds", "Toronto", "Mumbai", "Berlin", "Lagos", "Osaka", "Lyon", "Austin",
           "Dublin", "Sao Paulo", "Warsaw", "Melbourne")
_MONEY = ("$250", "€1,200", "£89.99", "$3,400", "€45", "£600", "$19.99", "USD 720", "€310.50", "$1,050")
_LANGS = ("Spanish", "French", "German", "Portuguese", "Japanese", "Italian", "Polish", "Hindi")
_PERIODS = ("week", "month", "quarter", "fortnight", "30 days", "7 days", "two weeks")
_HORIZONS = ("the next 7 days", "next week", "the next 30 days", "next month", "the next quarter",
             "the coming 14 days", "the next 48 hours", "the rest of the year")
_CODE_TASKS = ("a SQL query that counts {metric} per day", "a Python function that parses a CSV of {metric}",
               "a regex that matches order numbers like AB-12345", "a pandas snippet that groups {metric} by region",
               "a bash one-liner to find the largest log files", "a YAML config for a nightly export of {metric}",
               "a JavaScript function that validates an email field", "unit tests for a function that rounds prices")


class _Ctx:
    """One draw of a domain and its fillers."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.domain = rng.choice(sorted(_DOMAINS))
        pool = _DOMAINS[self.domain]
        self.thing, self.task = rng.choice(pool["thing"]), rng.choice(pool["task"])
        self.metric, self.topic = rng.choice(pool["metric"]), rng.choice(pool["topic"])
        self.person, self.org = rng.choice(_PEOPLE), rng.choice(_ORGS)
        self.place, self.money = rng.choice(_PLACES), rng.choice(_MONEY)
        self.period, self.horizon, self.lang = rng.choice(_PERIODS), rng.choice(_HORIZONS), rng.choice(_LANGS)

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def fill(self, template: str) -> str:
        return template.format(thing=self.thing, task=self.task, metric=self.metric, topic=self.topic,
                               person=self.person, org=self.org, place=self.place, money=self.money,
                               period=self.period, horizon=self.horizon, lang=self.lang, domain=self.domain)


def _calm_message(c: _Ctx) -> str:
    """A customer message with no strong emotion and no named entities: payload for explicit ML tasks."""
    return c.fill(c.pick(
        "I would like to {task}, please.", "can you help me {task}?", "my {thing} has not updated since yesterday",
        "I need to {task} before the end of the {period}", "the app shows an error when I try to {task}",
        "hello, I'm trying to {task} but I can't find the option", "please cancel my {thing}",
        "my {thing} seems to be wrong this {period}", "how long does it take to {task}?",
        "I was charged twice for my {thing}", "where can I see my {thing}?", "thanks, the {thing} works now",
    ))


def _emotional(c: _Ctx) -> str:
    """A strongly emotional opener (mostly anger, some gushing praise)."""
    return c.fill(c.pick(
        "This is absolutely UNACCEPTABLE!!!", "I am furious.", "Third time I'm writing and NOBODY answers!!",
        "Worst service I have ever had.", "I'm so angry right now.", "Honestly disgusted with you people.",
        "You have ruined my {period}!", "I am fed up, sick and tired of this!!", "This is a joke, a total disgrace.",
        "I'm livid. Absolutely livid.", "Are you KIDDING me?!", "I've never been so frustrated in my life!",
        "You are the WORST {domain} company ever.", "I'm in tears, this is a nightmare.",
        "Wow, you guys are AMAZING!!!", "I absolutely love your team, best support ever!!",
        "Ridiculous. Pathetic. Again!", "I'm beyond angry, I'm done with you!!!",
    ))


def _entities(c: _Ctx) -> str:
    """A clause naming people, organisations, amounts or places."""
    return c.fill(c.pick(
        "I'm {person} from {org}", "my name is {person} and I live in {place}", "{org} charged me {money}",
        "{person} at your {place} office promised a refund of {money}", "I paid {money} in {place}",
        "I'm writing on behalf of {org} in {place}", "my manager {person} approved {money}",
        "this is {person}, account holder at {org}", "{person} was billed {money} for the {thing}",
        "our {place} branch of {org} was charged {money}",
    ))


def _ask(c: _Ctx) -> str:
    """A calm question a knowledge-base answer settles."""
    return c.fill(c.pick(
        "how do I {task}?", "can you tell me how to {task}?", "what is {topic}?", "what are the steps to {task}?",
        "is it possible to {task} online?", "what happens to my {thing} if I {task}?", "how long does it take to {task}?",
        "what should I do about my {thing}?", "can I {task} from the app?", "who do I contact to {task}?",
    ))


def _series_caption(c: _Ctx) -> str:
    return c.fill(c.pick(
        "hourly {metric}", "{metric}, last {period}", "daily {metric} export", "{metric} (site 3)", "{metric}.csv",
        "meter 4411", "{metric} per region", "telemetry dump", "{metric} - raw", "attached: {metric}",
    ))


# ---- families ----------------------------------------------------------------------------------
# Each returns the text; the family table below fixes its structure and labels.
def _kb_question(c: _Ctx) -> str:
    return c.pick("", "Hi, ", "Hello, ", "Quick one: ", "Good morning, ") + _ask(c)


def _explain_policy(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Can you explain {topic} to me?", "Explain {topic} in plain words.", "What does {topic} mean for customers?",
        "I don't understand {topic}, could you clarify?", "Please explain how {topic} works.",
        "Give me a simple explanation of {topic}.", "What's the reasoning behind {topic}?",
    ))


def _summarise_doc(c: _Ctx) -> str:
    body = c.fill(c.pick(
        "Customers may {task} within 30 days. Fees apply after that. Exceptions are reviewed case by case.",
        "The {thing} must be renewed yearly. Reminders go out a month before. Late renewals incur a fee.",
        "Section 4: {topic}. Requests are handled in order of receipt and confirmed by email.",
    ))
    return c.pick("Summarise this: ", "Summarize the following for a customer:\n", "TL;DR please: ",
                  "Give me the key points of this text: ", "Can you sum this up in two lines? ") + body


def _draft_message(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Draft an email to a customer explaining how to {task}.", "Write a polite reply about {topic}.",
        "Compose a short notice telling customers about changes to {topic}.",
        "Draft a message reminding users to {task} before the end of the {period}.",
        "Write an FAQ entry on how to {task}.", "Please write a friendly apology for a delay with a {thing}.",
        "Could you draft a newsletter paragraph about {topic}?",
    ))


def _translate(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Translate into {lang}: '" , "Please translate this to {lang}: \"", "How do you say this in {lang}? '",
        "Render this sentence in {lang}: '",
    )) + _calm_message(c) + c.pick("'", "\"", "")


def _write_code(c: _Ctx) -> str:
    task = c.fill(c.rng.choice(_CODE_TASKS))
    return c.pick("Write ", "Can you write ", "I need ", "Generate ", "Show me ") + task + c.pick("", ".", "?", " please")


def _compare_options(c: _Ctx) -> str:
    a, b = c.rng.sample(list(_DOMAINS[c.domain]["thing"]), 2)
    return c.pick("What's the difference between a {a} and a {b}?", "Which is better for me, a {a} or a {b}?",
                  "Compare the {a} with the {b}, pros and cons.", "Should I choose a {a} or a {b}?").format(a=a, b=b)


def _troubleshoot(c: _Ctx) -> str:
    return c.fill(c.pick(
        "My {thing} isn't working, what can I try?", "I keep getting an error when I {task}; any ideas?",
        "The page freezes whenever I try to {task}. What should I check?",
        "Nothing happens when I click to {task}, is there a workaround?",
        "Why would my {thing} show as pending for so long?",
    ))


def _bare_series(c: _Ctx) -> str:
    return ""


def _captioned_series(c: _Ctx) -> str:
    return _series_caption(c)


def _bare_features(c: _Ctx) -> str:
    return c.pick("", "", "", "row 17", "record attached", "{}", "features")


def _bare_both(c: _Ctx) -> str:
    return c.pick("", "", "data attached", "readings + account row")


def _classify_intent(c: _Ctx) -> str:
    return c.pick("Classify the intent of this message: ", "What is the intent here? ", "Intent only: ",
                  "Tag the intent: ", "Which intent category does this fall into? ", "intent classification -> ",
                  "Label this ticket with its intent: ") + "\"" + _calm_message(c) + "\""


def _extract_entities(c: _Ctx) -> str:
    payload = c.fill(c.pick("{person} from {org} paid {money} in {place}", "Invoice for {org}, attn {person}, {money}",
                            "{person} flew to {place} on behalf of {org}", "{org} refunded {money} to {person}"))
    return c.pick("Extract the entities from: ", "Pull out the names, places and amounts: ", "NER on this text: ",
                  "List every person, organisation and amount in: ", "Extract entities only -> ",
                  "Find the named entities in this line: ") + payload


def _sentiment_only(c: _Ctx) -> str:
    return c.pick("Sentiment only: ", "How does this customer feel? ", "Is this message positive or negative? ",
                  "Give me the sentiment of: ", "Rate the tone of this review: ", "sentiment analysis: ") + \
        "\"" + _calm_message(c) + "\""


def _forecast_series(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Forecast {horizon}.", "Forecast {metric} for {horizon}", "Predict the next values of this series.",
        "Project {metric} over {horizon}.", "forecast please", "Give me a {horizon} forecast of {metric}.",
        "Predict {metric} for {horizon}.", "Extrapolate this series for {horizon}.",
    ))


def _flag_anomalies(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Flag anomalies in this series.", "Detect outliers in {metric}.", "Flag any anomalies.",
        "Find unusual points in these {metric} readings.", "anomaly detection on {metric}", "Detect spikes and dips.",
        "Mark the outliers.", "Flag the anomalous readings in the last {period}.",
    ))


def _score_row(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Score this row.", "Is this transaction unusual?", "Anomaly score for this record.", "Is this claim an outlier?",
        "Score this {thing} record for anomalies.", "Does this row look abnormal?", "score row",
        "Check this booking record for outliers.",
    ))


def _intent_and_sentiment(c: _Ctx) -> str:
    return c.pick("Classify the intent and sentiment of: ", "Tag intent + sentiment -> ",
                  "Give me the intent label and the sentiment for this ticket: ",
                  "What's the intent, and how does the customer feel? ") + "\"" + _calm_message(c) + "\""


def _intent_and_entities(c: _Ctx) -> str:
    payload = c.fill("{person} from {org} wants to {task}")
    return c.pick("Classify the intent and extract the entities: ", "Intent + NER on: ",
                  "Label the intent and pull out the names and amounts: ",
                  "Extract entities and tag the intent for: ") + payload


def _forecast_and_flag(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Forecast {horizon} and flag any anomalies.", "Detect outliers, then predict {horizon}.",
        "Anomalies + forecast for {metric}.", "Flag spikes and forecast {metric} for {horizon}.",
        "Run anomaly detection and a forecast on this series.",
    ))


def _why_change(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Why did {metric} drop last {period} and what should we do?", "What happened to {metric}, and how do we fix it?",
        "{metric} fell off a cliff. What's going on and what do you recommend going forward?",
        "Can you tell me why {metric} went down and what to expect next?",
        "Help me understand this {metric} dip and advise on next steps.",
    ))


def _explain_spike(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Explain the spike in {metric}.", "What caused the jump in {metric} yesterday?", "Why is there a sudden surge here?",
        "Can you explain that weird dip in {metric}?", "Describe what the outliers in this {metric} data mean.",
        "What could explain the unusual readings at the end?",
    ))


def _plan_capacity(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Based on this, how many staff will we need {horizon}?", "Given these {metric}, how much stock should we order for {horizon}?",
        "Will we hit capacity {horizon}? Advise me.", "What should our budget be for {horizon} given this trend?",
        "Help me plan {horizon}: what will {metric} look like and what should we prepare?",
    ))


def _explain_row(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Why was this transaction flagged? Explain.", "Explain what's odd about this record.",
        "Is this {thing} suspicious, and why? Tell me what to do.", "Walk me through why this row might be fraud.",
        "What makes this claim look abnormal? Please explain in plain words.",
    ))


def _angry_question(c: _Ctx) -> str:
    return _emotional(c) + " " + c.pick(_ask(c).capitalize(), c.fill("Where is my {thing}?"),
                                        c.fill("When will you finally {task}?"), c.fill("What are you going to do about my {thing}?"))


def _entity_question(c: _Ctx) -> str:
    return c.pick("Hi, ", "Hello, ", "", "Good afternoon, ") + _entities(c) + c.pick("; ", ". ", ", and ") + _ask(c)


def _angry_entity(c: _Ctx) -> str:
    return _emotional(c) + " " + _entities(c).capitalize() + c.pick(" and ", ". ") + \
        c.fill(c.pick("nobody will tell me where my {thing} is!", "why has nothing happened?", "how do I get my money back?",
                      "what are you doing about it?!"))


def _classify_and_reply(c: _Ctx) -> str:
    return c.pick("Classify this and draft a reply: ", "Tag the intent, then write a response: ",
                  "What's the intent of this ticket? Also suggest an answer: ",
                  "Intent label plus a suggested reply for: ") + "\"" + _calm_message(c) + "\""


def _extract_and_summarise(c: _Ctx) -> str:
    payload = c.fill("{person} from {org} called about a {money} charge on the {thing} in {place}.")
    return c.pick("Extract the entities and summarise: ", "Pull out the names and amounts, then write a summary: ",
                  "Summarise this call note and list the entities: ") + payload


def _sentiment_and_respond(c: _Ctx) -> str:
    return c.pick("What's the sentiment here, and suggest a response: ", "How does this customer feel? Draft a reply too: ",
                  "Score the sentiment and write an answer: ") + "\"" + _calm_message(c) + "\""


def _forecast_and_explain(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Forecast {horizon} and explain the trend.", "Predict {metric} for {horizon} and summarise what's driving it.",
        "Give me a forecast for {horizon}, then describe it for the board in plain words.",
        "Forecast {metric} and write a short commentary.",
    ))


def _praise_question(c: _Ctx) -> str:
    return c.fill(c.pick("Thank you SO much!!! ", "You guys are the best!! ", "Love this service, seriously!!! ",
                         "Absolutely brilliant support, I'm thrilled!! ")) + _ask(c).capitalize()


def _triage_ticket(c: _Ctx) -> str:
    payload = c.fill(c.pick("{person} from {org} wants to {task}", "{org} says the {thing} is wrong by {money}",
                            "{person} in {place} cannot {task}"))
    return c.pick("Triage this ticket (intent, sentiment, entities): ", "Full triage, labels only: ",
                  "Run intent, tone and entity tagging on: ", "Annotate with intent, sentiment and NER -> ") + payload


def _route_to_queue(c: _Ctx) -> str:
    return c.pick("Route this ticket to a queue, category only: ", "Which category does this belong to? Label only. ",
                  "Assign an intent code to: ", "Bucket this request by intent: ") + "\"" + _calm_message(c) + "\""


def _tone_check(c: _Ctx) -> str:
    return c.pick("Is the customer happy or upset? Just the label: ", "Polarity check: ",
                  "Positive, neutral or negative? ", "Tone label for this review: ") + "\"" + _calm_message(c) + "\""


def _who_is_mentioned(c: _Ctx) -> str:
    payload = c.fill(c.pick("{person} met {org} in {place} about {money}", "Transfer of {money} from {org} to {person}",
                            "{org}'s {place} office, contact {person}"))
    return c.pick("Which people and companies are mentioned here? ", "Tag names, organisations and places: ",
                  "Spot the entities, no commentary: ", "Entity tagging only: ") + payload


def _statement_request(c: _Ctx) -> str:
    """A calm request without a question mark that still needs an answer from the knowledge base."""
    return c.fill(c.pick(
        "I'd like to know the rules about {topic}.", "Tell me about {topic}.", "I need the steps to {task}.",
        "Please walk me through how to {task}.", "Looking for information on {topic}", "Need help to {task}",
        "Give me an overview of {topic}.", "I want to understand {topic}.",
    ))


def _angry_demand(c: _Ctx) -> str:
    return _emotional(c) + " " + c.fill(c.pick(
        "Fix my {thing} now.", "I want someone to explain this {thing} charge today.", "Tell me how to {task}, NOW.",
        "Sort out my {thing} or I'm leaving.", "I demand to know how to {task}."))


# Second families for each kind of request: a held-out family is then an unseen phrasing of a kind the
# classifier was taught, rather than the only example of a convention (which no held-out test can learn).
def _investigate_outliers(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Which of these {metric} readings look off, and what might be behind them?",
        "Point out anything abnormal here and tell me the likely cause.",
        "Are there outliers in this {metric} data? Walk me through them.",
        "Something looks wrong in this {metric} log. What is it?",
        "Is that sharp drop in the middle a problem? Talk me through it.",
        "Go through the strange readings from last {period} and describe them.",
    ))


def _review_and_outlook(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Review this {metric} series: anything unusual, and where is it heading over {horizon}?",
        "Give me a health check of {metric}: odd points so far and the outlook for {horizon}.",
        "Was last {period} normal, and what should we expect {horizon}? Summarise for the team.",
        "Brief me on this data: past surprises and the trend ahead.",
        "Anything strange in these {metric} numbers, and what do they mean for {horizon}? Keep it short.",
    ))


def _entities_and_reply(c: _Ctx) -> str:
    payload = c.fill(c.pick("{person} from {org} was promised {money} back in {place}.",
                            "Note from {org}: {person} wants the {money} invoice reissued.",
                            "{person} ({org}, {place}) is asking about {topic}."))
    return c.pick("List the people and companies in this note, then draft a follow-up: ",
                  "Name everyone involved and write a short reply: ",
                  "Pull out the names, places and amounts and suggest how to respond: ",
                  "Tag the entities and explain what the sender wants: ") + payload


def _route_and_answer(c: _Ctx) -> str:
    return c.pick("Which queue should this go to, and how should we answer it? ",
                  "Categorise this request and explain what the customer needs: ",
                  "Give the intent and a draft response for: ",
                  "Bucket this by intent and write the first reply: ") + "\"" + _calm_message(c) + "\""


def _score_and_explain_row(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Score this record and tell me in plain words what drives the score.",
        "Run the anomaly check on this row and explain the result.",
        "Give this {thing} record an anomaly score and summarise why.",
        "Rate how unusual this entry is, then write a note for the reviewer.",
        "Check this row for anything abnormal and describe what you find.",
    ))


def _annotate_all(c: _Ctx) -> str:
    payload = c.fill(c.pick("{person} from {org} wants to {task}", "{org} overcharged {person} by {money}",
                            "{person} in {place} asks why the {thing} failed"))
    return c.pick("Labels only: intent, sentiment, entities for ", "Tag this message with its category, its polarity and any names: ",
                  "Return intent, tone and entity spans for: ", "Three annotations please (intent / sentiment / NER): ") + payload


def _emotional_entity_request(c: _Ctx) -> str:
    return _entities(c).capitalize() + c.pick(" and I am FURIOUS. ", ". This is OUTRAGEOUS!! ", ", and honestly I'm disgusted. ",
                                              " and I'm so frustrated!!! ") + \
        c.fill(c.pick("Explain this {thing} to me.", "Tell me how you will fix it.", "I want my money back today.",
                      "When will someone call me?"))


def _tone_and_advise(c: _Ctx) -> str:
    return c.pick("Is this customer upset? Tell me how to handle it: ", "Read the mood of this message and advise on a reply: ",
                  "Check the tone, then write a response that fits: ", "Positive or negative? And what should we say back? ") + \
        "\"" + _calm_message(c) + "\""


def _forecast_numbers(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Next {period} of {metric}, numbers only.", "Extend this series by {horizon}.", "Expected values for {horizon}, no commentary.",
        "Continue the {metric} curve for {horizon}.", "Give me the projected points, nothing else.", "horizon: {horizon}",
    ))


def _outlier_list(c: _Ctx) -> str:
    return c.fill(c.pick(
        "Mark readings outside the normal range.", "Which timestamps are anomalous? List them only.",
        "Any outliers? Just the points.", "Highlight the abnormal values in {metric}.", "Spot the odd points, no explanation.",
        "Return the anomalous indices of this {metric} series.",
    ))


def _intent_and_tone(c: _Ctx) -> str:
    return c.pick("Category and polarity only: ", "Which intent, and is the customer happy or not? Labels please: ",
                  "Route this and rate its tone: ", "intent + sentiment -> ") + "\"" + _calm_message(c) + "\""


def _names_and_category(c: _Ctx) -> str:
    payload = c.fill(c.pick("{person} from {org} needs to {task}", "{org} in {place} asked to {task}",
                            "{person} wants {money} refunded to {org}"))
    return c.pick("Who is mentioned, and what is the request category? Labels only: ", "Entity spans and intent code for: ",
                  "Tag the names and route it: ", "NER + intent -> ") + payload


#: family -> (generator, labels, has_series, has_features, rows)
_Gen = Callable[[_Ctx], str]
FAMILIES: dict[str, tuple[_Gen, tuple[str, ...], bool, bool, int]] = {
    "kb_question": (_kb_question, ("answer",), False, False, 130),
    "explain_policy": (_explain_policy, ("answer",), False, False, 100),
    "summarise_doc": (_summarise_doc, ("answer",), False, False, 80),
    "draft_message": (_draft_message, ("answer",), False, False, 100),
    "translate": (_translate, ("answer",), False, False, 80),
    "write_code": (_write_code, ("answer",), False, False, 90),
    "compare_options": (_compare_options, ("answer",), False, False, 90),
    "troubleshoot": (_troubleshoot, ("answer",), False, False, 90),
    "bare_series": (_bare_series, ("anomaly", "forecast"), True, False, 90),
    "captioned_series": (_captioned_series, ("anomaly", "forecast"), True, False, 90),
    "bare_features": (_bare_features, ("tabular_anomaly",), False, True, 90),
    "bare_both": (_bare_both, ("anomaly", "forecast", "tabular_anomaly"), True, True, 60),
    "classify_intent": (_classify_intent, ("intent",), False, False, 100),
    "extract_entities": (_extract_entities, ("ner",), False, False, 100),
    "sentiment_only": (_sentiment_only, ("sentiment",), False, False, 100),
    "forecast_series": (_forecast_series, ("forecast",), True, False, 100),
    "flag_anomalies": (_flag_anomalies, ("anomaly",), True, False, 100),
    "score_row": (_score_row, ("tabular_anomaly",), False, True, 100),
    "intent_and_sentiment": (_intent_and_sentiment, ("intent", "sentiment"), False, False, 80),
    "intent_and_entities": (_intent_and_entities, ("intent", "ner"), False, False, 80),
    "forecast_and_flag": (_forecast_and_flag, ("anomaly", "forecast"), True, False, 80),
    "why_change": (_why_change, ("answer", "anomaly", "forecast"), True, False, 100),
    "explain_spike": (_explain_spike, ("answer", "anomaly"), True, False, 100),
    "plan_capacity": (_plan_capacity, ("answer", "forecast"), True, False, 100),
    "explain_row": (_explain_row, ("answer", "tabular_anomaly"), False, True, 100),
    "angry_question": (_angry_question, ("answer", "sentiment"), False, False, 120),
    "praise_question": (_praise_question, ("answer", "sentiment"), False, False, 70),
    "entity_question": (_entity_question, ("answer", "ner"), False, False, 120),
    "angry_entity": (_angry_entity, ("answer", "sentiment", "ner"), False, False, 100),
    "classify_and_reply": (_classify_and_reply, ("answer", "intent"), False, False, 90),
    "extract_and_summarise": (_extract_and_summarise, ("answer", "ner"), False, False, 80),
    "sentiment_and_respond": (_sentiment_and_respond, ("answer", "sentiment"), False, False, 80),
    "forecast_and_explain": (_forecast_and_explain, ("answer", "forecast"), True, False, 90),
    "triage_ticket": (_triage_ticket, ("intent", "sentiment", "ner"), False, False, 80),
    "route_to_queue": (_route_to_queue, ("intent",), False, False, 80),
    "tone_check": (_tone_check, ("sentiment",), False, False, 80),
    "who_is_mentioned": (_who_is_mentioned, ("ner",), False, False, 80),
    "statement_request": (_statement_request, ("answer",), False, False, 90),
    "angry_demand": (_angry_demand, ("answer", "sentiment"), False, False, 80),
    "investigate_outliers": (_investigate_outliers, ("answer", "anomaly"), True, False, 90),
    "review_and_outlook": (_review_and_outlook, ("answer", "anomaly", "forecast"), True, False, 90),
    "entities_and_reply": (_entities_and_reply, ("answer", "ner"), False, False, 80),
    "route_and_answer": (_route_and_answer, ("answer", "intent"), False, False, 80),
    "score_and_explain_row": (_score_and_explain_row, ("answer", "tabular_anomaly"), False, True, 90),
    "annotate_all": (_annotate_all, ("intent", "sentiment", "ner"), False, False, 80),
    "emotional_entity_request": (_emotional_entity_request, ("answer", "sentiment", "ner"), False, False, 90),
    "tone_and_advise": (_tone_and_advise, ("answer", "sentiment"), False, False, 80),
    "forecast_numbers": (_forecast_numbers, ("forecast",), True, False, 80),
    "outlier_list": (_outlier_list, ("anomaly",), True, False, 80),
    "intent_and_tone": (_intent_and_tone, ("intent", "sentiment"), False, False, 80),
    "names_and_category": (_names_and_category, ("intent", "ner"), False, False, 80),
}


def _noise(text: str, rng: random.Random) -> str:
    """Casual typing: sometimes lower case, sometimes no final punctuation."""
    if not text:
        return text
    if rng.random() < 0.15:
        text = text.lower()
    if rng.random() < 0.15 and text[-1] in ".?":
        text = text[:-1]
    return text


def generate_dispatch_requests(seed: int = 7) -> pd.DataFrame:
    """About 4,600 labelled requests over 51 template families (see the module docstring). Deterministic."""
    rng = random.Random(seed)
    rows = []
    for family, (make, labels, has_series, has_features, count) in FAMILIES.items():
        for _ in range(count):
            c = _Ctx(rng)
            text = _noise(make(c).strip(), rng)
            length = rng.choice((24, 48, 96, 168, 336, 720, rng.randint(20, 2000))) if has_series else 0
            rows.append({"text": text, "has_series": has_series, "series_length": int(length),
                         "has_features": has_features, "labels": list(labels), "family": family,
                         "path": path_of(labels)})
    return pd.DataFrame(rows)

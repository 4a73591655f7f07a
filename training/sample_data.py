"""Deterministic sample data for the demo and the test suite.

The service needs three kinds of data and must work on a fresh machine with no
network, so this module synthesises small but realistic versions of them:

* customer-support tickets, labelled with an intent, a sentiment and entity
  spans (character offsets), for the intent classifier, the NER model and the
  sentiment model;
* a knowledge base of help articles with concrete policy facts, for retrieval
  and grounded answers;
* daily time series with injected, labelled anomalies, for the anomaly
  detector.

Tickets are assembled from many independent parts (greetings, context lines,
intent-specific requests with entity slots, details, tone phrases, closings)
plus light noise (lowercasing, dropped punctuation, typos), so that a model has
to learn the intent rather than memorise a handful of templates. A few intents
share deliberately ambiguous phrasings, the way real customers blur "my card is
lost" and "my card never arrived", so intent accuracy is high but not perfect.

Everything is driven by ``random.Random(seed)`` / ``numpy.random.default_rng``
and fixed, ordered phrase banks, so a given seed always yields the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

INTENTS: tuple[str, ...] = (
    "card_lost",
    "card_not_arrived",
    "refund_request",
    "cancel_order",
    "order_status",
    "delivery_delayed",
    "change_address",
    "billing_dispute",
    "password_reset",
    "account_locked",
    "upgrade_plan",
    "product_defect",
    "payment_failed",
    "close_account",
)
ENTITY_LABELS: tuple[str, ...] = ("PER", "ORG", "LOC", "MONEY", "DATE", "PRODUCT", "ORDER_ID")
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
CHANNELS: tuple[str, ...] = ("email", "chat", "phone", "social")

# --------------------------------------------------------------------------
# Slot fillers. A template slot such as {ORDER_ID} becomes one entity span.
# --------------------------------------------------------------------------

# A (text, label) pair; label is None for plain text and an ENTITY_LABELS
# value for an entity. Tickets are built as segment lists so that noise can be
# applied to plain text only and offsets are computed once, at the end.
Segment = tuple[str, str | None]

_FIRST_NAMES: tuple[str, ...] = (
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Lucas", "Mia", "Ethan", "Sofia", "Mateo",
    "Chloe", "Jack", "Amelia", "Oliver", "Isabella", "James", "Hannah", "Daniel", "Grace", "Samuel",
    "Priya", "Arjun", "Ananya", "Rohan", "Mei", "Wei", "Hiroshi", "Yuki", "Min-jun", "Ji-woo",
    "Fatima", "Omar", "Layla", "Yusuf", "Aisha", "Karim", "Chidi", "Amara", "Kwame", "Zanele",
    "José", "Lucía", "Diego", "Camila", "João", "Beatriz", "Léa", "Hugo", "Matthias", "Anke",
    "Sven", "Ingrid", "Piotr", "Agnieszka", "Dmitri", "Olga", "Giulia", "Marco", "Niamh", "Seán",
    "Tomás", "Elif", "Emre", "Nguyen", "Linh", "Tariq", "Sara", "Ravi", "Kai", "Nora",
)
_LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Garcia", "Martinez", "Rodriguez", "Lopez", "Wilson", "Taylor",
    "Anderson", "Thomas", "Moore", "Jackson", "Clarke", "Walker", "Patel", "Sharma", "Gupta", "Iyer",
    "Chen", "Wang", "Li", "Tanaka", "Sato", "Kim", "Park", "Nguyen", "Tran", "Haddad",
    "Khan", "Rahman", "Okafor", "Mensah", "Adeyemi", "Dlamini", "Silva", "Santos", "Fernández", "Dubois",
    "Moreau", "Müller", "Schmidt", "Fischer", "Johansson", "Larsen", "Kowalski", "Nowak", "Ivanov", "Rossi",
    "Bianchi", "O'Brien", "Murphy", "Yilmaz", "Demir", "Cohen", "Levi", "Novak", "Horvat", "MacLeod",
)
_ORGS: tuple[str, ...] = (
    "Northwind Traders", "Brightline Logistics", "Kestrel Bank", "Halcyon Health", "Bluefin Media",
    "Copperleaf Studios", "Ironbridge Consulting", "Meridian Foods", "Solace Insurance", "Tidewater Energy",
    "Quantis Labs", "Redwood Retail", "Summit Telecom", "Larkspur Travel", "Granite & Co",
    "Vantage Analytics", "Oakridge University", "Pinecrest Hotels", "Silverline Airways", "Harbor Freight Co",
    "Nimbus Cloud", "Everfield Farms", "Crescent Pharmacy", "Polaris Fitness", "Willow Creek Dental",
    "Atlas Movers", "Juniper Payroll", "Falcon Courier", "Mosaic Bookstore", "Zephyr Bikes",
)
_LOCATIONS: tuple[str, ...] = (
    "London", "Manchester", "Dublin", "Paris", "Lyon", "Berlin", "Munich", "Madrid", "Barcelona", "Lisbon",
    "Rome", "Milan", "Amsterdam", "Brussels", "Vienna", "Prague", "Warsaw", "Stockholm", "Oslo", "Helsinki",
    "New York", "Chicago", "Austin", "Seattle", "Toronto", "Vancouver", "Mexico City", "São Paulo", "Buenos Aires",
    "Lagos", "Nairobi", "Cape Town", "Cairo", "Dubai", "Istanbul", "Mumbai", "Bangalore", "Singapore",
    "Tokyo", "Seoul", "Sydney", "Auckland", "Germany", "Spain", "Canada", "Portugal", "Japan", "Ireland",
)
_PRODUCT_BRANDS: tuple[str, ...] = (
    "Lumo", "Veyra", "Orbio", "Nexa", "Quill", "Tessel", "Brio", "Halden", "Zento", "Pico", "Auralis", "Kinto",
)
_PRODUCT_LINES: tuple[str, ...] = ("Air", "Pro", "Mini", "Max", "Go", "Flex", "One", "Studio", "Pulse", "Edge")
_PRODUCT_TYPES: tuple[str, ...] = (
    "headphones", "smart watch", "blender", "router", "e-reader", "kettle", "backpack", "speaker",
    "camera", "robot vacuum", "desk lamp", "fitness band", "coffee grinder", "webcam", "air purifier",
)
_PLANS: tuple[str, ...] = ("Premium", "Business Plus", "Family", "Team Unlimited", "Pro Annual", "Basic")
_MONTHS: tuple[str, ...] = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
_WEEKDAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Relative dates already read as adverbials ("I lost it last Tuesday");
# absolute ones get an "on" that stays outside the entity span.
_RELATIVE_DATES: tuple[str, ...] = (
    "yesterday", "today", "this morning", "last week", "two weeks ago", "3 days ago", "a few days ago",
    "last month", "the day before yesterday",
)


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _fill_person(rng: random.Random) -> list[Segment]:
    return [(f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}", "PER")]


def _fill_first_name(rng: random.Random) -> list[Segment]:
    return [(rng.choice(_FIRST_NAMES), "PER")]


def _fill_org(rng: random.Random) -> list[Segment]:
    return [(rng.choice(_ORGS), "ORG")]


def _fill_location(rng: random.Random) -> list[Segment]:
    return [(rng.choice(_LOCATIONS), "LOC")]


def _fill_money(rng: random.Random) -> list[Segment]:
    # Amounts span small fees to large orders so thousand separators appear.
    amount = round(rng.choice((rng.uniform(3, 60), rng.uniform(20, 400), rng.uniform(300, 2500))), 2)
    whole = int(round(amount))
    formats = (
        f"${amount:.2f}", f"${whole}", f"{whole} EUR", f"€{amount:.2f}", f"£{whole}",
        f"{amount:,.2f} USD", f"USD {amount:.2f}", f"{whole} dollars", f"{whole} euros", f"£{amount:,.2f}",
    )
    return [(rng.choice(formats), "MONEY")]


def _fill_date(rng: random.Random) -> list[Segment]:
    month = rng.randrange(1, 13)
    day = rng.randrange(1, 29)
    year = rng.choice((2023, 2024))
    style = rng.randrange(7)
    if style == 0:
        return [(rng.choice(_RELATIVE_DATES), "DATE")]
    if style == 1:
        return [(f"last {rng.choice(_WEEKDAYS)}", "DATE")]
    absolute = (
        f"{_MONTHS[month - 1]} {_ordinal(day)}",
        f"{year}-{month:02d}-{day:02d}",
        f"{day:02d}/{month:02d}",
        f"{_MONTHS[month - 1][:3]} {day}",
        f"the {_ordinal(day)}",
    )[style - 2]
    return [("on ", None), (absolute, "DATE")]


def _fill_product(rng: random.Random) -> list[Segment]:
    brand, line = rng.choice(_PRODUCT_BRANDS), rng.choice(_PRODUCT_LINES)
    name = rng.choice((
        f"{brand} {line} {rng.choice(_PRODUCT_TYPES)}",
        f"{brand} {line} {rng.randrange(2, 9)}",
        f"{brand} {rng.choice(_PRODUCT_TYPES)}",
        f"{brand} {line} X{rng.randrange(1, 5)}0",
    ))
    return [(name, "PRODUCT")]


def _fill_plan(rng: random.Random) -> list[Segment]:
    return [(rng.choice(_PLANS), "PRODUCT")]


def _fill_order_id(rng: random.Random) -> list[Segment]:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    code = rng.choice((
        f"#{rng.choice(letters)}{rng.randrange(10)}{rng.choice(letters)}-{rng.randrange(10000, 100000)}",
        f"ORD-{rng.randrange(1000000, 10000000)}",
        f"#{rng.randrange(10000000, 100000000)}",
        f"{rng.choice(letters)}{rng.choice(letters)}{rng.randrange(100000, 1000000)}",
    ))
    return [(code, "ORDER_ID")]


_FILLERS: dict[str, Callable[[random.Random], list[Segment]]] = {
    "PER": _fill_person,
    "FIRST": _fill_first_name,
    "ORG": _fill_org,
    "LOC": _fill_location,
    "MONEY": _fill_money,
    "DATE": _fill_date,
    "PRODUCT": _fill_product,
    "PLAN": _fill_plan,
    "ORDER_ID": _fill_order_id,
}

# --------------------------------------------------------------------------
# Ticket phrase banks. Templates are whole sentences; a lowercase start is
# capitalised on assembly, and {SLOT}s are filled by _FILLERS.
# --------------------------------------------------------------------------

_REQUESTS: dict[str, tuple[str, ...]] = {
    "card_lost": (
        "I lost my card {DATE} and need to block it.",
        "my debit card was stolen in {LOC}, please freeze it.",
        "I think I left my card at a restaurant in {LOC}.",
        "can you cancel my card? I can't find it anywhere.",
        "my wallet was stolen {DATE} with my credit card in it.",
        "I need to report a lost card.",
        "please block my card, it has gone missing.",
        "someone pickpocketed me in {LOC} and took my card.",
        "I misplaced my card and I'm worried someone will use it.",
        "how do I freeze my card? I dropped it somewhere {DATE}.",
        "my card fell out of my pocket on the train, please deactivate it.",
        "I can't remember where I put my card, can you lock it for now?",
    ),
    "card_not_arrived": (
        "my new card still hasn't arrived.",
        "I ordered a replacement card {DATE} and it never came.",
        "when will my card be delivered? it's been two weeks.",
        "the card you sent me never showed up.",
        "I was told my card would arrive {DATE} but nothing yet.",
        "still waiting on my card, is it lost in the post?",
        "my physical card hasn't been delivered to {LOC}.",
        "I haven't received the card I requested.",
        "the app says my card was posted {DATE} but my mailbox is empty.",
        "how long does a new card take to arrive? mine is overdue.",
        "the replacement card never reached my address in {LOC}.",
    ),
    "refund_request": (
        "I'd like a refund for the {PRODUCT}.",
        "can I get my money back for order {ORDER_ID}?",
        "I returned the {PRODUCT} {DATE} but haven't been refunded.",
        "please refund the {MONEY} I paid.",
        "I want to return the {PRODUCT} and get a refund.",
        "how long does a refund take? I sent the item back {DATE}.",
        "requesting a refund on order {ORDER_ID}.",
        "the refund of {MONEY} hasn't reached my account yet.",
        "I received a broken {PRODUCT} and would like a refund rather than a replacement.",
        "you approved my return but the refund of {MONEY} is missing.",
        "can you process the refund for {ORDER_ID}? the courier picked it up {DATE}.",
    ),
    "cancel_order": (
        "please cancel order {ORDER_ID}.",
        "I need to cancel my order before it ships.",
        "I ordered the {PRODUCT} by mistake, can you cancel it?",
        "cancel my order for the {PRODUCT} please.",
        "I changed my mind about order {ORDER_ID}, please cancel it.",
        "is it too late to cancel the {PRODUCT} I ordered {DATE}?",
        "I placed a duplicate order {DATE}, please cancel one of them.",
        "I don't need the {PRODUCT} anymore, stop the order.",
        "how do I cancel an order I just placed?",
        "please don't ship order {ORDER_ID}, I want to cancel.",
    ),
    "order_status": (
        "where is my order {ORDER_ID}?",
        "can you tell me the status of my order?",
        "has my {PRODUCT} shipped yet?",
        "I'd like a tracking number for order {ORDER_ID}.",
        "what's the status of the {PRODUCT} I ordered {DATE}?",
        "is order {ORDER_ID} on its way?",
        "how can I track my package?",
        "I didn't get a confirmation email for my order, did it go through?",
        "can you check if order {ORDER_ID} has been dispatched?",
        "when will the {PRODUCT} be shipped?",
    ),
    "delivery_delayed": (
        "my delivery is late.",
        "the {PRODUCT} was supposed to arrive {DATE} and it's still not here.",
        "my package has been stuck in {LOC} for a week.",
        "the courier keeps postponing my delivery.",
        "order {ORDER_ID} is delayed again.",
        "the delivery date keeps moving, it was due {DATE}.",
        "tracking hasn't updated since the parcel left {LOC}.",
        "my parcel is days overdue and nobody can tell me why.",
        "express delivery was promised but order {ORDER_ID} is late.",
        "the courier marked my delivery as delayed {DATE}.",
    ),
    "change_address": (
        "I need to update my shipping address.",
        "I moved to {LOC}, please change my address.",
        "can you send order {ORDER_ID} to a different address?",
        "please change the delivery address on my account.",
        "my billing address is outdated.",
        "wrong address on order {ORDER_ID}, it should go to {LOC}.",
        "how do I edit the address saved on my profile?",
        "I'm relocating to {LOC} {DATE}, where do I update my address?",
        "I typed my street name wrong at checkout, can you fix the address?",
    ),
    "billing_dispute": (
        "I was charged {MONEY} twice.",
        "there's a charge of {MONEY} on my statement I don't recognise.",
        "you billed me {MONEY} instead of {MONEY}.",
        "my invoice from {DATE} is wrong.",
        "I'm disputing a charge from {ORG}.",
        "why was I charged {MONEY} {DATE}?",
        "I was overcharged for my subscription this month.",
        "there is an unauthorised charge on my account.",
        "my statement shows a {MONEY} fee I never agreed to.",
        "I want to dispute the {MONEY} charge for order {ORDER_ID}.",
    ),
    "password_reset": (
        "I forgot my password.",
        "the password reset link isn't working.",
        "how do I reset my password?",
        "I never got the reset email.",
        "I want to change my password.",
        "the reset code expired before I could use it.",
        "the reset page says my new password is not allowed.",
        "I need a new password, the old one doesn't work anymore.",
        "can you send me another password reset link?",
    ),
    "account_locked": (
        "my account is locked.",
        "I've been locked out after too many login attempts.",
        "my account was suspended {DATE} for no reason.",
        "it says my account is disabled.",
        "I can't get past the security check, my account is blocked.",
        "you froze my account and I need access.",
        "the app says my account is temporarily locked.",
        "my profile was flagged for unusual activity and now it's locked.",
        "how do I unlock my account?",
    ),
    "upgrade_plan": (
        "I'd like to upgrade to {PLAN}.",
        "how much does it cost to move to the {PLAN} plan?",
        "can I switch my team at {ORG} to the business tier?",
        "I want more storage, what plans do you have?",
        "what's the price difference between my plan and {PLAN}?",
        "please upgrade my subscription.",
        "is there a discount if I upgrade to {PLAN} annually?",
        "we're growing at {ORG} and need more seats on our plan.",
        "how do I move from Basic to a paid plan?",
    ),
    "product_defect": (
        "the {PRODUCT} I received is broken.",
        "my {PRODUCT} stopped working {DATE}.",
        "the screen on my {PRODUCT} is cracked.",
        "{PRODUCT} won't turn on.",
        "the {PRODUCT} makes a weird grinding noise.",
        "the item arrived damaged.",
        "the battery on my {PRODUCT} dies within an hour.",
        "there's a defect in the {PRODUCT} from order {ORDER_ID}.",
        "my {PRODUCT} keeps overheating.",
        "one of the buttons on the {PRODUCT} is stuck.",
        "the {PRODUCT} is faulty, what are my options?",
    ),
    "payment_failed": (
        "my payment keeps getting declined.",
        "I tried to pay {MONEY} but it failed.",
        "checkout gives an error when I pay.",
        "my card was declined but I have funds.",
        "the payment for order {ORDER_ID} didn't go through.",
        "the transaction failed with error code 402.",
        "I can't complete my purchase of the {PRODUCT}.",
        "paying with PayPal doesn't work at checkout.",
        "the payment page just spins and then says failed.",
        "my subscription payment of {MONEY} was rejected.",
    ),
    "close_account": (
        "please close my account.",
        "I want to delete my account and all my data.",
        "how do I cancel my membership for good?",
        "I'm leaving, please shut down my account.",
        "remove my profile permanently.",
        "I want to deactivate my account.",
        "I no longer need this service, close everything.",
        "please erase my personal data and close my account.",
        "I'm switching to {ORG}, how do I close my account?",
    ),
}

# Phrasings a customer really could use for any intent in the group. They make
# the confusable pairs genuinely hard, which is what keeps accuracy below 1.0.
_SHARED_REQUESTS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("card_lost", "card_not_arrived"), (
        "I don't have my card and I need a new one.",
        "my card is missing, what should I do?",
        "where is my card?",
        "I need a replacement card as soon as possible.",
        "I still don't have a card I can use.",
        "can you help me get a new card?",
    )),
    (("refund_request", "cancel_order", "billing_dispute"), (
        "I want my money back for order {ORDER_ID}.",
        "I shouldn't have to pay {MONEY} for this.",
        "please sort out the payment for order {ORDER_ID}.",
        "I don't want to pay for the {PRODUCT} anymore.",
        "can you reverse the {MONEY} for order {ORDER_ID}?",
        "I need this order and the charge undone.",
    )),
    (("order_status", "delivery_delayed"), (
        "where is my package?",
        "I still don't have my {PRODUCT}.",
        "any update on order {ORDER_ID}?",
        "order {ORDER_ID} hasn't arrived yet.",
        "when will I get my {PRODUCT}?",
    )),
    (("password_reset", "account_locked"), (
        "I can't log in.",
        "I can't access my account.",
        "login isn't working for me.",
        "I'm unable to sign in to the app.",
        "the app won't let me sign in.",
    )),
    (("upgrade_plan", "close_account"), (
        "I want to make a change to my subscription.",
        "what are my options for my plan?",
        "I'm not sure the {PLAN} plan is right for me anymore.",
        "can I change my membership?",
    )),
    (("payment_failed", "billing_dispute"), (
        "something went wrong with my payment of {MONEY}.",
        "there's an issue with a payment I made {DATE}.",
        "my card payment at checkout looks wrong.",
    )),
)

_DETAILS: dict[str, tuple[str, ...]] = {
    "card_lost": (
        "I'm worried someone might use it.",
        "there might be a transaction of {MONEY} that wasn't me.",
        "I last used it at {ORG} {DATE}.",
        "I'm travelling in {LOC} right now and need a new one sent.",
        "I already checked with the police in {LOC}.",
        "it's the card ending in 4417.",
    ),
    "card_not_arrived": (
        "I've checked my mailbox every day.",
        "the app says it was dispatched {DATE}.",
        "I moved to {LOC} recently, could it have gone to the old address?",
        "I need it before my trip to {LOC}.",
        "my old card has already expired.",
    ),
    "refund_request": (
        "the tracking shows you received the return {DATE}.",
        "I paid {MONEY} for it.",
        "it was a gift and the recipient didn't want it.",
        "the item was still in its original packaging.",
        "I'd prefer the money back on my original card.",
    ),
    "cancel_order": (
        "I only placed it {DATE}.",
        "I found it cheaper at {ORG}.",
        "the total was {MONEY}.",
        "it hasn't shipped yet according to the app.",
        "I don't want to be charged for it.",
    ),
    "order_status": (
        "I ordered it {DATE}.",
        "it's a present for {PER} so I need it soon.",
        "the app just says processing.",
        "I paid {MONEY} for express shipping.",
        "I'm based in {LOC}.",
    ),
    "delivery_delayed": (
        "it was supposed to be here {DATE}.",
        "I paid {MONEY} extra for express delivery.",
        "{ORG} says they never got the parcel.",
        "I took the day off work to wait for it.",
        "the last scan was in {LOC}.",
    ),
    "change_address": (
        "the new address is in {LOC}.",
        "I'm moving {DATE}.",
        "my card statements should go to the new address too.",
        "the order hasn't shipped yet as far as I can tell.",
        "my old flat is being renovated so nobody will be there.",
    ),
    "billing_dispute": (
        "I only made one purchase {DATE}.",
        "the charge came from {ORG}.",
        "my bank says the payment is final.",
        "I have the receipt showing {MONEY}.",
        "I cancelled that subscription {DATE}.",
    ),
    "password_reset": (
        "I checked my spam folder too.",
        "I'm using the app on my phone.",
        "I tried it {DATE} and again today.",
        "the link says it has expired.",
        "my email address hasn't changed.",
    ),
    "account_locked": (
        "I need to pay {ORG} today.",
        "I only tried my password three times.",
        "I'm abroad in {LOC} at the moment, maybe that's why.",
        "I got a security email {DATE}.",
        "I can't verify because I changed my phone number.",
    ),
    "upgrade_plan": (
        "we have 12 people on the team.",
        "I'm currently on the Basic plan.",
        "our budget is about {MONEY} a month.",
        "I'd like the change to start {DATE}.",
        "I mostly need the extra storage.",
    ),
    "product_defect": (
        "I bought it {DATE}.",
        "it's still under warranty.",
        "I've already tried charging it overnight.",
        "I paid {MONEY} for it.",
        "the box was dented when it arrived.",
    ),
    "payment_failed": (
        "my bank says there's no problem on their side.",
        "I tried two different cards.",
        "I was trying to pay {MONEY}.",
        "it happened {DATE} and again today.",
        "the card is from {ORG}.",
    ),
    "close_account": (
        "I've been a customer since 2019.",
        "please confirm once it's done.",
        "my remaining balance is {MONEY}.",
        "I don't want any more marketing emails either.",
        "I'm moving to {LOC} and won't need it.",
    ),
}

_GREETINGS: tuple[str, ...] = (
    "Hi,", "Hello,", "Hi there,", "Hey,", "Good morning,", "Good afternoon,", "Good evening,",
    "Dear support team,", "Dear Sir or Madam,", "To whom it may concern,", "Hello team,", "Hi support,",
    "Greetings,", "Hi {FIRST},", "Dear {FIRST},", "Hello {FIRST},",
)
_SHORT_GREETINGS: tuple[str, ...] = (
    "hi", "hey", "hello", "hi there", "hey there", "hiya", "hello?", "hi!", "hey,", "morning,", "yo",
)
_CONTEXT: tuple[str, ...] = (
    "my name is {PER}.",
    "this is {PER}.",
    "I'm writing on behalf of {PER}.",
    "I'm contacting you from {LOC}.",
    "I work at {ORG} and we use your service for the team.",
    "I've been a customer for years.",
    "I already contacted you about this {DATE}.",
    "hope you can help me.",
    "I have a quick question.",
    "sorry to bother you.",
    "I need some help with my account.",
    "I'm a {PLAN} customer.",
    "I'm reaching out again.",
    "not sure if this is the right place to ask.",
    "I spoke to {PER} on the phone {DATE} but nothing happened.",
    "I'm writing from {ORG}.",
)
_PHONE_PREFIXES: tuple[str, ...] = (
    "Caller says:", "Customer called in:", "Phone transcript:", "Call summary (customer's words):", "[voice]",
)
_HASHTAGS: tuple[str, ...] = ("#help", "#support", "#customerservice", "#question")

_TONE: dict[str, tuple[str, ...]] = {
    "negative": (
        "this is ridiculous.",
        "I'm really frustrated.",
        "this is the third time I'm contacting you!",
        "honestly, this is unacceptable.",
        "I'm very disappointed with your service.",
        "fix this now.",
        "I'm losing my patience here.",
        "terrible experience so far.",
        "absolutely fed up with this.",
        "if this isn't sorted I'll take my business elsewhere.",
        "nobody has bothered to reply to my emails.",
        "I'm furious, this is a joke.",
        "worst customer service I've ever dealt with.",
        "I've wasted hours on this already.",
    ),
    "neutral": (
        "please let me know what to do next.",
        "let me know if you need anything else from me.",
        "looking forward to your reply.",
        "could you look into it?",
        "what are the next steps?",
        "please advise.",
        "I can send more details if needed.",
    ),
    "positive": (
        "thanks so much for your help!",
        "you've always been great, so I'm sure you can sort this.",
        "really appreciate it.",
        "love your service by the way!",
        "your team was super helpful last time.",
        "thank you, you're the best.",
        "have a lovely day!",
        "much appreciated, great app otherwise.",
        "thanks for being so quick, as always.",
        "I'm really happy with everything else.",
        "you guys are brilliant.",
    ),
}
_EMAIL_SIGNOFFS: tuple[str, ...] = (
    "Thanks,", "Thank you,", "Regards,", "Kind regards,", "Best,", "Best regards,", "Cheers,", "Many thanks,",
    "Sincerely,",
)
_CLOSINGS: tuple[str, ...] = ("Thanks.", "Thanks in advance.", "Regards.", "Thank you.", "thx", "ty")

# Negative-heavy intents are the ones where something already went wrong;
# weights are (negative, neutral, positive) in SENTIMENTS order.
_SENTIMENT_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "billing_dispute": (0.6, 0.3, 0.1),
    "product_defect": (0.6, 0.3, 0.1),
    "delivery_delayed": (0.6, 0.3, 0.1),
    "account_locked": (0.55, 0.35, 0.1),
    "card_not_arrived": (0.45, 0.4, 0.15),
    "upgrade_plan": (0.05, 0.5, 0.45),
    "order_status": (0.2, 0.55, 0.25),
    "change_address": (0.15, 0.55, 0.3),
    "password_reset": (0.25, 0.5, 0.25),
}
_DEFAULT_SENTIMENT_WEIGHTS: tuple[float, float, float] = (0.35, 0.45, 0.2)


@dataclass(frozen=True)
class _ChannelStyle:
    weight: float
    greeting: float          # probability of a greeting line
    context: float           # probability of a context sentence
    max_details: int
    signoff: float           # probability of a closing line
    lowercase: float         # probability the whole ticket is lowercased
    unpunctuated: float      # probability sentence-final punctuation is dropped


_CHANNEL_STYLES: dict[str, _ChannelStyle] = {
    "email": _ChannelStyle(
        0.35, greeting=0.9, context=0.55, max_details=2, signoff=0.85, lowercase=0.04, unpunctuated=0.03
    ),
    "chat": _ChannelStyle(
        0.35, greeting=0.5, context=0.15, max_details=1, signoff=0.15, lowercase=0.35, unpunctuated=0.4
    ),
    "phone": _ChannelStyle(
        0.15, greeting=0.0, context=0.6, max_details=2, signoff=0.0, lowercase=0.0, unpunctuated=0.1
    ),
    "social": _ChannelStyle(
        0.15, greeting=0.3, context=0.1, max_details=1, signoff=0.05, lowercase=0.3, unpunctuated=0.3
    ),
}

_AMBIGUOUS_REQUEST_RATE = 0.3
_TYPO_RATE = 0.15

_SLOT = re.compile(r"\{([A-Z_]+)\}")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_TYPO_WORD = re.compile(r"[A-Za-z]{5,}")


def _sentence(template: str, rng: random.Random) -> list[Segment]:
    """Fill a template's slots and capitalise it like a sentence start."""
    segments: list[Segment] = []
    pos = 0
    for match in _SLOT.finditer(template):
        if match.start() > pos:
            segments.append((template[pos:match.start()], None))
        segments.extend(_FILLERS[match.group(1)](rng))
        pos = match.end()
    if pos < len(template):
        segments.append((template[pos:], None))
    text, label = segments[0]
    if label is None:
        segments[0] = (text[:1].upper() + text[1:], None)
    return segments


def _request_template(intent: str, rng: random.Random) -> str:
    groups = [phrases for members, phrases in _SHARED_REQUESTS if intent in members]
    if groups and rng.random() < _AMBIGUOUS_REQUEST_RATE:
        return rng.choice(rng.choice(groups))
    return rng.choice(_REQUESTS[intent])


def _add_typo(segments: list[Segment], rng: random.Random) -> None:
    """Swap, drop or double one letter of a plain-text word, never an entity."""
    candidates = [
        (i, match) for i, (text, label) in enumerate(segments) if label is None
        for match in _TYPO_WORD.finditer(text)
    ]
    if not candidates:
        return
    i, match = rng.choice(candidates)
    word, k = match.group(), rng.randrange(1, len(match.group()) - 1)
    word = rng.choice((
        word[:k] + word[k + 1] + word[k] + word[k + 2:],
        word[:k] + word[k + 1:],
        word[:k] + word[k] + word[k:],
    ))
    text = segments[i][0]
    segments[i] = (text[:match.start()] + word + text[match.end():], None)


def _apply_noise(segments: list[Segment], style: _ChannelStyle, rng: random.Random) -> list[Segment]:
    if rng.random() < _TYPO_RATE:
        for _ in range(rng.randint(1, 2)):
            _add_typo(segments, rng)
    if rng.random() < style.unpunctuated:
        segments = [(text if label else _SENTENCE_END.sub("", text), label) for text, label in segments]
    if rng.random() < style.lowercase:
        segments = [(text.lower(), label) for text, label in segments]
    return segments


def _compose_ticket(intent: str, channel: str, sentiment: str, rng: random.Random) -> list[Segment]:
    style = _CHANNEL_STYLES[channel]
    opening: list[list[Segment]] = []
    body: list[list[Segment]] = []
    closing: list[list[Segment]] = []

    if channel == "phone":
        opening.append([(rng.choice(_PHONE_PREFIXES), None)])
    elif rng.random() < style.greeting:
        bank = _GREETINGS if channel == "email" else _SHORT_GREETINGS
        opening.append(_sentence(rng.choice(bank), rng))
    if rng.random() < style.context:
        body.append(_sentence(rng.choice(_CONTEXT), rng))

    core = [_sentence(_request_template(intent, rng), rng)]
    for detail in rng.sample(_DETAILS[intent], rng.randint(0, style.max_details)):
        core.append(_sentence(detail, rng))
    # Neutral tickets often carry no tone phrase at all; the others always do,
    # sometimes up front ("I'm furious. My card ...") rather than at the end.
    if sentiment != "neutral" or rng.random() < 0.5:
        tone = [_sentence(t, rng) for t in rng.sample(_TONE[sentiment], 2 if rng.random() < 0.25 else 1)]
        core = tone + core if rng.random() < 0.3 else core + tone
    body.extend(core)

    if channel == "social" and rng.random() < 0.4:
        closing.append([(rng.choice(_HASHTAGS), None)])
    elif rng.random() < style.signoff:
        if channel == "email" and rng.random() < 0.7:
            signer = rng.choice((_fill_person, _fill_first_name))(rng)
            closing.append([(rng.choice(_EMAIL_SIGNOFFS) + " ", None), *signer])
        else:
            closing.append([(rng.choice(_CLOSINGS), None)])

    # Some emails are laid out in paragraphs; everything else is one line.
    block_sep = "\n\n" if channel == "email" and rng.random() < 0.4 else " "
    segments: list[Segment] = []
    for block in (b for b in (opening, body, closing) if b):
        if segments:
            segments.append((block_sep, None))
        for j, sentence in enumerate(block):
            if j:
                segments.append((" ", None))
            segments.extend(sentence)
    return _apply_noise(segments, style, rng)


def _text_and_entities(segments: list[Segment]) -> tuple[str, list[dict[str, object]]]:
    parts: list[str] = []
    entities: list[dict[str, object]] = []
    offset = 0
    for text, label in segments:
        if label is not None:
            entities.append({"start": offset, "end": offset + len(text), "label": label, "text": text})
        parts.append(text)
        offset += len(text)
    return "".join(parts), entities


def generate_tickets(n: int = 2400, seed: int = 7) -> pd.DataFrame:
    """Support tickets with intent, sentiment and character-offset entity spans."""
    rng = random.Random(seed)
    # Mildly unbalanced intents, as in any real queue.
    intent_weights = [rng.uniform(0.85, 1.15) for _ in INTENTS]
    channel_weights = [_CHANNEL_STYLES[c].weight for c in CHANNELS]
    rows: list[dict[str, object]] = []
    for i in range(n):
        intent = rng.choices(INTENTS, weights=intent_weights)[0]
        channel = rng.choices(CHANNELS, weights=channel_weights)[0]
        sentiment = rng.choices(SENTIMENTS, weights=_SENTIMENT_WEIGHTS.get(intent, _DEFAULT_SENTIMENT_WEIGHTS))[0]
        text, entities = _text_and_entities(_compose_ticket(intent, channel, sentiment, rng))
        rows.append({
            "ticket_id": f"T{i + 1:05d}",
            "channel": channel,
            "text": text,
            "intent": intent,
            "sentiment": sentiment,
            "entities": entities,
        })
    return pd.DataFrame(rows, columns=["ticket_id", "channel", "text", "intent", "sentiment", "entities"])


# --------------------------------------------------------------------------
# Knowledge base. Facts are fixed strings so every article about an intent
# states the same fee or deadline; retrieval answers must not contradict.
# --------------------------------------------------------------------------

# intent -> ((title, anchor sentence), ...), shared facts
_KB: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    "card_lost": ((
        ("Freezing a lost or stolen card", "You can freeze a card instantly in the app under Cards > Freeze card; freezing is free and can be reversed at any time."),
        ("Ordering a replacement card", "A replacement card costs $5 with standard delivery (5-7 business days) or $25 with express delivery (1-2 business days)."),
        ("Unrecognised transactions after losing your card", "Transactions made after you report a card lost are refunded in full; earlier transactions must be disputed within 60 days."),
        ("Using a virtual card while you wait", "A temporary virtual card is issued immediately after you report a card lost and works for online and mobile-wallet payments."),
    ), (
        "Stolen cards are replaced free of charge if you provide a police report reference number.",
        "A card reported lost cannot be reactivated, even if you find it later.",
        "The replacement card has a new number, so update your saved payment details with merchants.",
        "Our card security line is open 24/7 on +1 800 555 0199.",
        "You can report a lost card in the app, on the website or by phone, and the card is blocked within 2 minutes.",
        "Recurring payments such as subscriptions move to the new card automatically for most merchants.",
    )),
    "card_not_arrived": ((
        ("When will my new card arrive?", "New and replacement cards are posted within 2 business days and usually arrive within 5-7 business days by standard mail."),
        ("My card has not arrived", "If your card has not arrived after 10 business days, we cancel it and send a new one free of charge."),
        ("Tracking an express card delivery", "Express cards are sent by courier with a tracking number that appears in the app within 24 hours of dispatch."),
    ), (
        "International card deliveries can take up to 15 business days.",
        "Cards are only sent to the address on your profile, so check it is up to date before ordering.",
        "You can use a virtual card while you wait for the physical card to arrive.",
        "A card that arrives after you reported it missing has already been cancelled and should be cut up.",
        "Cards are sent in a plain white envelope without our logo for security reasons.",
    )),
    "refund_request": ((
        ("How refunds work", "Refunds are issued to the original payment method within 5 business days of us receiving the returned item."),
        ("Returning an item for a refund", "You can return most items within 30 days of delivery for a full refund, as long as they are unused and in the original packaging."),
        ("Why hasn't my refund arrived?", "Once a refund is issued, banks typically take 3-10 business days to show it on your statement."),
        ("Refunds for digital purchases", "Digital purchases and gift cards can only be refunded within 14 days and only if they have not been downloaded or redeemed."),
    ), (
        "Return shipping is free for defective items; otherwise a $4.95 return label fee is deducted from the refund.",
        "Start a return from Orders > Return item and print the prepaid label.",
        "Refunds over $500 require a manual review, which adds up to 2 business days.",
        "Partial refunds are given for items returned with missing accessories.",
        "You will receive an email confirmation with a refund reference when the refund is issued.",
        "Original shipping charges are refunded only if the item was faulty or we sent the wrong item.",
    )),
    "cancel_order": ((
        ("Cancelling an order", "You can cancel an order free of charge from Orders > Cancel order until it has been handed to the courier."),
        ("Cancelling an order that has already shipped", "Orders that have already shipped cannot be cancelled; refuse the delivery or start a return once it arrives."),
        ("Cancelling a duplicate order", "If you placed the same order twice within 1 hour, contact us and we will cancel the duplicate and refund it in full."),
    ), (
        "Most orders are handed to the courier within 2 hours of being placed on business days.",
        "Cancelled orders are refunded to the original payment method within 3 business days.",
        "Pre-orders can be cancelled at any time before the release date.",
        "Custom or engraved items cannot be cancelled once production has started.",
        "You will receive a cancellation confirmation email; if you do not, check the order status in the app.",
    )),
    "order_status": ((
        ("Tracking your order", "You can track any order under Orders in the app; the tracking number appears as soon as the parcel is handed to the courier."),
        ("What the order statuses mean", "Processing means we are preparing your order, Shipped means it is with the courier, and Delivered means the courier has confirmed delivery."),
        ("Order confirmation emails", "An order confirmation email is sent within 15 minutes of checkout; check your spam folder if you cannot find it."),
    ), (
        "Standard delivery takes 3-5 business days and express delivery takes 1-2 business days.",
        "Tracking information can take up to 24 hours to update after dispatch.",
        "Orders placed after 2pm on a Friday are dispatched the following Monday.",
        "Orders with several items may arrive in separate parcels with separate tracking numbers.",
        "The estimated delivery date is shown on the order page.",
    )),
    "delivery_delayed": ((
        ("My delivery is late", "If your parcel is more than 3 business days past its estimated delivery date, we open an investigation with the courier."),
        ("Compensation for late deliveries", "If an express delivery arrives late, the $9.99 express shipping fee is refunded automatically within 7 days."),
        ("Parcels stuck in transit", "A parcel with no tracking update for 7 days is treated as lost, and we send a replacement or a full refund."),
        ("Delays during peak season", "Between November 15 and December 31, deliveries can take up to 4 extra business days."),
    ), (
        "Courier investigations usually take 2-5 business days.",
        "Customs checks can add up to 10 business days to international deliveries.",
        "You can ask the courier to redeliver or hold the parcel at a pickup point using the link in the tracking email.",
        "Severe weather and public holidays may delay deliveries without notice.",
        "We notify you by email if a delay of more than 2 days is expected.",
    )),
    "change_address": ((
        ("Updating your address", "You can change your home and shipping address under Settings > Addresses; changes apply to orders placed afterwards."),
        ("Changing the address on an existing order", "The delivery address on an order can be changed only while the order status is Processing."),
        ("Moving abroad", "If you move to another country, some products and payment methods may no longer be available to you."),
    ), (
        "Address changes for your card require verification with a one-time code sent to your phone.",
        "You can save up to 5 shipping addresses on your account.",
        "Once an order has shipped, you can ask the courier to redirect it for a fee of $6.",
        "PO boxes cannot be used for express deliveries.",
        "Your billing address must match the address registered with your bank.",
    )),
    "billing_dispute": ((
        ("Disputing a charge", "You can dispute a charge within 60 days of the statement date from Billing > Transactions > Dispute."),
        ("Duplicate charges", "A duplicate charge is usually a pending authorisation that disappears within 3-5 business days."),
        ("Unrecognised charges on your statement", "Our charges appear on bank statements under the merchant name LUMEN*STORE, which many customers do not recognise."),
        ("Understanding your invoice", "Invoices are issued on the 1st of each month and include all charges from the previous billing period."),
    ), (
        "We respond to billing disputes within 10 business days.",
        "While a dispute is open, the disputed amount is not counted towards your balance.",
        "If a dispute is resolved in your favour, the amount is credited within 5 business days.",
        "Overcharges caused by our pricing errors are refunded in full plus a $10 credit.",
        "Filing a chargeback with your bank while a dispute is open with us may delay the resolution.",
        "You can download past invoices as PDF files for up to 24 months.",
    )),
    "password_reset": ((
        ("Resetting your password", "Select Forgot password on the sign-in page and we will email you a reset link that is valid for 30 minutes."),
        ("Reset email not received", "Reset emails are sent within 5 minutes; check your spam folder and make sure you used the email address registered on your account."),
        ("Password requirements", "Passwords must be at least 12 characters long and cannot be one of your last 5 passwords."),
    ), (
        "You can request up to 5 reset links per hour.",
        "Resetting your password signs you out of all other devices.",
        "If you no longer have access to your email address, identity verification takes up to 2 business days.",
        "We will never ask for your password by phone, chat or email.",
        "You can change your password at any time under Settings > Security.",
    )),
    "account_locked": ((
        ("Why is my account locked?", "Accounts are locked for 30 minutes after 5 failed sign-in attempts."),
        ("Unlocking your account", "You can unlock your account early by confirming a one-time code sent to your registered phone number."),
        ("Suspended accounts", "We may suspend an account when we detect unusual activity, and you will receive an email explaining the next steps within 24 hours."),
        ("Identity verification for locked accounts", "To restore a suspended account, upload a photo ID and a selfie; verification is completed within 2 business days."),
    ), (
        "While your account is locked, scheduled payments still go out as normal.",
        "Accounts locked 3 times in 24 hours require identity verification before they can be unlocked.",
        "Contact us from the email address registered on your account so we can verify your identity.",
        "Turning on two-factor authentication reduces the chance of your account being locked by suspicious activity.",
        "Support agents cannot bypass a security lock without completing verification.",
    )),
    "upgrade_plan": ((
        ("Comparing plans", "The Basic plan is free, Premium costs $9.99 per month, and Business Plus costs $24.99 per user per month."),
        ("Upgrading your plan", "You can upgrade at any time under Settings > Plan, and the new features are available immediately."),
        ("How upgrades are billed", "When you upgrade mid-cycle, you pay only the prorated difference for the rest of the billing period."),
        ("Annual billing discounts", "Paying annually instead of monthly saves 20% on Premium and Business Plus."),
    ), (
        "Premium includes 200 GB of storage and Business Plus includes 1 TB per user.",
        "Business Plus requires a minimum of 3 users.",
        "You can downgrade at the end of any billing period without a fee.",
        "Students get 50% off Premium with a valid student email address.",
        "A 14-day free trial of Premium is available once per account.",
    )),
    "product_defect": ((
        ("Reporting a faulty product", "If a product is faulty within 30 days of delivery, we replace it or refund it in full, including shipping."),
        ("Warranty coverage", "All devices come with a 2-year warranty covering manufacturing defects but not accidental damage."),
        ("Items damaged in transit", "Report items damaged in delivery within 48 hours and include photos of the item and the packaging."),
        ("Troubleshooting before a return", "Many devices that will not turn on can be fixed by charging them for 30 minutes and holding the power button for 15 seconds."),
    ), (
        "Warranty repairs take 7-10 business days after we receive the item.",
        "We send a prepaid shipping label for faulty items, so returns cost you nothing.",
        "Cracked screens are covered only if the damage was present on delivery.",
        "Please include the serial number, found on the box or under Settings > About, in your report.",
        "If the same defect happens twice, we replace the product with a new unit instead of repairing it.",
    )),
    "payment_failed": ((
        ("Why was my payment declined?", "Payments are most often declined because of incorrect card details, insufficient funds or a block placed by your bank."),
        ("Fixing a failed checkout", "If checkout fails, wait 10 minutes before retrying, because repeated attempts can trigger your bank's fraud checks."),
        ("Accepted payment methods", "We accept Visa, Mastercard, American Express, PayPal and bank transfer; prepaid cards are not accepted for subscriptions."),
    ), (
        "A failed payment may show as pending on your statement for up to 7 days, but you will not be charged.",
        "3-D Secure verification is required for payments over $100.",
        "Failed subscription payments are retried automatically 3 times over 7 days.",
        "Your subscription is paused if payment fails 3 times in a row.",
        "You can update your payment method under Settings > Billing.",
    )),
    "close_account": ((
        ("Closing your account", "You can close your account under Settings > Account > Close account once your balance is zero and no orders are in progress."),
        ("What happens to your data", "Personal data is deleted within 30 days of closing your account, except records we must keep for 7 years by law."),
        ("Cancelling your membership", "Cancelling your membership stops future renewals, and you keep access until the end of the current billing period."),
    ), (
        "Closing an account is permanent and cannot be undone after 14 days.",
        "Download any invoices or data you need before closing, because they cannot be recovered afterwards.",
        "Unused store credit is forfeited when an account is closed.",
        "Remaining balances above $1 are refunded to your linked bank account within 5 business days.",
        "You can reopen a closed account within 14 days by contacting support.",
    )),
}
_KB_FOOTERS: tuple[str, ...] = (
    "If you still need help, contact us by chat, available every day from 8am to 8pm.",
    "Premium and Business Plus customers get priority support with a 2-hour response time.",
    "You can also find this option in the Help section of the app.",
)
_KB_FIRST_UPDATE = dt.date(2023, 6, 1)
_KB_UPDATE_WINDOW_DAYS = 580


def generate_knowledge_base(seed: int = 7) -> pd.DataFrame:
    """Help articles, each anchored on one policy fact plus related facts."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for intent in INTENTS:
        articles, facts = _KB[intent]
        for title, anchor in articles:
            # Keep the facts in bank order so bodies read as a coherent article.
            picked = sorted(rng.sample(range(len(facts)), rng.randint(2, 5)))
            sentences = [anchor, *(facts[i] for i in picked)]
            if rng.random() < 0.4:
                sentences.append(rng.choice(_KB_FOOTERS))
            updated = _KB_FIRST_UPDATE + dt.timedelta(days=rng.randrange(_KB_UPDATE_WINDOW_DAYS))
            rows.append({
                "doc_id": f"KB{len(rows) + 1:04d}",
                "title": title,
                "body": " ".join(sentences),
                "category": intent,
                "updated": updated.isoformat(),
            })
    return pd.DataFrame(rows, columns=["doc_id", "title", "body", "category", "updated"])


# --------------------------------------------------------------------------
# Time series with labelled anomalies.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _SeriesSpec:
    series_id: str
    level: float
    yearly_trend: float                     # relative growth per year
    weekly: tuple[float, ...]               # multiplier per weekday, Monday first
    yearly_amplitude: float                 # relative size of the annual cycle
    yearly_peak_day: int                    # day of year the annual cycle peaks
    noise: float                            # noise sd relative to the baseline
    integer: bool                           # counts are whole numbers


_SERIES: tuple[_SeriesSpec, ...] = (
    _SeriesSpec("tickets_email", 420, 0.15, (1.15, 1.1, 1.05, 1.0, 0.95, 0.6, 0.55), 0.12, 340, 0.06, True),
    _SeriesSpec("tickets_chat", 650, 0.35, (1.1, 1.05, 1.0, 1.0, 1.05, 0.85, 0.8), 0.15, 330, 0.06, True),
    # Refunds peak in early January, after holiday purchases come back.
    _SeriesSpec("refunds_amount", 18500, 0.1, (1.2, 1.05, 1.0, 0.95, 0.95, 0.9, 0.95), 0.25, 8, 0.08, False),
    _SeriesSpec("signups", 140, 0.5, (1.0, 1.05, 1.05, 1.0, 0.95, 0.85, 0.9), 0.1, 20, 0.09, True),
    _SeriesSpec("latency_ms", 180, -0.05, (1.04, 1.05, 1.05, 1.04, 1.03, 0.92, 0.9), 0.04, 200, 0.05, False),
)
SERIES_START = "2023-01-01"
SERIES_DAYS = 730
_ANOMALY_TYPES: tuple[str, ...] = ("spike", "dip", "level_shift", "variance_burst")
_ANOMALY_PROBS: tuple[float, ...] = (0.35, 0.25, 0.25, 0.15)
_ANOMALY_LENGTHS: dict[str, tuple[int, int]] = {   # inclusive day ranges
    "spike": (1, 1), "dip": (1, 1), "level_shift": (4, 10), "variance_burst": (4, 8),
}
# Detectors need a clean warm-up window, and windows separated by normal days
# keep every labelled run attributable to exactly one anomaly.
_WARMUP_DAYS = 28
_MIN_GAP_DAYS = 10


def _anomaly_windows(rng: np.random.Generator) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end_exclusive, type) windows."""
    count = int(rng.integers(6, 13))
    windows: list[tuple[int, int, str]] = []
    while len(windows) < count:
        kind = str(rng.choice(_ANOMALY_TYPES, p=_ANOMALY_PROBS))
        low, high = _ANOMALY_LENGTHS[kind]
        length = int(rng.integers(low, high + 1))
        start = int(rng.integers(_WARMUP_DAYS, SERIES_DAYS - length))
        end = start + length
        if all(end + _MIN_GAP_DAYS <= s or e + _MIN_GAP_DAYS <= start for s, e, _ in windows):
            windows.append((start, end, kind))
    return sorted(windows)


def _one_series(spec: _SeriesSpec, dates: pd.DatetimeIndex, rng: np.random.Generator) -> pd.DataFrame:
    t = np.arange(SERIES_DAYS, dtype=float)
    weekly = np.asarray(spec.weekly)[dates.dayofweek.to_numpy()]
    phase = 2 * np.pi * (dates.dayofyear.to_numpy() - spec.yearly_peak_day) / 365.25
    yearly = 1 + spec.yearly_amplitude * np.cos(phase)
    baseline = spec.level * (1 + spec.yearly_trend * t / 365.25) * weekly * yearly
    noise = rng.normal(0.0, spec.noise, SERIES_DAYS) * baseline

    anomaly_type = np.full(SERIES_DAYS, "", dtype=object)
    for start, end, kind in _anomaly_windows(rng):
        window = slice(start, end)
        if kind == "spike":
            baseline[window] *= rng.uniform(1.6, 2.4)
        elif kind == "dip":
            baseline[window] *= rng.uniform(0.3, 0.55)
        elif kind == "level_shift":
            baseline[window] *= rng.uniform(1.35, 1.7) if rng.random() < 0.5 else rng.uniform(0.5, 0.7)
        else:
            noise[window] *= rng.uniform(4.0, 6.0)
        anomaly_type[window] = kind

    values = np.maximum(baseline + noise, 0.0)
    if spec.integer:
        values = np.round(values)
    return pd.DataFrame({
        "series_id": spec.series_id,
        "timestamp": dates.strftime("%Y-%m-%d"),
        "value": np.round(values, 3),
        "label": (anomaly_type != "").astype(int),
        "anomaly_type": anomaly_type.astype(str),
    })


def generate_series(seed: int = 7) -> pd.DataFrame:
    """Daily series with trend, seasonality, noise and anomalies, in the long format (label = 1 inside an anomaly)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(SERIES_START, periods=SERIES_DAYS, freq="D")
    frames = [_one_series(spec, dates, rng) for spec in _SERIES]
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------
# Files.
# --------------------------------------------------------------------------


def _write_jsonl(frame: pd.DataFrame, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in frame.to_dict(orient="records"):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_sample_data(out_dir: Path, seed: int = 7, n_tickets: int = 2400) -> dict[str, Path]:
    """Write tickets.jsonl, knowledge_base.jsonl, series.csv and the labelled prompt and request sets into out_dir."""
    # Imported here: the prompt sets are built from the tickets' and articles' generators above.
    from training.dispatch_data import generate_dispatch_requests
    from training.injection_data import generate_injection_prompts
    from training.router_data import generate_router_prompts

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "tickets": out_dir / "tickets.jsonl",
        "knowledge_base": out_dir / "knowledge_base.jsonl",
        "series": out_dir / "series.csv",
        "injection_prompts": out_dir / "injection_prompts.jsonl",
        "router_prompts": out_dir / "router_prompts.jsonl",
        "dispatch_requests": out_dir / "dispatch_requests.jsonl",
    }
    _write_jsonl(generate_tickets(n_tickets, seed), paths["tickets"])
    _write_jsonl(generate_knowledge_base(seed), paths["knowledge_base"])
    generate_series(seed).to_csv(paths["series"], index=False, float_format="%.3f", lineterminator="\n")
    _write_jsonl(generate_injection_prompts(seed), paths["injection_prompts"])
    _write_jsonl(generate_router_prompts(seed), paths["router_prompts"])
    _write_jsonl(generate_dispatch_requests(seed), paths["dispatch_requests"])
    return paths

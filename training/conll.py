"""Reading CoNLL-style NER files into the NER capability's frame.

    EU B-ORG            one token per line, its tag last (extra middle columns, e.g. POS, ignored)
    rejects O
                        a blank line ends a sentence; -DOCSTART- lines are skipped

Tags may be BIO (IOB2), IOB1 (an entity may start with I-), or BIOES/BILOU. Each sentence becomes
one row: ``text`` (the tokens joined by single spaces), ``tokens``, and ``entities`` as character
spans ``{"start", "end", "label", "text"}`` into ``text``. A malformed line is an error that names
the file and line number.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from models.base import InputError

_TAG = re.compile(r"^(O|([BIESLU])-(\S+))$")
#: tag prefixes that close the entity they belong to
_ENDS = {"E", "L", "S", "U"}


def read_conll(path: Path | str) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise InputError(f"file not found: {path}")
    rows, tokens, tags = [], [], []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                if tokens:
                    rows.append(_sentence(tokens, tags))
                    tokens, tags = [], []
                continue
            if fields[0] == "-DOCSTART-":
                continue
            if len(fields) < 2 or not _TAG.match(fields[-1]):
                raise InputError(
                    f"{path}:{number}: expected 'TOKEN TAG' with TAG like O, B-PER or I-LOC, got {line.rstrip()!r}"
                )
            tokens.append(fields[0])
            tags.append(fields[-1])
    if tokens:
        rows.append(_sentence(tokens, tags))
    if not rows:
        raise InputError(f"{path}: no sentences found; expected CoNLL lines 'TOKEN TAG' with blank lines between sentences")
    return pd.DataFrame(rows, columns=["text", "tokens", "entities"])


def _sentence(tokens: list[str], tags: list[str]) -> tuple[str, list[str], list[dict]]:
    offsets, position = [], 0
    for token in tokens:
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    text = " ".join(tokens)
    entities, open_entity = [], None  # open_entity: [label, first token, last token]
    for i, tag in enumerate(tags):
        prefix, _, label = tag.partition("-")
        continues = open_entity is not None and prefix in ("I", "E", "L") and open_entity[0] == label
        if open_entity is not None and not continues:
            entities.append(open_entity)
            open_entity = None
        if prefix == "O":
            continue
        if continues:
            open_entity[2] = i
        else:  # B/S/U start an entity; so does an I/E/L that follows no entity of its type (IOB1)
            open_entity = [label, i, i]
        if prefix in _ENDS:
            entities.append(open_entity)
            open_entity = None
    if open_entity is not None:
        entities.append(open_entity)
    spans = [
        {"start": offsets[first][0], "end": offsets[last][1], "label": label, "text": text[offsets[first][0] : offsets[last][1]]}
        for label, first, last in entities
    ]
    return text, tokens, spans


def looks_like_conll(path: Path | str) -> bool:
    """Whether a file's extension says CoNLL rather than a table."""
    return Path(path).suffix.lower() in {".conll", ".conllu", ".iob", ".bio", ".txt"}

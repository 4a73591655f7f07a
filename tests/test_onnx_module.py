"""OnnxModule: a torch module's inference through ONNX Runtime gives PyTorch's numbers, or falls back to PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.onnx_module import OnnxModule


class _Tiny(torch.nn.Module):
    """Embedding, dropout, masked mean and a linear layer: the shape of a classifier over word pieces."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(50, 8)
        self.drop = torch.nn.Dropout(0.5)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.drop(self.embed(input_ids))
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return self.head((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9))


class _NotExportable(_Tiny):
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(super().forward(input_ids, attention_mask).detach().numpy()) + 1)


def _feeds(batch: int, tokens: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, tokens), dtype=np.int64)
    mask[0, tokens // 2:] = 0  # padding on one row
    return {"input_ids": rng.integers(0, 50, (batch, tokens)), "attention_mask": mask}


def test_onnx_answers_as_pytorch_does_on_other_shapes_and_keeps_eval_mode() -> None:
    module = _Tiny()
    fast = OnnxModule(module)
    first = fast(_feeds(1, 5, seed=1))  # the export's example: one row of five pieces
    assert fast.backend == "onnxruntime"
    assert not module.training, "the export must not leave dropout on"
    for batch, tokens in ((3, 9), (2, 2)):
        feeds = _feeds(batch, tokens, seed=batch)
        with torch.inference_mode():
            expected = module(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()
        np.testing.assert_allclose(fast(feeds), expected, atol=1e-5)
    assert first.shape == (1, 3)


def test_a_module_that_cannot_be_exported_falls_back_to_pytorch() -> None:
    module = _NotExportable()
    fast = OnnxModule(module)
    feeds = _feeds(2, 4, seed=3)
    with pytest.warns(UserWarning, match="using PyTorch"):
        out = fast(feeds)
    assert fast.backend == "pytorch"
    assert not module.training
    with torch.inference_mode():
        expected = module(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-6)

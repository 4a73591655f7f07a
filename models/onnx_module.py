"""A PyTorch module's inference through ONNX Runtime, for the small batches serving sends.

    fast = OnnxModule(network, threads=1)          # network(input_ids=..., attention_mask=...) -> tensor
    fast({"input_ids": ids, "attention_mask": mask})   # numpy in, numpy out: the same numbers, faster

On one request, PyTorch's per-call overhead dominates a MiniLM forward pass: on 2 cores ONNX Runtime
takes about half the time (models/rag/query_encoder.py measured 17 -> 7.5 ms a query). The module
is exported in memory on the first call, with that call's inputs as the example (axes 0 and 1 are
dynamic), and the first answer is checked against PyTorch's; a failed export or check keeps
PyTorch for good, with a warning, so serving never depends on the export working. The module must
not be trained afterwards: the export is a snapshot of its weights.
"""

from __future__ import annotations

import io
import threading
import warnings

import numpy as np
import torch

#: largest absolute difference from PyTorch's output accepted at the check
TOLERANCE = 1e-3


class OnnxModule:
    def __init__(self, module: torch.nn.Module, threads: int = 1) -> None:
        self.module = module.eval()
        self.threads = threads
        self._session = None
        self._failed = False
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        return "onnxruntime" if self._session is not None else "pytorch"

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feeds = {name: np.ascontiguousarray(value, dtype=np.int64) for name, value in inputs.items()}
        if self._session is None and not self._failed:
            with self._lock:
                if self._session is None and not self._failed:
                    self._prepare(feeds)
        if self._session is None:
            return self._torch(feeds)
        return self._session.run(None, feeds)[0]

    def _torch(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return self.module(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()

    def _prepare(self, feeds: dict[str, np.ndarray]) -> None:
        try:
            names = list(feeds)
            example = tuple(torch.from_numpy(feeds[n]) for n in names)
            buffer = io.BytesIO()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    torch.onnx.export(_Positional(self.module, names).eval(), example, buffer, input_names=names,
                                      output_names=["output"], opset_version=17, dynamo=False,
                                      dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names} | {"output": {0: "batch"}})
            finally:  # export resets the modules' training flags: keep eval mode (no dropout), whatever happened
                self.module.eval()
            session = onnx_session(buffer.getvalue(), self.threads)
            difference = float(np.max(np.abs(session.run(None, feeds)[0] - self._torch(feeds))))
            if not difference <= TOLERANCE:
                raise ValueError(f"ONNX output differs from PyTorch's by {difference:.2e}")
            self._session = session
        except Exception as error:  # serving keeps working on the slower path
            warnings.warn(f"{type(self.module).__name__}: using PyTorch, not ONNX Runtime ({error})", stacklevel=3)
            self._failed = True


def onnx_session(model: str | bytes, threads: int):
    """An ONNX Runtime CPU session over a model file's path or its bytes, ``threads`` per call."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class _Positional(torch.nn.Module):
    """The module called with keyword inputs, as the positional graph torch.onnx.export traces."""

    def __init__(self, module: torch.nn.Module, names: list[str]) -> None:
        super().__init__()
        self.module, self.names = module, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.module(**dict(zip(self.names, inputs)))

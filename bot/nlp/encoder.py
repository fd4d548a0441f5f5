"""all-MiniLM-L6-v2 on ONNX Runtime: a 6-layer BERT encoder, mean pooling, unit length.

The weights are memory-mapped from `model.safetensors` and the text is tokenized with `tokenizers` from the
checked files of `bot.nlp.encoder_files`; `bot.nlp.encoder_graph` writes the forward pass as an
ONNX graph over those weights, and ONNX Runtime runs it. No PyTorch, no model hub, no converted
file from elsewhere. `encode()` matches sentence-transformers' `encode(..., normalize_embeddings=True)`
to about 2e-7 (tests/bot/nlp/test_encoder.py compares against stored reference vectors).

Sentences of similar length are encoded together in batches (training featurizes the whole data
set in a few seconds on 2 cores); one message takes about 4 ms (`make bench`, bench/encoder.py).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Sequence

import numpy as np

from bot.nlp.encoder_files import DEFAULT_DIR, verify_encoder_files
from bot.nlp.encoder_graph import build_encoder_graph, memory_mapped_tensors

if TYPE_CHECKING:
    import onnxruntime

logger = logging.getLogger(__name__)

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
DEFAULT_BATCH_SIZE = 32
DEFAULT_THREADS = 2
PADDING_BIAS = np.float32(-1e9)


def inference_session(
    model: bytes, weights: Dict[str, np.ndarray], threads: int
) -> onnxruntime.InferenceSession:
    """An ONNX Runtime CPU session over `model` and its external `weights` (which it copies)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    names = list(weights)
    options.add_external_initializers(names, [onnxruntime.OrtValue.ortvalue_from_numpy(weights[n]) for n in names])
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: its warnings name graph nodes, never patient text
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def mean_pooled_unit(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Average the real tokens' vectors (batch, length, hidden) -> (batch, hidden), then unit length."""
    pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


class SentenceEncoder:
    """Text in, unit-length 384-dimensional sentence embeddings out."""

    def __init__(self, directory: Path = DEFAULT_DIR, threads: int = DEFAULT_THREADS) -> None:
        """Check the files' hashes, then load the tokenizer and build the inference session."""
        from tokenizers import Tokenizer

        verify_encoder_files(directory)
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        self.dimensions = int(config["hidden_size"])
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        # ONNX Runtime copies the mapped weights into its own buffers (and packs the matrices), so
        # the map is closed once the session exists: ~90 MB of file pages are not kept resident.
        model, external = build_encoder_graph(memory_mapped_tensors(directory / "model.safetensors"), config)
        self.session = inference_session(model, external, threads)
        del external

    def token_ids(self, texts: Sequence[str]) -> List[List[int]]:
        """WordPiece ids with [CLS] and [SEP], truncated to MAX_TOKENS."""
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean-pooled, normalised embeddings for one padded batch (batch, length)."""
        bias = ((1.0 - mask) * PADDING_BIAS).astype(np.float32)[:, None, None, :]
        positions = np.arange(ids.shape[1], dtype=np.int64)
        (hidden,) = self.session.run(["hidden"], {"input_ids": ids, "positions": positions,
                                                  "attention_bias": bias})
        return mean_pooled_unit(hidden.reshape(ids.shape[0], ids.shape[1], self.dimensions), mask)

    def encode(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Embeddings (len(texts), 384), float32, unit length; similar lengths batched together."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        all_ids = self.token_ids(texts)
        order = sorted(range(len(texts)), key=lambda i: len(all_ids[i]))
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            length = max(len(all_ids[i]) for i in chosen)
            ids = np.zeros((len(chosen), length), dtype=np.int64)
            mask = np.zeros((len(chosen), length), dtype=np.float32)
            for row, i in enumerate(chosen):
                ids[row, :len(all_ids[i])] = all_ids[i]
                mask[row, :len(all_ids[i])] = 1.0
            out[chosen] = self._forward(ids, mask)
        return out

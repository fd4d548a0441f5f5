"""all-MiniLM-L6-v2 in plain numpy: a 6-layer BERT encoder, mean pooling, unit length.

The weights are read with `safetensors` and the text is tokenized with `tokenizers` from the
checked files of `bot.nlp.encoder_files`; no PyTorch, no model hub. `encode()` matches
sentence-transformers' `encode(..., normalize_embeddings=True)` to about 1e-6
(tests/bot/nlp/test_encoder.py compares against stored reference vectors).

Speed: the query, key and value projections are fused into one matrix product, weights are kept
pre-transposed and contiguous, and sentences of similar length are encoded together in batches
(training featurizes the whole data set in a few seconds on 2 cores).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
from scipy.special import erf

from bot.nlp.encoder_files import DEFAULT_DIR, verify_encoder_files

logger = logging.getLogger(__name__)

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class EncoderLayer:
    """One transformer layer's weights, laid out for `x @ W`."""

    qkv_weight: np.ndarray  # (hidden, 3 * hidden)
    qkv_bias: np.ndarray
    out_weight: np.ndarray
    out_bias: np.ndarray
    attn_norm: Tuple[np.ndarray, np.ndarray]
    up_weight: np.ndarray
    up_bias: np.ndarray
    down_weight: np.ndarray
    down_bias: np.ndarray
    out_norm: Tuple[np.ndarray, np.ndarray]


def layer_norm(x: np.ndarray, norm: Tuple[np.ndarray, np.ndarray], eps: float) -> np.ndarray:
    """LayerNorm over the last axis."""
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(variance + eps) * norm[0] + norm[1]


def gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x)."""
    return 0.5 * x * (1.0 + erf(x * np.float32(0.7071067811865476)))


def _layer(weights: Dict[str, np.ndarray], index: int) -> EncoderLayer:
    """Read layer `index` from the safetensors dictionary."""
    prefix = f"encoder.layer.{index}."

    def w(name: str) -> np.ndarray:
        return weights[prefix + name]

    qkv = np.concatenate([w(f"attention.self.{p}.weight") for p in ("query", "key", "value")], axis=0)
    return EncoderLayer(
        qkv_weight=np.ascontiguousarray(qkv.T),
        qkv_bias=np.concatenate([w(f"attention.self.{p}.bias") for p in ("query", "key", "value")]),
        out_weight=np.ascontiguousarray(w("attention.output.dense.weight").T),
        out_bias=w("attention.output.dense.bias"),
        attn_norm=(w("attention.output.LayerNorm.weight"), w("attention.output.LayerNorm.bias")),
        up_weight=np.ascontiguousarray(w("intermediate.dense.weight").T),
        up_bias=w("intermediate.dense.bias"),
        down_weight=np.ascontiguousarray(w("output.dense.weight").T),
        down_bias=w("output.dense.bias"),
        out_norm=(w("output.LayerNorm.weight"), w("output.LayerNorm.bias")),
    )


class SentenceEncoder:
    """Text in, unit-length 384-dimensional sentence embeddings out."""

    def __init__(self, directory: Path = DEFAULT_DIR) -> None:
        """Check the files' hashes, then load the tokenizer and the weights."""
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        verify_encoder_files(directory)
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        weights = load_file(str(directory / "model.safetensors"))
        self.word_embeddings = weights["embeddings.word_embeddings.weight"]
        self.position_embeddings = weights["embeddings.position_embeddings.weight"]
        self.token_type_embedding = weights["embeddings.token_type_embeddings.weight"][0]
        self.embedding_norm = (weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"])
        self.layers = [_layer(weights, i) for i in range(int(config["num_hidden_layers"]))]
        self.dimensions = self.hidden

    def token_ids(self, texts: Sequence[str]) -> List[List[int]]:
        """WordPiece ids with [CLS] and [SEP], truncated to MAX_TOKENS."""
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean-pooled, normalised embeddings for one padded batch (batch, length)."""
        batch, length = ids.shape
        heads, head_size = self.heads, self.hidden // self.heads
        x = self.word_embeddings[ids] + self.position_embeddings[:length] + self.token_type_embedding
        x = layer_norm(x, self.embedding_norm, self.eps).reshape(batch * length, self.hidden)
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :].astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(head_size))
        for layer in self.layers:
            qkv = (x @ layer.qkv_weight + layer.qkv_bias).reshape(batch, length, 3, heads, head_size)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3)
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            scores = (q @ k) * scale + bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, self.hidden)
            x = layer_norm(context @ layer.out_weight + layer.out_bias + x, layer.attn_norm, self.eps)
            hidden = gelu(x @ layer.up_weight + layer.up_bias)
            x = layer_norm(hidden @ layer.down_weight + layer.down_bias + x, layer.out_norm, self.eps)
        x = x.reshape(batch, length, self.hidden)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)

    def encode(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Embeddings (len(texts), 384), float32, unit length; similar lengths batched together."""
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
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

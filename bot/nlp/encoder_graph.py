"""The all-MiniLM-L6-v2 forward pass written out as an ONNX graph over the checked safetensors file.

Nothing is downloaded or converted by another tool: each BERT layer is spelled out here with
standard ONNX operators (opset 17). The weights are not serialized into the graph: they are read
from the memory-mapped `model.safetensors` and handed to ONNX Runtime as external initializers,
in PyTorch's own (out, in) layout (`Gemm` with `transB`), so loading never holds more than one
extra copy of the 90 MB of weights (ONNX Runtime's own).

Inputs: `input_ids` (batch, length) int64, `positions` (length,) int64 and `attention_bias`
(batch, 1, 1, length) float32 (0 for real tokens, -1e9 for padding). Output: `hidden`
(batch * length, hidden), the last layer's token vectors; pooling is done by the caller.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

OPSET = 17
IR_VERSION = 8  # what ONNX Runtime 1.18 reads for opset 17
SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def memory_mapped_tensors(path: Path) -> Dict[str, np.ndarray]:
    """Every tensor of a safetensors file as a read-only view of one memory map (no copy)."""
    with path.open("rb") as handle:
        (header_size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(header_size))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_size)
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        dtype = SAFETENSORS_DTYPES[entry["dtype"]]
        tensors[name] = data[start:end].view(dtype).reshape(entry["shape"])
    return tensors


class _GraphWriter:
    """Collects nodes, and the weights the graph names, under unique names."""

    def __init__(self, weights: Dict[str, np.ndarray]) -> None:
        self.nodes: List = []
        self.small_constants: List = []
        self.external: Dict[str, np.ndarray] = {}
        self._weights = weights
        self._count = 0

    def weight(self, name: str) -> str:
        """Name a tensor of the safetensors file as an external initializer of the graph."""
        self.external[name] = self._weights[name]
        return name

    def constant(self, name: str, value: np.ndarray) -> str:
        """A small constant stored in the graph itself."""
        from onnx import numpy_helper

        self.small_constants.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], **attributes: Any) -> str:
        """Add one node with a single output; returns the output's name."""
        from onnx import helper

        self._count += 1
        output = f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], name=f"node_{self._count}",
                                           **attributes))
        return output

    def linear(self, x: str, name: str) -> str:
        """A PyTorch Linear layer on (rows, in): x @ weight.T + bias."""
        return self.op("Gemm", [x, self.weight(f"{name}.weight"), self.weight(f"{name}.bias")], transB=1)

    def layer_norm(self, x: str, name: str, eps: float) -> str:
        """LayerNorm over the last axis."""
        return self.op("LayerNormalization", [x, self.weight(f"{name}.weight"), self.weight(f"{name}.bias")],
                       axis=-1, epsilon=eps)

    def initializers(self) -> List:
        """The graph's initializers: small constants inline, the weights marked as external."""
        from onnx import TensorProto, helper

        placeholders = []
        for name, array in self.external.items():
            tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype),
                                 dims=list(array.shape), data_location=TensorProto.EXTERNAL)
            for key, value in (("location", "memory"), ("offset", "0"), ("length", str(array.nbytes))):
                tensor.external_data.add(key=key, value=value)
            placeholders.append(tensor)
        return self.small_constants + placeholders


def _attention(g: _GraphWriter, x: str, head_shape: str, prefix: str, hidden: int) -> str:
    """Multi-head self-attention on (batch * length, hidden) rows."""
    def heads_of(part: str, perm: List[int]) -> str:
        projected = g.linear(x, f"{prefix}attention.self.{part}")
        return g.op("Transpose", [g.op("Reshape", [projected, head_shape])], perm=perm)

    query = heads_of("query", [0, 2, 1, 3])  # (batch, heads, length, head_size)
    key = heads_of("key", [0, 2, 3, 1])  # (batch, heads, head_size, length)
    value = heads_of("value", [0, 2, 1, 3])
    scores = g.op("Mul", [g.op("MatMul", [query, key]), f"{prefix}scale"])
    probabilities = g.op("Softmax", [g.op("Add", [scores, "attention_bias"])], axis=-1)
    context = g.op("Transpose", [g.op("MatMul", [probabilities, value])], perm=[0, 2, 1, 3])
    context = g.op("Reshape", [context, "rows_shape"])
    return g.linear(context, f"{prefix}attention.output.dense")


def _gelu(g: _GraphWriter, x: str) -> str:
    """BERT's exact GELU, x * 0.5 * (1 + erf(x / sqrt 2)) (ONNX Runtime fuses the pattern)."""
    one_plus = g.op("Add", [g.op("Erf", [g.op("Mul", [x, "inv_sqrt2"])]), "one"])
    return g.op("Mul", [g.op("Mul", [x, "half"]), one_plus])


def build_encoder_graph(weights: Dict[str, np.ndarray], config: Dict) -> Tuple[bytes, Dict[str, np.ndarray]]:
    """The serialized ONNX model of the encoder described by `config`, and its external weights."""
    from onnx import TensorProto, helper

    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    eps = float(config["layer_norm_eps"])
    head_size = hidden // heads
    g = _GraphWriter(weights)
    for name, value in (("inv_sqrt2", 0.7071067811865476), ("one", 1.0), ("half", 0.5)):
        g.constant(name, np.array(value, np.float32))
    g.constant("rows_shape", np.array([-1, hidden], np.int64))
    head_shape = g.op("Concat", [g.op("Shape", ["input_ids"]), g.constant("head_dims", np.array([heads, head_size],
                                                                                                np.int64))], axis=0)
    token_type = g.constant("token_type_embedding", np.array(weights["embeddings.token_type_embeddings.weight"][0]))
    word = g.op("Gather", [g.weight("embeddings.word_embeddings.weight"), "input_ids"])
    position = g.op("Gather", [g.weight("embeddings.position_embeddings.weight"), "positions"])
    x = g.op("Add", [g.op("Add", [word, position]), token_type])
    x = g.op("Reshape", [g.layer_norm(x, "embeddings.LayerNorm", eps), "rows_shape"])
    for index in range(int(config["num_hidden_layers"])):
        prefix = f"encoder.layer.{index}."
        g.constant(f"{prefix}scale", np.array(1.0 / np.sqrt(head_size), np.float32))
        attended = _attention(g, x, head_shape, prefix, hidden)
        x = g.layer_norm(g.op("Add", [attended, x]), prefix + "attention.output.LayerNorm", eps)
        up = _gelu(g, g.linear(x, prefix + "intermediate.dense"))
        x = g.layer_norm(g.op("Add", [g.linear(up, prefix + "output.dense"), x]), prefix + "output.LayerNorm", eps)
    g.nodes.append(helper.make_node("Identity", [x], ["hidden"], name="output"))
    graph = helper.make_graph(
        g.nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
         helper.make_tensor_value_info("positions", TensorProto.INT64, ["length"]),
         helper.make_tensor_value_info("attention_bias", TensorProto.FLOAT, ["batch", 1, 1, "length"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["rows", hidden])],
        g.initializers())
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="bot.nlp")
    model.ir_version = IR_VERSION  # ONNX Runtime checks the graph when the session is built
    return model.SerializeToString(), g.external

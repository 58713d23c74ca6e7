"""Write src/idmatch/data/exact_int8.onnx: the int8 gallery scan of ``Int8ExactIndex``.

The graph has no weights of its own: ``gallery`` is a placeholder initializer that the index
replaces at run time (onnxruntime ``SessionOptions.add_initializer``) with the int8 templates, laid
out (dim, n). Inputs: ``q`` (1, dim) uint8 = int8 query + 128 (zero point 128), ``k`` (1,) int64.
Outputs: ``scores`` (1, k) int32 and ``rows`` (1, k) int64, best first.

    pip install onnx && python training/build_exact_int8_onnx.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto, checker, helper, numpy_helper, save

DIM = 128
OUT = Path(__file__).resolve().parents[1] / "src" / "idmatch" / "data" / "exact_int8.onnx"


def build():
    q = helper.make_tensor_value_info("q", TensorProto.UINT8, [1, DIM])
    k = helper.make_tensor_value_info("k", TensorProto.INT64, [1])
    scores = helper.make_tensor_value_info("scores", TensorProto.INT32, [1, None])
    rows = helper.make_tensor_value_info("rows", TensorProto.INT64, [1, None])
    gallery = numpy_helper.from_array(np.zeros((DIM, 1), np.int8), "gallery")
    zero_point = numpy_helper.from_array(np.array(128, np.uint8), "q_zero_point")
    nodes = [helper.make_node("MatMulInteger", ["q", "gallery", "q_zero_point"], ["dot"]),
             helper.make_node("TopK", ["dot", "k"], ["scores", "rows"], axis=1)]
    graph = helper.make_graph(nodes, "idmatch_exact_int8", [q, k], [scores, rows], [gallery, zero_point])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="idmatch")
    model.ir_version = 8
    checker.check_model(model)
    return model


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    save(build(), out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")

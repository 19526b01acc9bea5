"""A few helpers to write small ONNX graphs by hand (onnx.helper is verbose)."""

from __future__ import annotations

import itertools

import numpy as np

OPSET = 18  # Resize's antialias and axes attributes need 18


def element_type(name: str) -> int:
    """onnx's TensorProto element type `name` ("FLOAT", "INT64"...); onnx is imported only when a graph is built."""
    from onnx import TensorProto

    return getattr(TensorProto, name)


class GraphBuilder:
    """Collects nodes, initializers, inputs and outputs; `model()` returns the checked ModelProto."""

    def __init__(self, name: str):
        import onnx.helper

        self._helper = onnx.helper
        self.name = name
        self.nodes: list = []
        self.initializers: list = []
        self.inputs: list = []
        self.outputs: list = []
        self._ids = itertools.count()

    def input(self, name: str, elem_type: int, shape: list) -> str:
        self.inputs.append(self._helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def output(self, name: str, elem_type: int, shape: list) -> None:
        self.outputs.append(self._helper.make_tensor_value_info(name, elem_type, shape))

    def const(self, value, dtype=np.int64) -> str:
        from onnx import numpy_helper

        name = f"const_{next(self._ids)}"
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs) -> str:
        out = out or f"{op_type.lower()}_{next(self._ids)}"
        self.nodes.append(self._helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def op_multi(self, op_type: str, inputs: list[str], outs: list[str], **attrs) -> list[str]:
        self.nodes.append(self._helper.make_node(op_type, inputs, outs, **attrs))
        return outs

    def model(self):
        import onnx

        graph = self._helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        model = self._helper.make_model(graph, opset_imports=[self._helper.make_opsetid("", OPSET)],
                                        producer_name="livevision")
        model.ir_version = min(model.ir_version, 10)  # what onnxruntime 1.17+ reads
        onnx.checker.check_model(model)
        return model

"""Micro-batches on the model's device: n (1, ...) inputs joined into one (n, ...) tensor, and a batched
output split back into n (1, ...) tensors, each by a small Concat / Split graph on the model's provider,
so that a batch never goes through the host (see Predictor.infer_batch)."""

from __future__ import annotations

from .chain import Binder, graph_session
from .onnx_build import GraphBuilder, element_type

#: OrtValue.data_type() -> onnx TensorProto element type name
_ELEMENT_TYPES = {"tensor(float)": "FLOAT", "tensor(float16)": "FLOAT16", "tensor(int64)": "INT64",
                  "tensor(int32)": "INT32", "tensor(uint8)": "UINT8", "tensor(bool)": "BOOL"}


def _element_type(value) -> int:
    return element_type(_ELEMENT_TYPES[value.data_type()])


def concat_graph(count: int, rank: int, element_type: int):
    """x0 .. x{count-1}, each (1, ...) of `rank` dimensions -> batch (count, ...)."""
    g = GraphBuilder("livevision_batch_concat")
    names = [g.input(f"x{i}", element_type, [1] + [f"d{k}" for k in range(1, rank)]) for i in range(count)]
    g.op("Concat", *names, out="batch", axis=0)
    g.output("batch", element_type, [count] + [f"d{k}" for k in range(1, rank)])
    return g.model()


def split_graph(count: int, rank: int, element_type: int):
    """batch (count, ...) -> y0 .. y{count-1}, each (1, ...)."""
    g = GraphBuilder("livevision_batch_split")
    batch = g.input("batch", element_type, [count] + [f"d{k}" for k in range(1, rank)])
    outs = [f"y{i}" for i in range(count)]
    g.op_multi("Split", [batch], outs, axis=0, num_outputs=count)
    for name in outs:
        g.output(name, element_type, [1] + [f"d{k}" for k in range(1, rank)])
    return g.model()


class Batcher:
    """Joins and splits OrtValues on the device of `model_session`'s provider."""

    def __init__(self, model_session):
        self.model_session = model_session
        self.binder = Binder(model_session)
        self._sessions: dict[tuple, object] = {}  # (kind, count, rank, element type) -> session

    def _session(self, kind: str, count: int, rank: int, element_type: int):
        key = (kind, count, rank, element_type)
        if key not in self._sessions:
            graph = (concat_graph if kind == "concat" else split_graph)(count, rank, element_type)
            self._sessions[key] = graph_session(graph, self.model_session)
        return self._sessions[key]

    def concat(self, values: list) -> object:
        """One (n, ...) OrtValue on the device from n (1, ...) OrtValues."""
        rank, element_type = len(values[0].shape()), _element_type(values[0])
        session = self._session("concat", len(values), rank, element_type)
        return self.binder.run(session, {f"x{i}": v for i, v in enumerate(values)}, ["batch"])[0]

    def split(self, value, count: int) -> list:
        """n (1, ...) OrtValues on the device from one (n, ...) OrtValue."""
        session = self._session("split", count, len(value.shape()), _element_type(value))
        return self.binder.run(session, {"batch": value}, [f"y{i}" for i in range(count)])

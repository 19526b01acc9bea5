"""Detection post-processing on the model's provider (see graphs.device_stages).

The graph computes the head's candidates (tasks.detection.head.detection_candidates) where the model ran:

- boxes: (cx, cy, w, h) -> (cx - 0.5 w, cy - 0.5 h, cx + 0.5 w, cy + 0.5 h), times (frame_w, frame_h,
  frame_w, frame_h), the frame's size an input (one graph serves every frame size);
- "softmax" (DETR, YOLOS, Table Transformer): Softmax over the columns, the last dropped, ReduceMax and
  ArgMax (the first of equal maxima, as torch.max) per query: Q candidates;
- "top100" / "topq" (Conditional / Deformable DETR; RT-DETR, D-FINE): Sigmoid, the (1, Q * C) scores'
  TopK of min(100, Q * C) or Q (taken from the logits' shape in the graph: symbolic Q and C are fine), the
  lower index first among equal scores, as the numpy head; label = index mod C, box = index div C.

Only the candidates come down (K scores, labels and boxes); the threshold and the Detection objects are
the head's own finish() on the host, so both paths keep the same objects.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...graphs.chain import DeviceInput
from ...graphs.device_stages import DevicePost
from ...graphs.onnx_build import GraphBuilder, element_type
from ...types import DetectionResult
from .head import TOP_K, DetectionHead


def _dim(value):
    """A fixed dimension as it is, a symbolic one as a name."""
    return value if isinstance(value, int) else None


def _frame_boxes(g: GraphBuilder, pred_boxes: str, frame_hw: str) -> str:
    """(1, Q, 4) relative (cx, cy, w, h) -> (1, Q, 4) corners in frame pixels."""
    centre = g.op("Slice", pred_boxes, g.const([0]), g.const([2]), g.const([2]))
    half = g.op("Mul", g.op("Slice", pred_boxes, g.const([2]), g.const([4]), g.const([2])),
                g.const([0.5], np.float32))
    corners = g.op("Concat", g.op("Sub", centre, half), g.op("Add", centre, half), axis=-1)
    size = g.op("Cast", frame_hw, to=element_type("FLOAT"))  # (h, w): small integers, exact
    return g.op("Mul", corners, g.op("Gather", size, g.const([1, 0, 1, 0]), axis=0))


def detection_graph(scoring: str, num_queries=None, num_columns=None):
    """logits (1, Q, C) float32, pred_boxes (1, Q, 4) float32, frame_hw int64[2] -> scores (1, K) float32,
    labels (1, K) int64, boxes (1, K, 4) float32: the candidates, in transformers' order. num_queries,
    num_columns: the model's fixed sizes, or None where its export left them symbolic."""
    g = GraphBuilder("livevision_detection_post")
    q, c = num_queries or "q", num_columns or "c"
    logits = g.input("logits", element_type("FLOAT"), [1, q, c])
    pred_boxes = g.input("pred_boxes", element_type("FLOAT"), [1, q, 4])
    frame_hw = g.input("frame_hw", element_type("INT64"), [2])
    boxes = _frame_boxes(g, pred_boxes, frame_hw)
    if scoring == "softmax":
        real = g.op("Slice", g.op("Softmax", logits, axis=-1), g.const([0]), g.const([-1]), g.const([2]))
        g.op("ReduceMax", real, g.const([2]), keepdims=0, out="scores")
        g.op("ArgMax", real, axis=2, keepdims=0, select_last_index=0, out="labels")
        g.op("Identity", boxes, out="boxes")
    elif scoring in ("top100", "topq"):
        shape = g.op("Shape", logits)
        queries = g.op("Slice", shape, g.const([1]), g.const([2]))
        classes = g.op("Slice", shape, g.const([2]), g.const([3]))
        k = queries if scoring == "topq" else g.op("Min", g.op("Mul", queries, classes), g.const([TOP_K]))
        flat = g.op("Reshape", g.op("Sigmoid", logits), g.const([1, -1]))
        _, index = g.op_multi("TopK", [flat, k], ["scores", "index"], axis=-1, largest=1, sorted=1)
        g.op("Mod", index, classes, out="labels")
        query = g.op("Reshape", g.op("Div", index, classes), g.const([-1]))  # non-negative: Div floors
        g.op("Gather", boxes, query, axis=1, out="boxes")
    else:
        raise ValueError(f"unknown scoring {scoring!r}: softmax, top100 or topq")
    g.output("scores", element_type("FLOAT"), [1, "k"])
    g.output("labels", element_type("INT64"), [1, "k"])
    g.output("boxes", element_type("FLOAT"), [1, "k", 4])
    return g.model()


class DetectionPost(DevicePost):
    """logits and pred_boxes -> the candidates on the device, the threshold on the host (head.finish)."""

    def __init__(self, head: DetectionHead, num_queries, num_columns, model_session, **kwargs):
        super().__init__(detection_graph(head.scoring, num_queries, num_columns), model_session, **kwargs)
        self.head = head

    def __call__(self, outputs: list, prepared: DeviceInput) -> DetectionResult:
        logits, pred_boxes = outputs[0], outputs[1]
        scores, labels, boxes = self.binder.run(
            self.session, {"logits": logits, "pred_boxes": pred_boxes,
                           "frame_hw": np.array(prepared.original_hw, np.int64)},
            ["scores", "labels", "boxes"], to_host=True)
        return self.head.finish(scores[0], labels[0], boxes[0])


def device_post(head: DetectionHead, output_shapes: Sequence[Sequence], model_session, **session_options):
    """DetectionPost for `head`; None where the outputs are not (1, Q, C) logits and (1, Q, 4) boxes
    (symbolic Q and C are taken: the graph reads them from the logits)."""
    if len(output_shapes) < 2 or len(output_shapes[0]) != 3 or len(output_shapes[1]) != 3:
        return None
    (batch, queries, columns), box_shape = output_shapes[0], output_shapes[1]
    if _dim(batch) not in (None, 1) or _dim(box_shape[2]) not in (None, 4):
        return None
    return DetectionPost(head, _dim(queries), _dim(columns), model_session, **session_options)

"""Detection results in transformers' object-detection pipeline output format (livevision.pipeline)."""

from __future__ import annotations

from ...types import DetectionResult

_CORNERS = ("xmin", "ymin", "xmax", "ymax")


def transformers_output(result: DetectionResult) -> list[dict]:
    """[{"score", "label", "box": {"xmin", "ymin", "xmax", "ymax"}}, ...] in the result's order; the box's
    corners as ints cut toward zero, as the pipeline's `box.int()` cuts them."""
    return [{"score": float(d.score), "label": d.label,
             "box": {name: int(value) for name, value in zip(_CORNERS, d.box, strict=True)}}
            for d in result.detections]

"""What an object is called where it is drawn or published (boxes, instance labels, 3-D markers): its class,
its track id and its distance or score. ASCII only: OpenCV's Hershey fonts draw anything else as '?'."""

from __future__ import annotations

import math

from ...types import DepthKind, ObjectDepth


def distance_text(depth: ObjectDepth | None) -> str | None:
    """"2.4 m" for metric depth; "0.41 rel" for relative depth, the model's unitless value (never metres);
    None without a depth or a finite value."""
    if depth is None or not math.isfinite(depth.value):
        return None
    if depth.kind is DepthKind.METRIC:
        return f"{depth.value:.1f} m" if depth.value < 100 else f"{depth.value:.0f} m"
    return f"{depth.value:.3g} rel"


def object_caption(label: str, score: float, track_id: int | None = None, depth: ObjectDepth | None = None,
                   *, show_score: bool = True) -> str:
    """"person 0.91", "person #3 0.91", and with a distance instead of the score "person #3 2.4 m" or
    "person #3 0.41 rel" (a score beside a relative value would read as two of a kind)."""
    parts = [label] if track_id is None else [label, f"#{track_id}"]
    distance = distance_text(depth)
    if distance is not None:
        parts.append(distance)
    elif show_score:
        parts.append(f"{float(score):.2f}")
    return " ".join(parts)

"""Classification results written out: a --results record, a ROS 2 message, rerun entities and
transformers' pipeline output (the top-k has no arrays)."""

from __future__ import annotations

import json

from ...sinks.results import json_float
from ...sinks.ros2_messages import PREFIX, Message, text
from ...types import ClassificationResult


def record(result: ClassificationResult) -> dict:
    return {"top_k": [{"label": str(label), "class_id": int(cid), "score": json_float(score)}
                      for cid, label, score in zip(result.class_ids, result.labels, result.scores, strict=True)]}


def ros2_messages(stamp_ns: int, result: ClassificationResult) -> list[Message]:
    """The top-k as JSON ({"labels", "class_ids", "scores"}) in a std_msgs/msg/String."""
    top_k = {"labels": list(result.labels), "class_ids": [int(c) for c in result.class_ids],
             "scores": [round(float(s), 6) for s in result.scores]}
    return [Message(PREFIX + "classification", "std_msgs/msg/String", text(json.dumps(top_k)), stamp_ns)]


def log_rerun(sink, output) -> None:
    """The top-k as a markdown table, and the top-1 score as a time series."""
    rr, rec, result = sink.rr, sink.rec, output.result
    rows = "\n".join(f"| {label} | {float(score):.4f} |" for label, score in zip(result.labels, result.scores))
    rec.log("classification", rr.TextDocument(f"| label | score |\n|---|---|\n{rows}\n",
                                              media_type=rr.MediaType.MARKDOWN))
    if len(result.scores):
        rec.log("classification/top1_score", rr.Scalars([float(result.scores[0])]))


def transformers_output(result: ClassificationResult) -> list[dict]:
    return [{"label": label, "score": float(score)} for label, score in zip(result.labels, result.scores)]

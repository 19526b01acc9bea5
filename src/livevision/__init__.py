"""livevision: Hugging Face vision models, exported to ONNX, run live on video."""

from .errors import LiveVisionError
from .stream import Packet, stream
from .types import (
    ClassificationResult,
    DepthKind,
    DepthResult,
    PreparedInput,
    Segment,
    SegmentationResult,
    Task,
)

__version__ = "0.1.0"

__all__ = [
    "ClassificationResult",
    "DepthKind",
    "DepthResult",
    "LiveVisionError",
    "Packet",
    "PreparedInput",
    "Segment",
    "SegmentationResult",
    "Task",
    "__version__",
    "stream",
]

"""livevision: Hugging Face vision models, exported to ONNX, run live on video."""

from .errors import LiveVisionError
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
    "PreparedInput",
    "Segment",
    "SegmentationResult",
    "Task",
    "__version__",
]

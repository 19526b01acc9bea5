"""livevision: Hugging Face vision models, exported to ONNX, run live on video."""

from .errors import LiveVisionError
from .engine import Pacing
from .hf_pipeline import pipeline
from .models.export import export_model
from .predictor import load_model
from .sources import ReconnectPolicy
from .stream import Packet, Stream, stream
from .stream_multi import MultiStream
from .types import (
    ClassificationResult,
    DepthKind,
    DepthResult,
    Detection,
    DetectionResult,
    ObjectDepth,
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
    "Detection",
    "DetectionResult",
    "ObjectDepth",
    "LiveVisionError",
    "MultiStream",
    "Pacing",
    "Packet",
    "Stream",
    "PreparedInput",
    "ReconnectPolicy",
    "Segment",
    "SegmentationResult",
    "Task",
    "__version__",
    "export_model",
    "load_model",
    "pipeline",
    "stream",
]

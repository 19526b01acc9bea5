"""Outputs: a window, a video file (or an image, for one frame), a results file, raw arrays, nothing
(benchmarks), and a progress bar.

Every sink implements one of two protocols (sinks.base): ViewSink, `write_view(view, index)`, for the
rendered views, or ResultSink, `write_result(task, output)`, for each task's results; and is a context
manager with an idempotent `close()`. File sinks write to
a temporary sibling and rename it into place on close, also after an exception or Ctrl-C, so a
file under the requested name is always complete. Bad output paths raise OutputPathError (a
LiveVisionError) in the constructor, before any frame is processed.
"""

from .base import ResultSink, Sink, SourceTimeline, ViewSink
from .errors import DisplayUnavailableError, EncoderError, OutputPathError, SinkError
from .image import IMAGE_OUTPUT_EXTENSIONS, ImageSink
from .null import NullSink
from .progress import ProgressBar
from .raw import RawArraySink
from .results import RESULTS_SCHEMA_VERSION, ResultsSink, result_record
from .video import SUPPORTED_VIDEO_EXTENSIONS, VideoSink
from .window import WindowSink

__all__ = [
    "Sink",
    "ViewSink",
    "ResultSink",
    "SourceTimeline",
    "VideoSink",
    "ImageSink",
    "IMAGE_OUTPUT_EXTENSIONS",
    "ResultsSink",
    "RawArraySink",
    "WindowSink",
    "NullSink",
    "ProgressBar",
    "result_record",
    "RESULTS_SCHEMA_VERSION",
    "SUPPORTED_VIDEO_EXTENSIONS",
    "SinkError",
    "OutputPathError",
    "EncoderError",
    "DisplayUnavailableError",
]

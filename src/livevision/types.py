"""Typed values that flow between stages: prepared model inputs, frames, per-task results and outputs.

Shapes are (height, width) unless a name says otherwise; arrays are numpy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Union

import numpy as np


class ValueEnum(str, enum.Enum):
    """A str enum that prints as its value ("depth", not "Task.DEPTH"), in messages, f-strings and
    JSON alike. Every livevision choice list is one."""

    def __str__(self) -> str:
        return self.value


class Task(ValueEnum):
    DEPTH = "depth"
    CLASSIFICATION = "classification"
    SEGMENTATION = "segmentation"
    DETECTION = "detection"

    @classmethod
    def parse(cls, value: "str | Task") -> "Task":
        """A task by its name, or by transformers' pipeline task name (each task's hf_name)."""
        from .errors import UsageError
        from .tasks.registry import hf_task_names

        if isinstance(value, Task):
            return value
        name = str(value).strip().lower()
        hf_names = hf_task_names()
        try:
            return hf_names.get(name) or cls(name)
        except ValueError:
            names = ", ".join(t.value for t in cls)
            raise UsageError(f"unknown task {value!r}: choose one of {names} (or the Hugging Face names "
                             f"{', '.join(hf_names)})") from None


class SegmentationKind(ValueEnum):
    """What a SegmentationResult holds, and the MaskFormer / Mask2Former post-processing modes."""

    SEMANTIC = "semantic"  # a class per pixel
    INSTANCE = "instance"  # one segment per object, overlaps allowed
    PANOPTIC = "panoptic"  # every pixel in at most one segment, "stuff" classes fused


class Precision(ValueEnum):
    """Which precision variant of a model runs (see models.precision)."""

    AUTO = "auto"  # the fastest variant that passes the accuracy gate on this machine
    FP32 = "fp32"
    FP16 = "fp16"  # GPU providers
    INT8 = "int8"


class ResizeMode(ValueEnum):
    """How frames are resized to the model input."""

    EXACT = "exact"  # identical to the Hugging Face processors (Pillow)
    FAST = "fast"  # OpenCV's resize, slightly cheaper


class PrePost(ValueEnum):
    """Where pre- and post-processing run (see livevision.graphs)."""

    AUTO = "auto"  # each stage where it measures faster on the first frame (livevision.placement)
    HOST = "host"  # numpy / OpenCV
    DEVICE = "device"  # ONNX graphs on the model's provider, tensors kept there


class DepthKind(ValueEnum):
    """What a depth map's values mean. Near objects are LARGER for RELATIVE, SMALLER for METRIC."""

    RELATIVE = "relative"  # relative inverse depth (disparity), unitless
    METRIC = "metric"  # distance in metres


@dataclass(frozen=True)
class PreparedInput:
    """A frame turned into the model's input, with what post-processing needs to undo it.

    pixel_values: (1, 3, H_in, W_in) float32, C-contiguous, the exact tensor fed to the model.
    original_hw: the frame's (height, width).
    resized_hw: the image's (height, width) inside pixel_values after resizing, before padding.
    padding_tblr: rows/cols added (top, bottom, left, right) around the resized image, in input
        pixels; negative where a center crop cut them off. H_in = top + resized_h + bottom.
    """

    pixel_values: np.ndarray
    original_hw: tuple[int, int]
    resized_hw: tuple[int, int]
    padding_tblr: tuple[int, int, int, int] = (0, 0, 0, 0)

    def __post_init__(self) -> None:
        pv = self.pixel_values
        if pv.ndim != 4 or pv.shape[0] != 1 or pv.shape[1] != 3:
            raise ValueError(f"pixel_values must have shape (1, 3, H, W), got {pv.shape}")
        if pv.dtype != np.float32:
            raise ValueError(f"pixel_values must be float32, got {pv.dtype}")
        h, w = self.original_hw
        if not (isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0):
            raise ValueError(f"original_hw must be two positive ints, got {self.original_hw}")


@dataclass(frozen=True)
class DepthStabilization:
    """How a depth map was stabilized over time (see livevision.tasks.depth.stabilize): the values are
    scale * the model's + shift (then averaged over time in mode "smooth"); reset: this frame started
    a new reference (the first frame, or a scene cut) and is the model's own."""

    mode: str
    scale: float
    shift: float
    reset: bool


@dataclass(frozen=True)
class DepthResult:
    """depth: (H, W) float32 at frame resolution; kind tells how to read it (see DepthKind).
    stabilization: set when a stream stabilized the values over time (None: the model's values)."""

    depth: np.ndarray
    kind: DepthKind
    stabilization: DepthStabilization | None = None

    @property
    def units(self) -> str:
        return "m" if self.kind is DepthKind.METRIC else "relative"


@dataclass(frozen=True)
class ClassificationResult:
    """Top-k classes, best first. scores are probabilities (softmax, or sigmoid for multi-label models)."""

    class_ids: tuple[int, ...]
    labels: tuple[str, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True)
class ObjectDepth:
    """How far away an object is, from a depth map of the same stream (see livevision.objects.distance).

    value: a robust statistic of the depth inside the object (its mask, or its box's centre region):
        metres for METRIC depth; for RELATIVE depth the model's unitless value (larger is nearer), never
        metres.
    kind: the depth map's DepthKind.
    position: (x, y, z) in metres in the camera frame (OpenCV: x right, y down, z forward) through the
        camera intrinsics; None for relative depth.
    depth_frame_index: the frame the depth map was computed on (in the live modes it can be older or
        newer than the object's).
    """

    value: float
    kind: DepthKind
    position: tuple[float, float, float] | None = None
    depth_frame_index: int | None = None

    @property
    def units(self) -> str:
        return "m" if self.kind is DepthKind.METRIC else "relative"


@dataclass(frozen=True)
class Segment:
    """One segment of an instance or panoptic result. mask: (H, W) bool at frame resolution.
    track_id: the object's id over time when a stream tracks (None otherwise); depth: its distance when
    depth runs on the same stream (None otherwise)."""

    id: int
    label_id: int
    label: str
    score: float
    mask: np.ndarray = field(repr=False)
    track_id: int | None = None
    depth: ObjectDepth | None = None

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass(frozen=True)
class SegmentationResult:
    """A segmentation at frame resolution.

    kind: a SegmentationKind (given as text, "semantic", "instance" or "panoptic", it is parsed: another
        value is a ValueError).
    label_map: (H, W) int32 class id per pixel (semantic), or -1 where no segment covers the pixel.
    segments: for instance/panoptic, the segments (empty for semantic).
    segment_map: for instance/panoptic, (H, W) int32 segment id per pixel, -1 where none; None for semantic.
    id2label: class id -> name.
    """

    kind: SegmentationKind
    label_map: np.ndarray
    id2label: dict[int, str]
    segments: tuple[Segment, ...] = ()
    segment_map: np.ndarray | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", SegmentationKind(self.kind))
        except ValueError:
            kinds = ", ".join(k.value for k in SegmentationKind)
            raise ValueError(f"a SegmentationResult's kind must be one of {kinds}, got {self.kind!r}") from None


@dataclass(frozen=True)
class Detection:
    """One detected object. box: (xmin, ymin, xmax, ymax) in frame pixels, floats (transformers'
    pipeline output truncates them to ints). track_id and depth: as Segment's."""

    box: tuple[float, float, float, float]
    label_id: int
    label: str
    score: float
    track_id: int | None = None
    depth: ObjectDepth | None = None


@dataclass(frozen=True)
class DetectionResult:
    """Object detection: the objects above the score threshold, in the order transformers' post-processing
    gives them (query order, or best first for the top-k heads); id2label: class id -> name."""

    detections: tuple[Detection, ...]
    id2label: dict[int, str]


@dataclass(frozen=True)
class Frame:
    """One captured frame.

    image: (H, W, 3) uint8 BGR.
    index: the frame's position in its source, from 0 (gaps mean frames were dropped).
    timestamp_s: source time in seconds: a file's own presentation time, or for live
        sources the capture time relative to the first frame.
    captured_at: time.monotonic() when the frame was read, for latency and age.
    source: where it came from: the image file of a folder or glob, else the video file, URL or
        camera ("camera 0") as given; None when the source does not say.
    """

    image: np.ndarray = field(repr=False)
    index: int
    timestamp_s: float
    captured_at: float
    source: str | None = None

    def __post_init__(self) -> None:
        im = self.image
        if im.ndim != 3 or im.shape[2] != 3 or im.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 BGR, got shape {im.shape} dtype {im.dtype}")


#: Any task's result.
Result = Union[DepthResult, ClassificationResult, SegmentationResult, DetectionResult]


@dataclass(frozen=True)
class TaskOutput:
    """A task's result and where it came from (what the engines hand on, and the sinks take).

    frame_index / timestamp_s / captured_at: the frame it was computed on (its source time, and
        its capture time on the engine's clock).
    latency_s: pre-processing + inference + post-processing time.
    image: that frame's BGR image (the same array, not a copy): in the live modes the frame shown with a
        result is newer than the one it was computed on, and this one lines up with the result pixel
        for pixel (point-cloud colours, overlays for recording, robot code).
    """

    result: object
    frame_index: int
    timestamp_s: float
    captured_at: float
    latency_s: float
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    source: str | None = None  # the frame's source (Frame.source): its image file, video, URL or camera

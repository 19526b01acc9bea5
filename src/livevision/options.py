"""Typed options, parsed once where they enter and passed down whole; the layers below trust them.

The edges: the command line (cli.py), `pipeline()` (hf_pipeline.py), `load_model` / `load_models`
(predictor.py) and `Stream.open` / `stream()` (stream.py). Each turns the user's values (strings, numbers)
into these objects with `LoadOptions.parse` / `PostprocessOptions.parse`:

- LoadOptions: how one model is found, built and run: the cache, its precision variant, the device,
  the resize, where pre- and post-processing run, the batch, the input size, the threads.
- PostprocessOptions: a task's own knobs (top-k, the segmentation mode and thresholds, the detection threshold).
- RunOptions (SourceOptions, ModelOptions, OutputOptions): what `livevision run` and `batch` do.

A bad value is an OptionError (a UsageError, and a ValueError as transformers' users expect) with a one-line
message naming the option as the caller wrote it: `pre_post` in Python, `--pre-post` on the command line
(`spell=cli_flag`). Constructing the dataclasses directly checks the same way (the same parsers run in
__post_init__), so a LoadOptions is typed whoever built it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import OptionError
from .pointcloud import CameraIntrinsics
from .tasks.classification.head import FUNCTIONS, ClassificationOptions
from .tasks.detection.head import DetectionOptions
from .tasks.detection.text_queries import parse_labels
from .tasks.segmentation.head import SegmentationOptions
from .types import Precision, PrePost, ResizeMode, SegmentationKind, Task, ValueEnum

#: How an edge names an option in its messages: `api_name` (keyword arguments) or `cli_flag`.
Spell = Callable[[str], str]

#: LoadOptions.batch's "choose for me" value (see predictor.Predictor.choose_batch_size).
BATCH_AUTO = "auto"

_CLI_FLAGS = {"allow_fallback": "--allow-cpu-fallback"}


def api_name(name: str) -> str:
    return name


def cli_flag(name: str) -> str:
    """The command-line flag of an option field: pre_post -> --pre-post."""
    return _CLI_FLAGS.get(name, "--" + name.replace("_", "-"))


# ---- the parsers: (value, the option's name as the caller spells it) -> the typed value ----------------

def _choice(enum_type: type[ValueEnum]) -> Callable[[Any, str], ValueEnum]:
    def parse(value, name: str) -> ValueEnum:
        try:
            return enum_type(value)
        except ValueError:
            raise OptionError(f"{name} must be one of {', '.join(e.value for e in enum_type)}, got {value!r}") from None

    return parse


def _whole(value) -> int | None:
    """value as an int when it is one (or its digits as text, from the command line), else None."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _batch(value, name: str) -> int | str:
    if value == BATCH_AUTO:
        return BATCH_AUTO
    count = _whole(value)
    if count is None or count < 1:
        raise OptionError(f"{name} must be a positive number or 'auto', got {value!r}")
    return count


def _positive_or_none(what: str) -> Callable[[Any, str], int | None]:
    def parse(value, name: str) -> int | None:
        if value is None:
            return None
        count = _whole(value)
        if count is None or count < 1:
            raise OptionError(f"{name} must be a positive whole number of {what}, got {value!r}")
        return count

    return parse


def _flag(value, name: str) -> bool:
    if value in (True, False):  # 0 and 1 too
        return bool(value)
    raise OptionError(f"{name} must be True or False, got {value!r}")


def _text_or_none(value, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise OptionError(f"{name} must be a string, got {value!r}")


def _path_or_none(value, name: str) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise OptionError(f"{name} must be a path, got {value!r}")
    return Path(value)


def _clip_or_none(value, name: str) -> str | Path | None:
    """--calibrate: a video, a folder or a glob, kept as given (a glob is no path)."""
    if value is None or isinstance(value, (str, Path)):
        return value
    if isinstance(value, os.PathLike):
        return Path(value)
    raise OptionError(f"{name} must be a video, an image folder or a glob, got {value!r}")


def _device(value, name: str) -> str:
    from .models.providers import check_device  # its messages name --device, as the providers' errors do

    return check_device(value)


def _top_k(value, name: str) -> int | None:
    count = None if value is None else _whole(value)
    if value is not None and (count is None or count < 1):
        raise OptionError(f"{name} must be a positive integer, got {value!r}")
    return count


def _function(value, name: str) -> str | None:
    if value is not None and (not isinstance(value, str) or value.lower() not in FUNCTIONS):
        raise OptionError(f"{name} must be one of {', '.join(FUNCTIONS)} or None, got {value!r}")
    return value


def _fraction(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not 0.0 <= number <= 1.0:
        raise OptionError(f"{name} must be between 0 and 1, got {value!r}")
    return number


def _fraction_or_none(value, name: str) -> float | None:
    return None if value is None else _fraction(value, name)


def _parse_fields(instance) -> None:
    """Runs each field's parser on its value (a frozen dataclass's __post_init__)."""
    for f in fields(instance):
        object.__setattr__(instance, f.name, f.metadata["parse"](getattr(instance, f.name), f.name))


def _parsed(cls, values: Mapping[str, Any], spell: Spell) -> dict:
    known = {f.name: f.metadata["parse"] for f in fields(cls)}
    unknown = [k for k in values if k not in known]
    if unknown:
        raise TypeError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: the "
                        f"{cls.__name__} are {', '.join(known)}")
    return {k: known[k](v, spell(k)) for k, v in values.items()}


def _option(default, parse, **kwargs):
    return field(default=default, metadata={"parse": parse}, **kwargs)


@dataclass(frozen=True)
class LoadOptions:
    """How a model is found, built and run: one value from the edge down to the session.

    revision: Hub revision (Hub ids only). cache_dir: the export cache (default: see models.cache).
    precision: auto (the fastest variant that passes the accuracy gate on this machine, FP32 otherwise),
        fp32, fp16 (GPU providers) or int8; see models.precision. calibrate: a video, image folder or glob to
        calibrate and check variants on (default: synthetic frames).
    device: auto (best available), cpu, cuda, tensorrt, openvino, coreml, directml, an index may follow
        (see models.providers); allow_fallback: run on the CPU, with a warning, when the device's provider
        is missing, instead of failing. fp16: FP16 TensorRT engines.
    intra_op_threads: ONNX Runtime threads (default: one per physical core).
    live: the model waits for frames between runs (no thread spinning).
    resize: exact (identical to the HF processors) or fast (OpenCV's resize).
    input_size: a lower (or higher) model input, short side in pixels, where the model takes it.
    pre_post: where pre- and post-processing run: host (numpy/OpenCV, `resize` applies), device (ONNX graphs
        on the model's provider, tensors kept there: see livevision.graphs) or auto (each stage, pre and post,
        where it measures faster on the first frame; see livevision.placement).
    batch: in `every` mode, how many consecutive frames may go through the model as one batch (models with a
        dynamic batch axis): a number, or "auto" (1 on the CPU provider, where batching measured no faster;
        on other providers the fastest of BATCH_SIZES per frame, measured on the first frames, see
        Predictor.choose_batch_size). The live modes run one frame.
    labels: a zero-shot detector's text queries (OWL-ViT, OWLv2), "person,cup" or a list: model inputs, so
        fixed for the run (tasks/detection/text_queries); other models have their own labels and refuse them.
    """

    revision: str | None = _option(None, _text_or_none)
    cache_dir: Path | None = _option(None, _path_or_none)
    precision: Precision = _option(Precision.AUTO, _choice(Precision))
    calibrate: str | Path | None = _option(None, _clip_or_none)
    device: str = _option("auto", _device)
    allow_fallback: bool = _option(False, _flag)
    fp16: bool = _option(False, _flag)
    intra_op_threads: int | None = _option(None, _positive_or_none("threads"))
    live: bool = _option(False, _flag)
    resize: ResizeMode = _option(ResizeMode.EXACT, _choice(ResizeMode))
    input_size: int | None = _option(None, _positive_or_none("pixels"))
    pre_post: PrePost = _option(PrePost.AUTO, _choice(PrePost))
    batch: int | str = _option(BATCH_AUTO, _batch)
    labels: tuple[str, ...] | None = _option(None, parse_labels)

    def __post_init__(self) -> None:
        _parse_fields(self)

    @classmethod
    def parse(cls, values: Mapping[str, Any], *, spell: Spell = api_name,
              base: "LoadOptions | None" = None) -> "LoadOptions":
        """`values` (user values by field name) as LoadOptions, over `base`'s (default: the defaults).
        A bad value is an OptionError naming the option as `spell` writes it; an unknown name a TypeError."""
        parsed = _parsed(cls, values, spell)
        return replace(base, **parsed) if base is not None else cls(**parsed)


#: The LoadOptions field names: what the keyword edges accept as load options.
LOAD_KEYS = tuple(f.name for f in fields(LoadOptions))


@dataclass(frozen=True)
class PostprocessOptions:
    """Per-task knobs. top_k (None: all), function_to_apply (softmax, sigmoid, none; None: the HF pipeline's
    choice for the model): classification. segmentation_mode: for MaskFormer/Mask2Former ("panoptic" like
    the HF pipeline's default, "instance" or "semantic"); threshold, mask_threshold and
    overlap_mask_area_threshold as in the HF post-processing. threshold is segmentation's and detection's:
    None (the default) is each task's own pipeline default (segmentation 0.9, detection 0.5)."""

    top_k: int | None = _option(ClassificationOptions.top_k, _top_k)
    function_to_apply: str | None = _option(ClassificationOptions.function_to_apply, _function)
    segmentation_mode: SegmentationKind = _option(SegmentationKind(SegmentationOptions.mode),
                                                  _choice(SegmentationKind))
    threshold: float | None = _option(None, _fraction_or_none)
    mask_threshold: float = _option(SegmentationOptions.mask_threshold, _fraction)
    overlap_mask_area_threshold: float = _option(SegmentationOptions.overlap_mask_area_threshold, _fraction)

    def __post_init__(self) -> None:
        _parse_fields(self)

    @classmethod
    def parse(cls, values: Mapping[str, Any], *, spell: Spell = api_name) -> "PostprocessOptions":
        """As LoadOptions.parse."""
        return cls(**_parsed(cls, values, spell))

    def classification(self) -> ClassificationOptions:
        return ClassificationOptions(top_k=self.top_k, function_to_apply=self.function_to_apply)

    def segmentation(self) -> SegmentationOptions:
        threshold = SegmentationOptions.threshold if self.threshold is None else self.threshold
        return SegmentationOptions(mode=self.segmentation_mode, threshold=threshold,
                                   mask_threshold=self.mask_threshold,
                                   overlap_mask_area_threshold=self.overlap_mask_area_threshold)

    def detection(self) -> DetectionOptions:
        return DetectionOptions() if self.threshold is None else DetectionOptions(threshold=self.threshold)


# ---- `livevision run` and `livevision batch` -----------------------------------------------------------

class ViewMode(ValueEnum):
    OVERLAY = "overlay"  # every result drawn over the frame
    SIDE_BY_SIDE = "side_by_side"  # original | overlay
    GRID = "grid"  # original and one tile per task


@dataclass(frozen=True)
class SourceOptions:
    """Where the frames come from and how they are paced.

    source: the (first) source; sources: every source, in order (one: `(source,)`, filled in from it).
    Give either, or both with `source == sources[0]`. With one source `source` decides, so that
    `replace(options, source=x)` runs x alone; with several, `sources` does (replace both to change it).
    require_all: several sources: fail when any cannot open (default: only when none opens)."""

    source: str | None = None  # camera index, file, folder, glob or URL; None: the first of `sources`, else "0"
    pacing: str | None = None  # live, every, simulate-live; None: the source's default
    max_fps: float | None = None
    rates: dict = field(default_factory=dict)  # {Task: fps}
    reconnect: object = None  # ReconnectPolicy | bool | None, see open_source
    max_frames: int | None = None
    sources: tuple[str, ...] = ()
    require_all: bool = False

    def __post_init__(self) -> None:
        sources = tuple(os.fspath(s) if isinstance(s, os.PathLike) else s for s in self.sources)
        source = self.source if self.source is not None else (sources[0] if sources else "0")
        if len(sources) <= 1:
            sources = (source,)
        elif source != sources[0]:
            raise OptionError(f"source {source!r} is not the first of sources {list(sources)}: give sources alone")
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "sources", sources)
        object.__setattr__(self, "require_all", _flag(self.require_all, "require_all"))


@dataclass(frozen=True)
class ModelOptions:
    """Which models run, and how each is loaded: load_options for all of them (a run's models wait for
    frames: live=True), input_size per task, postprocess for each task's own knobs."""

    models: dict = field(default_factory=dict)  # {Task: Hub id or folder}; default models otherwise
    load_options: LoadOptions = LoadOptions(live=True)
    input_size: dict = field(default_factory=dict)  # {Task: short side in pixels}
    postprocess: PostprocessOptions = PostprocessOptions()
    depth_stabilize: str = "auto"  # off, align, smooth; auto: see livevision.tasks.depth.stabilize
    track: bool = False  # track ids on detections and instance/panoptic segments (livevision.objects.tracking)

    def load(self, tasks) -> dict:
        """The models, loaded as a run loads them (Stream.open): for runs handed them ready."""
        from .predictor import load_models

        return load_models(list(tasks), self.models, options=self.postprocess, input_size=self.input_size,
                           load=self.load_options)


@dataclass(frozen=True)
class OutputOptions:
    """What is written and shown. Output paths are checked before any model loads."""

    video: Path | None = None  # --output: the annotated video, or an image for one frame
    results: Path | None = None  # JSON Lines ("-": standard output)
    arrays: Path | None = None  # a folder of raw arrays
    stats: Path | None = None
    depth_format: str = "npy"
    # point clouds (depth_format "ply", and --rerun, --mcap, --foxglove) and object positions (depth with
    # detection or segmentation, see Stream's camera): the camera, or else...
    camera: CameraIntrinsics | None = None
    fov: float | None = None  # ... its horizontal field of view in degrees (DEFAULT_FOV_DEG when None)
    point_stride: int | None = None  # None: all pixels for ply, the robotics sinks' own default for theirs
    rerun: str | None = None  # FILE.rrd, "spawn" or "connect[=URL]" (RerunSink)
    mcap: Path | None = None  # ROS 2 messages in an MCAP file (McapSink)
    mcap_compression: str = "zstd"
    foxglove: str | None = None  # "[HOST:]PORT": the same channels live (FoxgloveSink)
    raw_images: bool = False  # robotics sinks: raw BGR frames and float32 depth instead of JPEG, uint16 mm
    depth_stride: int | None = None  # robotics sinks: depth maps' stride (None: theirs, see RoboticsSink)
    display: bool = True
    view: ViewMode | None = None  # None: default_view(tasks)
    alpha: dict = field(default_factory=dict)  # {Task: opacity of its colours over the frame}, see Renderer
    full_size_tiles: bool = False  # grid: each tile at the source's size, not the grid (see Renderer)
    # The HUD (this run's rates, latencies, ages) is for whoever watches: the window and the web view
    # (hud), not files, which carry the results (hud_in_output adds it to --output's video).
    hud: bool = True
    hud_in_output: bool = False
    snapshot_dir: Path = Path(".")
    serve: str | None = None  # "[HOST:]PORT": the view as an MJPEG stream in a browser (WebViewSink)
    # the web view's token; None: a new one unless it listens on loopback only; "none": no token
    serve_token: str | None = None
    progress: bool = True  # a progress bar for files (`livevision batch` shows one over all files instead)


@dataclass(frozen=True)
class RunOptions:
    """What `livevision run` does, by concern."""

    tasks: tuple[Task, ...]
    source: SourceOptions = SourceOptions()
    model: ModelOptions = ModelOptions()
    output: OutputOptions = OutputOptions()

"""What a task is to livevision: one TaskDefinition per task, each in its own package (tasks/<task>/),
listed once in tasks.registry. Every layer asks the registry instead of switching on result types:

    definition(Task.DEPTH).head(architecture, config, options)      # models -> results
    definition_of(result).record(result)                            # a result -> its JSONL fields

A task package holds:
    head.py      the head: the model's raw outputs -> the task's result, in numpy (and its options)
    device.py    the same post-processing as ONNX graphs on the model's provider (graphs.device_stages)
    annotate.py  the annotator(s) that draw the result (render.dispatch.ResultAnnotator picks them)
    formats.py   the result as a JSONL record, arrays on disk, ROS 2 messages, rerun entities and
                 transformers' pipeline output
    accuracy.py  the precision gate's bounds and metrics: does a faster variant give FP32's answers?
and whatever else is the task's own (depth/stabilize.py: its values over time, the task's Stream step).
The definition's methods import those modules when first called, so that `import livevision` (and the
slim runtime install) stays light and no layer imports another at module level through the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

import numpy as np

from ..types import PreparedInput, Task

if TYPE_CHECKING:
    from ..models.registry import Architecture
    from ..options import PostprocessOptions
    from ..pointcloud import CameraIntrinsics
    from ..sinks.raw import RawArraySink
    from ..sinks.rerun_sink import RerunSink
    from ..sinks.ros2_messages import Message
    from ..types import TaskOutput


class Head(Protocol):
    """A task's host post-processing: the model's raw outputs (in its Architecture's output order) and
    the prepared input -> the task's result at frame size."""

    task: Task

    def postprocess(self, outputs: list[np.ndarray], prepared: PreparedInput) -> Any: ...


class TaskDefinition:
    """One task: its names and result type as plain attributes, the rest as methods (see the module
    docstring). Subclasses set every attribute that has no default and implement every method but
    stream_step (tests/test_task_registry.py checks)."""

    task: Task
    result_type: type
    hf_name: str  # transformers' pipeline task: "depth-estimation"
    hf_aliases: tuple[str, ...] = ()  # its other pipeline tasks served by this task ("zero-shot-object-detection")
    optimum_task: str  # Optimum's export task for this task's ordinary heads
    head_suffixes: tuple[str, ...]  # the endings of transformers' head class names ("ForDepthEstimation")
    draw_rank: int  # `run` draws the tasks' layers in this order (lowest first: depth under segmentation)
    colours_frame: bool  # draws a layer over the whole frame (--alpha applies), not only a panel
    shared_opacity: float | None = None  # the layer's opacity when other results share the frame (None: its own)
    # transformers' pipeline for this task: the keywords it takes (construction or call), and whether it
    # refuses others with a TypeError (its _sanitize_parameters has named arguments only) or ignores them
    pipeline_keywords: tuple[str, ...] = ()
    refuses_unknown_keywords: bool = False
    # its results hold objects (detections, instance and panoptic segments) that a stream's tracking ids and
    # distances attach to (livevision.objects): see objects() and with_objects()
    has_objects: bool = False

    def head(self, architecture: "Architecture", config: Mapping[str, Any], options: "PostprocessOptions") -> Head:
        raise NotImplementedError

    def device_post(self, head: Head, output_shapes, model_session, **session_options):
        """The head's post-processing as graphs on the model's provider, or None where it has none."""
        raise NotImplementedError

    def gate(self):
        """The task's accuracy gate, tasks/<task>/accuracy.py: THRESHOLDS, gate_outputs(frame) and
        gate_metrics(reference, candidate) (see models.accuracy)."""
        raise NotImplementedError

    def annotators(self, opacity: float | None = None) -> dict[str, Any]:
        """This task's annotators, by the name ResultAnnotator takes them under: default settings, and the
        layer's opacity where given."""
        raise NotImplementedError

    def annotator_name(self, result) -> str:
        """Which of annotators() draws this result."""
        raise NotImplementedError

    def record(self, result) -> dict[str, Any]:
        """The JSON-safe fields of one result in a --results line (sinks.results has the schema)."""
        raise NotImplementedError

    def write_arrays(self, sink: "RawArraySink", index: int, result, name: str | None,
                     image: np.ndarray | None) -> list:
        """The result's arrays as files of `sink` (--arrays); the paths written."""
        raise NotImplementedError

    def ros2_messages(self, stamp_ns: int, result, camera: "CameraIntrinsics", *, image: np.ndarray | None,
                      point_stride: int, depth_stride: int, raw: bool) -> list["Message"]:
        """The result as ROS 2 messages (--mcap, --foxglove; sinks.ros2_messages has the topics)."""
        raise NotImplementedError

    def log_rerun(self, sink: "RerunSink", task: Task, output: "TaskOutput") -> None:
        """The result as rerun entities, logged on sink.rec."""
        raise NotImplementedError

    def transformers_output(self, result) -> Any:
        """The result in transformers' pipeline output format (livevision.pipeline)."""
        raise NotImplementedError

    def objects(self, result) -> tuple:
        """The result's objects, each a frozen dataclass with a `box` (xmin, ymin, xmax, ymax) or a `mask`,
        and `track_id` and `depth` fields (types.Detection, types.Segment); () where it has none."""
        return ()

    def with_objects(self, result, objects: tuple):
        """The result with `objects` (its objects(), each replaced) in their place: a new result."""
        raise NotImplementedError(f"{self.task} results hold no objects")

    def stream_step(self, stream) -> "Callable[[TaskOutput], TaskOutput] | None":
        """A step every output of this task goes through as it leaves a Stream, or None: a task with
        objects tracks them in a Stream(track=True) (livevision.objects.tracking); depth stabilizes its
        values over time. A step is a callable TaskOutput -> TaskOutput with a stats() -> dict, which
        `run --stats` writes."""
        if self.has_objects and getattr(stream, "track", False):
            from ..objects.tracking import ObjectTracker

            return ObjectTracker(self)
        return None

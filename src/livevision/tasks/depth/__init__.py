"""Depth estimation: DPT, MiDaS, ZoeDepth, Depth Anything, GLPN (see tasks.base for the files)."""

from __future__ import annotations

from ...types import DepthResult, Task
from ..base import TaskDefinition


class DepthTask(TaskDefinition):
    task = Task.DEPTH
    result_type = DepthResult
    hf_name = "depth-estimation"
    optimum_task = "depth-estimation"
    head_suffixes = ("ForDepthEstimation",)
    draw_rank = 0
    colours_frame = True
    pipeline_keywords = ("parameters",)
    shared_opacity = 0.6  # alone, depth replaces the picture; under other results it is blended

    def head(self, architecture, config, options):
        from .head import DepthHead

        return DepthHead(architecture, config)

    def device_post(self, head, output_shapes, model_session, **session_options):
        from .device import DepthPost

        return DepthPost(head, model_session, **session_options)

    def gate(self):
        from . import accuracy

        return accuracy

    def annotators(self, opacity=None):
        from .annotate import DepthAnnotator

        return {"depth": DepthAnnotator() if opacity is None else DepthAnnotator(opacity=opacity)}

    def annotator_name(self, result):
        return "depth"

    def record(self, result):
        from .formats import record

        return record(result)

    def write_arrays(self, sink, index, result, name, image):
        from .formats import write_arrays

        return write_arrays(sink, index, result, name or "depth", image)

    def ros2_messages(self, stamp_ns, result, camera, *, image, point_stride, depth_stride, raw):
        from .formats import ros2_messages

        return ros2_messages(stamp_ns, result, camera, image, point_stride, depth_stride, raw)

    def log_rerun(self, sink, task, output):
        from .formats import log_rerun

        log_rerun(sink, output)

    def transformers_output(self, result):
        from .formats import transformers_output

        return transformers_output(result)

    def stream_step(self, stream):
        from .stabilize import StabilizeStep

        return StabilizeStep(stream)

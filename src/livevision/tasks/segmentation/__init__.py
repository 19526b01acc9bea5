"""Image segmentation: SegFormer and the other per-pixel-logit models (semantic), MaskFormer and
Mask2Former (semantic, instance, panoptic); see tasks.base for what each file holds."""

from __future__ import annotations

from ...types import SegmentationKind, SegmentationResult, Task
from ..base import TaskDefinition


class SegmentationTask(TaskDefinition):
    task = Task.SEGMENTATION
    result_type = SegmentationResult
    hf_name = "image-segmentation"
    optimum_task = "semantic-segmentation"  # MaskFormer / Mask2Former: models.registry asks "image-segmentation"
    head_suffixes = ("ForSemanticSegmentation", "ForInstanceSegmentation", "ForUniversalSegmentation")
    draw_rank = 1
    colours_frame = True
    pipeline_keywords = ("subtask", "threshold", "mask_threshold", "overlap_mask_area_threshold")

    def head(self, architecture, config, options):
        from .head import SegmentationHead

        return SegmentationHead(architecture, config, options.segmentation())

    def device_post(self, head, output_shapes, model_session, **session_options):
        from .device import device_post

        return device_post(head, output_shapes, model_session, **session_options)

    def gate(self):
        from . import accuracy

        return accuracy

    def annotators(self, opacity=None):
        from .annotate_instance import InstanceSegmentationAnnotator
        from .annotate_semantic import SemanticSegmentationAnnotator

        given = {} if opacity is None else {"opacity": opacity}
        return {"semantic": SemanticSegmentationAnnotator(**given), "instance": InstanceSegmentationAnnotator(**given)}

    def annotator_name(self, result):
        return "semantic" if result.kind is SegmentationKind.SEMANTIC else "instance"

    def record(self, result):
        from .formats import record

        return record(result)

    def write_arrays(self, sink, index, result, name, image):
        from .formats import write_arrays

        return write_arrays(sink, index, result, name)

    def ros2_messages(self, stamp_ns, result, camera, *, image, point_stride, depth_stride, raw):
        from .formats import ros2_messages

        return ros2_messages(stamp_ns, result, raw)

    def log_rerun(self, sink, task, output):
        from .formats import log_rerun

        log_rerun(sink, task, output)

    def transformers_output(self, result):
        from .formats import transformers_output

        return transformers_output(result)

    def stream_step(self, stream):
        if not stream.track:
            return None
        from ...objects.tracking import segment_tracker

        return segment_tracker()

"""Object detection: DETR, Conditional DETR, Deformable DETR, YOLOS, Table Transformer, RT-DETR (v1, v2) and
D-FINE (transformers' AutoModelForObjectDetection), and zero-shot with text queries: OWL-ViT, OWLv2
(zero_shot, text_queries); see tasks.base for what each file holds. Objects keep an id over time with a
stream's tracker (livevision.objects.tracking) and get a distance where depth runs too
(livevision.objects.distance)."""

from __future__ import annotations

from dataclasses import replace

from ...types import DetectionResult, Task
from ..base import TaskDefinition


class DetectionTask(TaskDefinition):
    task = Task.DETECTION
    result_type = DetectionResult
    hf_name = "object-detection"
    hf_aliases = ("zero-shot-object-detection",)  # OWL-ViT, OWLv2: labels per call (hf_pipeline_zero_shot)
    optimum_task = "object-detection"
    head_suffixes = ("ForObjectDetection",)
    draw_rank = 2  # boxes over depth and segmentation, under the classification panel
    colours_frame = False
    pipeline_keywords = ("threshold",)
    refuses_unknown_keywords = False  # transformers: _sanitize_parameters(self, **kwargs) ignores others
    has_objects = True

    def head(self, architecture, config, options):
        if architecture.has_text_queries:  # OWL-ViT, OWLv2: the run's labels are text inputs
            from .zero_shot import ZeroShotDetectionHead

            return ZeroShotDetectionHead(architecture, config, options.threshold)  # None: its own 0.1
        from .head import DetectionHead

        return DetectionHead(architecture, config, options.detection())

    def device_post(self, head, output_shapes, model_session, **session_options):
        from .device import device_post

        return device_post(head, output_shapes, model_session, **session_options)

    def gate(self):
        from . import accuracy

        return accuracy

    def annotators(self, opacity=None):
        from .annotate import DetectionAnnotator

        return {"detection": DetectionAnnotator()}

    def annotator_name(self, result):
        return "detection"

    def record(self, result):
        from .formats import record

        return record(result)

    def write_arrays(self, sink, index, result, name, image):
        from .formats import write_arrays

        return write_arrays(sink, index, result, name)

    def ros2_messages(self, stamp_ns, result, camera, *, image, point_stride, depth_stride, raw):
        from .formats import ros2_messages

        return ros2_messages(stamp_ns, result, camera, image=image)

    def log_rerun(self, sink, task, output):
        from .formats import log_rerun

        log_rerun(sink, task, output)

    def transformers_output(self, result):
        from .hf_output import transformers_output

        return transformers_output(result)

    def objects(self, result):
        return result.detections

    def with_objects(self, result, objects):
        return replace(result, detections=tuple(objects))

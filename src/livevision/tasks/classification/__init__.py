"""Image classification: ResNet, ViT, EfficientNet, ... (transformers' AutoModelForImageClassification);
see tasks.base for what each file holds."""

from __future__ import annotations

from ...types import ClassificationResult, Task
from ..base import TaskDefinition


class ClassificationTask(TaskDefinition):
    task = Task.CLASSIFICATION
    result_type = ClassificationResult
    hf_name = "image-classification"
    optimum_task = "image-classification"
    head_suffixes = ("ForImageClassification", "ForImageClassificationWithTeacher")
    draw_rank = 3  # its panel on top of everything
    colours_frame = False
    pipeline_keywords = ("top_k", "function_to_apply")
    refuses_unknown_keywords = True

    def head(self, architecture, config, options):
        from .head import ClassificationHead

        return ClassificationHead(config, options.classification())

    def device_post(self, head, output_shapes, model_session, **session_options):
        from .device import ClassificationPost

        num_labels = output_shapes[0][1] if len(output_shapes[0]) > 1 else None
        if not isinstance(num_labels, int):  # a class count the export left symbolic
            return None
        return ClassificationPost(head, num_labels, model_session, **session_options)

    def gate(self):
        from . import accuracy

        return accuracy

    def annotators(self, opacity=None):
        from .annotate import ClassificationAnnotator

        return {"classification": ClassificationAnnotator()}

    def annotator_name(self, result):
        return "classification"

    def record(self, result):
        from .formats import record

        return record(result)

    def write_arrays(self, sink, index, result, name, image):
        return []  # the top-k has no array: --results holds it

    def ros2_messages(self, stamp_ns, result, camera, *, image, point_stride, depth_stride, raw):
        from .formats import ros2_messages

        return ros2_messages(stamp_ns, result)

    def log_rerun(self, sink, task, output):
        from .formats import log_rerun

        log_rerun(sink, output)

    def transformers_output(self, result):
        from .formats import transformers_output

        return transformers_output(result)

"""Classification post-processing on the model's provider (see graphs.device_stages)."""

from __future__ import annotations


from ...graphs.chain import DeviceInput
from ...graphs.device_stages import DevicePost
from ...graphs.post import classification_graph
from ...types import ClassificationResult
from ..labels import label_for
from .head import ClassificationHead, scoring_function


class ClassificationPost(DevicePost):
    """logits -> softmax / sigmoid -> top-k, on the device."""

    def __init__(self, head: ClassificationHead, num_labels: int, model_session, **kwargs):
        function = head.options.function_to_apply or scoring_function(head.problem_type, num_labels)
        super().__init__(classification_graph(num_labels, function.lower()), model_session, **kwargs)
        self.id2label = head.id2label
        top_k = head.options.top_k
        self.k = num_labels if top_k is None else min(int(top_k), num_labels)

    def __call__(self, outputs: list, prepared: DeviceInput) -> ClassificationResult:
        scores, ids = self._run(outputs[0], {"k": [self.k]}, ["scores", "class_ids"])
        class_ids = tuple(int(i) for i in ids[0])
        return ClassificationResult(class_ids=class_ids, labels=tuple(label_for(self.id2label, i) for i in class_ids),
                                    scores=tuple(float(s) for s in scores[0]))

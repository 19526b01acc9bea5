"""Segmentation post-processing on the model's provider (see graphs.device_stages)."""

from __future__ import annotations

import numpy as np

from ...graphs.chain import DeviceInput
from ...graphs.device_stages import DevicePost
from ...graphs.post import mask_instance_graph, mask_panoptic_graph, mask_semantic_graph, semantic_graph
from ...types import SegmentationResult
from .head import SegmentationHead
from .mask_classification import (
    INSTANCE_MASK_LOGIT,
    MASK2FORMER_MASK_HW,
    instance_candidates,
    instance_result,
    kept_instances,
    panoptic_candidates,
    panoptic_result,
    softmax,
)


class SemanticPost(DevicePost):
    """Per-pixel logits -> label map at frame size, on the device."""

    def __init__(self, head: SegmentationHead, num_labels: int, model_session, **kwargs):
        super().__init__(semantic_graph(num_labels), model_session, **kwargs)
        self.id2label = head.id2label

    def __call__(self, outputs: list, prepared: DeviceInput) -> SegmentationResult | None:
        if any(prepared.padding_tblr):
            return None
        label_map = self._run(outputs[0], {"out_hw": prepared.original_hw}, ["label_map"])[0][0]
        return SegmentationResult(kind="semantic", label_map=label_map.astype(np.int32), id2label=self.id2label)


class MaskClassificationPost(DevicePost):
    """MaskFormer / Mask2Former queries -> semantic, instance or panoptic result at frame size: the
    per-pixel work in a graph, the per-query decisions and the segment assembly on the host, with
    the numpy path's own functions (see graphs.post)."""

    def __init__(self, head: SegmentationHead, num_labels: int, model_session, **kwargs):
        mid_hw = MASK2FORMER_MASK_HW if head.model_type == "mask2former" else None
        self.mode = head.mode
        graph = {"semantic": lambda: mask_semantic_graph(num_labels, mid_hw),
                 "panoptic": lambda: mask_panoptic_graph(mid_hw),
                 "instance": lambda: mask_instance_graph(mid_hw)}[self.mode]()
        super().__init__(graph, model_session, **kwargs)
        self.options = head.options
        self.id2label = head.id2label

    def __call__(self, outputs: list, prepared: DeviceInput) -> SegmentationResult | None:
        if any(prepared.padding_tblr):
            return None
        class_logits, mask_logits = outputs
        out_hw = np.array(prepared.original_hw, np.int64)
        if self.mode == "semantic":
            label_map = self.binder.run(self.session, {"class_logits": class_logits, "mask_logits": mask_logits,
                                                       "out_hw": out_hw}, ["label_map"], to_host=True)[0][0]
            return SegmentationResult(kind="semantic", label_map=label_map.astype(np.int32), id2label=self.id2label)
        logits = class_logits if isinstance(class_logits, np.ndarray) else class_logits.numpy()
        class_probs = softmax(np.asarray(logits, np.float32)[0])  # (Q, C + 1): small, on the host
        o = self.options
        if self.mode == "panoptic":
            keep, labels, scores = panoptic_candidates(class_probs, o.threshold)
            winner = area = None
            if keep.size:
                winner, area = self.binder.run(self.session, {
                    "mask_logits": mask_logits, "keep": keep.astype(np.int64),
                    "scores": scores[keep].astype(np.float32), "out_hw": out_hw,
                    "mask_threshold": np.array([o.mask_threshold], np.float32)}, ["winner", "area"], to_host=True)
                winner, area = winner[0], area.astype(np.int64)
            return panoptic_result(winner, area, keep, labels, scores, self.id2label, prepared.original_hw,
                                   o.overlap_mask_area_threshold, set())
        queries, labels, picked = instance_candidates(class_probs[:, :-1], o.threshold)
        unique = np.array(list(dict.fromkeys(queries.tolist())), np.int64)
        full: dict[int, np.ndarray] = {}
        mask_scores: dict[int, float] = {}
        if unique.size:
            values, masks = self.binder.run(self.session, {
                "mask_logits": mask_logits, "queries": unique, "out_hw": out_hw,
                "logit_threshold": np.array([INSTANCE_MASK_LOGIT], np.float32)}, ["mask_scores", "masks"],
                to_host=True)
            mask_scores = dict(zip(unique.tolist(), values.tolist()))
            full = {int(q): mask.view(np.bool_) for q, mask in zip(unique, masks[0])}
        kept = kept_instances(class_probs[:, :-1], queries, labels, picked, mask_scores, o.threshold)
        return instance_result(kept, full, self.id2label, prepared.original_hw)


def device_post(head: SegmentationHead, output_shapes, model_session, **session_options):
    """MaskClassificationPost or SemanticPost for `head`; None where the model's class count is not fixed."""
    if head.mask_classification:
        num_labels = output_shapes[0][-1] - 1 if isinstance(output_shapes[0][-1], int) else None
        return MaskClassificationPost(head, num_labels, model_session, **session_options) if num_labels else None
    num_labels = output_shapes[0][1] if len(output_shapes[0]) > 1 else None
    if not isinstance(num_labels, int):
        return None
    return SemanticPost(head, num_labels, model_session, **session_options)

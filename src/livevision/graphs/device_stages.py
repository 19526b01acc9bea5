"""The pre- and post-processing stages of a Predictor run as graphs on the model's provider.

    pre = DevicePreprocessor(preprocessor, model_session)       # frame -> DeviceInput
    post = device_postprocessor(head, model_session)           # (outputs, DeviceInput) -> result, or None
Both take their geometry from the numpy path's own rules, so the two paths agree on every size.
A post-processor returns None for an input it does not cover (a padded or cropped model input):
the Predictor then brings the outputs to the host and runs the head's numpy post-processing.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np

from ..heads import ClassificationHead, DepthHead, Head, SegmentationHead
from ..tasks.classification import label_for, scoring_function
from ..tasks.depth import zoedepth_padding
from ..tasks.mask_classification import (
    INSTANCE_MASK_LOGIT,
    MASK2FORMER_MASK_HW,
    instance_candidates,
    instance_result,
    kept_instances,
    panoptic_candidates,
    panoptic_result,
    softmax,
)
from ..preprocessing.preprocess import Preprocessor, check_frame
from ..preprocessing.resample import pil_vertical_first, pil_weight_matrix
from ..types import ClassificationResult, DepthResult, SegmentationResult
from .chain import Binder, DeviceInput, graph_session
from .post import (
    classification_graph,
    depth_graph,
    mask_instance_graph,
    mask_panoptic_graph,
    mask_semantic_graph,
    semantic_graph,
)
from .pre import standard_graph, zoe_graph


_MAX_SIZES = 8  # frame sizes whose inputs are kept (as the numpy Preprocessor keeps its plans)


class DevicePreprocessor:
    """A uint8 BGR frame -> DeviceInput (pixel_values on the provider's device)."""

    def __init__(self, preprocessor: Preprocessor, model_session, *, intra_op_threads: int | None = None,
                 live: bool = False):
        self.preprocessor = preprocessor
        self.recipe = preprocessor.recipe
        self.binder = Binder(model_session)
        session = functools.partial(graph_session, like_session=model_session, intra_op_threads=intra_op_threads,
                                    live=live)
        if self.recipe.zoe is not None:
            self._sessions = {None: session(zoe_graph(self.recipe))}
        else:  # one graph per Pillow pass order
            self._sessions = {order: session(standard_graph(self.recipe, vertical_first=order))
                              for order in (False, True)}
        self._inputs: dict[tuple[int, int], tuple] = {}  # per frame size: (graph key, size inputs)

    def __call__(self, frame: np.ndarray) -> DeviceInput:
        frame = check_frame(frame)
        hw = (int(frame.shape[0]), int(frame.shape[1]))
        geometry = self.preprocessor.geometry(hw)
        key, sizes = self._inputs.get(hw) or self._size_inputs(hw, geometry)
        value = self.binder.run(self._sessions[key], {"frame": frame, **sizes}, ["pixel_values"])[0]
        return DeviceInput(value, hw, geometry.resized_hw, geometry.padding_tblr)

    def _size_inputs(self, hw: tuple[int, int], geometry) -> tuple:
        zoe = self.recipe.zoe
        if zoe is not None:
            pad = zoedepth_padding(hw) if zoe.do_pad else (0, 0)
            found = None, {"pad_hw": np.array(pad, np.int64), "out_hw": np.array(geometry.out_hw, np.int64)}
        else:
            found = pil_vertical_first(hw, geometry.resized_hw), self._standard_inputs(hw, geometry)
        while len(self._inputs) >= _MAX_SIZES:
            self._inputs.pop(next(iter(self._inputs)))
        self._inputs[hw] = found
        return found

    def _standard_inputs(self, hw: tuple[int, int], geometry) -> dict[str, Any]:
        r0, r1, c0, c1 = geometry.window
        (in_h, in_w), (out_h, out_w) = hw, geometry.resized_hw
        flt = self.recipe.filter
        # The matrices stay on the device: uploaded once per frame size, not per frame.
        cols = self.binder.upload(np.ascontiguousarray(pil_weight_matrix(in_w, out_w, flt, c0, c1).T))
        rows = self.binder.upload(pil_weight_matrix(in_h, out_h, flt, r0, r1))
        n_rows, n_cols = r1 - r0, c1 - c0
        place_r, place_c = geometry.place
        in_h_pad, in_w_pad = geometry.out_hw
        # The region the processor fills (the crop box: black where the image does not reach), inside
        # zero padding (DPT, MaskFormer pad_size).
        top, bottom, left, right = geometry.crop_box or (place_r, place_r + n_rows, place_c, place_c + n_cols)
        black = [place_r - top, bottom - place_r - n_rows, place_c - left, right - place_c - n_cols]
        zero = [top, in_h_pad - bottom, left, in_w_pad - right]
        return {"cols": cols, "rows": rows, "black_pads": np.array(black, np.int64),
                "zero_pads": np.array(zero, np.int64)}


class _DevicePost:
    def __init__(self, graph, model_session, intra_op_threads: int | None, live: bool):
        self.session = graph_session(graph, model_session, intra_op_threads=intra_op_threads, live=live)
        self.binder = Binder(model_session)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def _run(self, model_output, sizes: dict[str, Sequence[int]], outputs: list[str]) -> list[np.ndarray]:
        inputs: dict[str, Any] = {self.input_names[0]: model_output}
        inputs.update({name: np.array(value, np.int64) for name, value in sizes.items()})
        return self.binder.run(self.session, inputs, outputs, to_host=True)


class SemanticPost(_DevicePost):
    """Per-pixel logits -> label map at frame size, on the device."""

    def __init__(self, head: SegmentationHead, num_labels: int, model_session, **kwargs):
        super().__init__(semantic_graph(num_labels), model_session, **kwargs)
        self.id2label = head.id2label

    def __call__(self, outputs: list, prepared: DeviceInput) -> SegmentationResult | None:
        if any(prepared.padding_tblr):
            return None
        label_map = self._run(outputs[0], {"out_hw": prepared.original_hw}, ["label_map"])[0][0]
        return SegmentationResult(kind="semantic", label_map=label_map.astype(np.int32), id2label=self.id2label)


class DepthPost(_DevicePost):
    """predicted_depth -> depth at frame size (ZoeDepth: resized to the padded frame, padding cut)."""

    def __init__(self, head: DepthHead, model_session, **kwargs):
        super().__init__(depth_graph(), model_session, **kwargs)
        self.kind = head.kind
        self.zoe = head.model_type == "zoedepth"

    def __call__(self, outputs: list, prepared: DeviceInput) -> DepthResult | None:
        h, w = prepared.original_hw
        crop = (0, 0)
        if any(prepared.padding_tblr):
            if not self.zoe:
                return None
            crop = zoedepth_padding((h, w))
        resize_hw = (h + 2 * crop[0], w + 2 * crop[1])
        depth = self._run(outputs[0], {"resize_hw": resize_hw, "crop_yx": crop, "out_hw": (h, w)}, ["depth"])[0][0]
        return DepthResult(depth=np.ascontiguousarray(depth, dtype=np.float32), kind=self.kind)


class ClassificationPost(_DevicePost):
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


class MaskClassificationPost(_DevicePost):
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


def device_postprocessor(head: Head, output_shapes: Sequence[Sequence], model_session, *,
                         intra_op_threads: int | None = None, live: bool = False):
    """The device post-processing of `head`, or None where it has none (class counts not fixed).

    output_shapes: the model's output shapes (their class counts must be fixed)."""
    kwargs = dict(intra_op_threads=intra_op_threads, live=live)
    if isinstance(head, DepthHead):
        return DepthPost(head, model_session, **kwargs)
    if isinstance(head, SegmentationHead) and head.mask_classification:
        num_labels = output_shapes[0][-1] - 1 if isinstance(output_shapes[0][-1], int) else None
        return MaskClassificationPost(head, num_labels, model_session, **kwargs) if num_labels else None
    num_labels = output_shapes[0][1] if len(output_shapes[0]) > 1 else None
    if not isinstance(num_labels, int):
        return None
    if isinstance(head, ClassificationHead):
        return ClassificationPost(head, num_labels, model_session, **kwargs)
    if isinstance(head, SegmentationHead):
        return SemanticPost(head, num_labels, model_session, **kwargs)
    return None

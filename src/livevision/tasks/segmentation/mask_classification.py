"""MaskFormer / Mask2Former post-processing in numpy/OpenCV, reproducing the Hugging Face image processors.

`postprocess_mask_classification`: MaskFormer / Mask2Former query outputs, in "semantic",
"instance" or "panoptic" mode, reproducing the MaskFormer / Mask2Former image processors'
post_process_{semantic,instance,panoptic}_segmentation(..., target_sizes=[frame_hw]).

The defaults are those of `pipeline("image-segmentation")` (see PIPELINE_DEFAULTS), which calls
the processors with threshold=0.9 and overlap_mask_area_threshold=0.5 (the processors' own
defaults are 0.5 and 0.8) and prefers panoptic, then instance, then semantic.

What we do differently from HF, on purpose (results agree, cost does not):
- Semantic: the argmax at frame size prunes classes as `upsample` explains. For Mask2Former the same
  bound, pushed through the sigmoid, prunes classes before its (C, 384, 384) einsum.
- Instance/panoptic: queries are filtered by score before any mask is upsampled; only kept masks
  are resized.
- Instance segments come in HF's order, torch.topk(sorted=False)'s (reproduced by topk_order), and
  `segment_map` is painted in it, as HF paints: where instances overlap, the later one keeps the
  pixels (so an instance may show no pixel at all: HF keeps it, and so do we); each `Segment.mask` is
  the instance's whole mask (HF's return_binary_maps view). Instance masks are cut at probability
  0.5 whatever `mask_threshold` says, as HF does (only panoptic uses it).
- Panoptic: segments fused by `label_ids_to_fuse` are one Segment (HF lists each fused query,
  with the same id); its score is the first fused query's. HF's compute_segments also rewinds its
  id counter to the fused id, so the next new segment gets an id already in use and two segments
  merge; we keep counting (ids agree with HF up to the first such reuse).
- `segment_map` and `label_map` use -1 where no segment covers a pixel (HF panoptic uses 0 there,
  and -1 everywhere when nothing passes the threshold). Segment ids are HF's: 1, 2, ... for
  panoptic, 0, 1, ... for instance.

Padding: HF's MaskFormer/Mask2Former preprocessing of a single image does not pad (size_divisor
stretches the resize to a multiple of 32); HF only pads batches (or with `pad_size`), and then
ignores the padding. A non-zero `prepared.padding_tblr` is handled as `upsample` explains
(crop_padding).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import cv2
import numpy as np

from ...errors import UnsupportedModelError
from ...models.registry import MASK_CLASSIFICATION_TYPES
from ...types import PreparedInput, Segment, SegmentationKind, SegmentationResult
from ..labels import label_for, normalize_id2label
from .topk_order import topk_order
from .upsample import (
    ArgmaxScratch,
    Region,
    as_float32,
    candidate_channels,
    content_region,
    resize_linear,
    resize_nearest_stack,
    resize_stack,
    two_stage_window,
    update_argmax,
    upsampled_argmax,
    window_max_min,
)

#: pipeline("image-segmentation") defaults for MaskFormer / Mask2Former.
PIPELINE_DEFAULTS: dict[str, Any] = {
    "mode": "panoptic",
    "threshold": 0.9,
    "mask_threshold": 0.5,
    "overlap_mask_area_threshold": 0.5,
    "label_ids_to_fuse": None,
}

MODES = tuple(kind.value for kind in SegmentationKind)
MASK_CLASSIFICATION_MODEL_TYPES = tuple(sorted(MASK_CLASSIFICATION_TYPES))

#: transformers 4.57 binarises instance masks at logit > 0 (probability 0.5) whatever mask_threshold says
#: (which only panoptic uses); livevision does the same, so that its instances are transformers' instances.
INSTANCE_MASK_LOGIT = 0.0

#: Mask2Former's processors first resize every mask to this size ("(384, 384) for all models").
MASK2FORMER_MASK_HW = (384, 384)


# --------------------------------------------------------------------------------------------
# public API


def postprocess_mask_classification(
    class_queries_logits: np.ndarray,
    masks_queries_logits: np.ndarray,
    prepared: PreparedInput,
    *,
    id2label: Mapping[Any, str],
    model_type: str,
    mode: str = PIPELINE_DEFAULTS["mode"],
    threshold: float = PIPELINE_DEFAULTS["threshold"],
    mask_threshold: float = PIPELINE_DEFAULTS["mask_threshold"],
    overlap_mask_area_threshold: float = PIPELINE_DEFAULTS["overlap_mask_area_threshold"],
    label_ids_to_fuse: Iterable[int] | None = PIPELINE_DEFAULTS["label_ids_to_fuse"],
    crop_padding: bool = True,
) -> SegmentationResult:
    """MaskFormer / Mask2Former outputs -> a semantic, instance or panoptic result at frame size.

    class_queries_logits: (1, Q, C + 1), the last class being "no object".
    masks_queries_logits: (1, Q, h, w) mask logits.
    model_type: "maskformer" or "mask2former" (Mask2Former resizes masks to 384x384 first).
    threshold: minimum query score (instance: class prob x mean mask prob; panoptic: class prob).
    mask_threshold: mask probability threshold. overlap_mask_area_threshold: panoptic only,
    minimum share of a query's mask it must keep after overlaps are resolved.
    label_ids_to_fuse: panoptic only, classes whose queries merge into one segment ("stuff").
    """
    cls, masks = _query_arrays(class_queries_logits, masks_queries_logits)
    model_type = str(model_type).lower()
    _check_options(model_type, mode, threshold=threshold, mask_threshold=mask_threshold,
                   overlap_mask_area_threshold=overlap_mask_area_threshold)
    names = normalize_id2label(id2label)
    out_hw = prepared.original_hw
    region = content_region(prepared, crop_padding)
    mid_hw = MASK2FORMER_MASK_HW if model_type == "mask2former" else None
    class_probs = softmax(cls)  # (Q, C + 1)

    if mode == "semantic":
        label_map = _mask_semantic(class_probs[:, :-1], masks, mid_hw, out_hw, region)
        return SegmentationResult(kind="semantic", label_map=label_map.astype(np.int32, copy=False), id2label=names)
    if mode == "instance":
        return _mask_instance(class_probs[:, :-1], masks, mid_hw, out_hw, region, names, threshold, mask_threshold)
    fuse = {int(c) for c in label_ids_to_fuse} if label_ids_to_fuse is not None else set()
    return _mask_panoptic(
        class_probs, masks, mid_hw, out_hw, region, names, threshold, mask_threshold, overlap_mask_area_threshold, fuse
    )


def _query_arrays(class_queries_logits, masks_queries_logits) -> tuple[np.ndarray, np.ndarray]:
    """The one image's (Q, C + 1) class logits and (Q, h, w) mask logits, float32, checked."""
    cls = as_float32(class_queries_logits, "class_queries_logits", "(1, num_queries, num_labels + 1)", ndim=3)[0]
    masks = as_float32(masks_queries_logits, "masks_queries_logits", "(1, num_queries, h, w)", ndim=4)[0]
    if cls.shape[1] < 2:
        raise ValueError(f"class_queries_logits must have at least 2 classes (incl. no-object), got {cls.shape}")
    if masks.shape[0] != cls.shape[0]:
        raise ValueError(
            f"masks_queries_logits has {masks.shape[0]} queries but class_queries_logits has {cls.shape[0]}"
        )
    return cls, masks


def _check_options(model_type: str, mode: str, **thresholds: float) -> None:
    if model_type not in MASK_CLASSIFICATION_MODEL_TYPES:
        raise UnsupportedModelError(
            f"no mask-classification post-processing for model_type {model_type!r}: "
            f"expected one of {MASK_CLASSIFICATION_MODEL_TYPES}"
        )
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    for name, value in thresholds.items():
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")


# --------------------------------------------------------------------------------------------
# the three mask-classification modes


def _mask_semantic(
    class_probs: np.ndarray,
    masks: np.ndarray,
    mid_hw: tuple[int, int] | None,
    out_hw: tuple[int, int],
    region: Region | None,
) -> np.ndarray:
    """einsum("qc,qhw->chw", softmax(cls)[:, :-1], sigmoid(masks)), upsampled, argmax."""
    q, h, w = masks.shape
    weights = class_probs.T  # (C, Q), non-negative
    if mid_hw is None:  # MaskFormer: class maps at mask resolution, one upsample.
        seg = (weights @ _sigmoid(masks).reshape(q, h * w)).reshape(-1, h, w)
        return upsampled_argmax(seg, out_hw, region)

    # Mask2Former: masks -> 384x384 (bilinear logits) -> sigmoid -> class maps -> frame size.
    # Bound each class map over the mask pixels a frame pixel can depend on, prune, then compute.
    lengths = (two_stage_window(h, mid_hw[0]), two_stage_window(w, mid_hw[1]))
    upper_logits, lower_logits = window_max_min(masks, lengths)
    upper = weights @ _sigmoid(upper_logits).reshape(q, h * w)
    lower = weights @ _sigmoid(lower_logits).reshape(q, h * w)
    candidates = candidate_channels(upper, lower)
    mid = _sigmoid(resize_stack(masks, mid_hw))  # (Q, 384, 384)
    seg = (weights[candidates] @ mid.reshape(q, -1)).reshape(len(candidates), *mid_hw)
    # The bound holds at frame pixels too, so no second pruning.
    return candidates.astype(np.int32).take(upsampled_argmax(seg, out_hw, region))


def _mask_instance(
    class_probs: np.ndarray,
    masks: np.ndarray,
    mid_hw: tuple[int, int] | None,
    out_hw: tuple[int, int],
    region: Region | None,
    names: dict[int, str],
    threshold: float,
    mask_threshold: float,
) -> SegmentationResult:
    queries, labels, picked = instance_candidates(class_probs, threshold)
    logit_threshold = INSTANCE_MASK_LOGIT  # HF's instance masks ignore mask_threshold
    small_masks: dict[int, np.ndarray] = {}  # query -> binary mask
    mask_scores: dict[int, float] = {}
    for query in dict.fromkeys(queries.tolist()):
        logits = masks[query] if mid_hw is None else resize_linear(masks[query], mid_hw)
        binary = logits > logit_threshold
        probs = _sigmoid(logits)
        count = np.count_nonzero(binary)
        mask_scores[query] = float(np.float32(probs[binary].sum(dtype=np.float32)) / np.float32(count + 1e-6))
        small_masks[query] = binary
    kept = kept_instances(class_probs, queries, labels, picked, mask_scores, threshold)
    full = {}
    if kept:
        chosen = list(dict.fromkeys(query for _, _, query, _ in kept))
        stack = resize_nearest_stack(np.stack([small_masks[q] for q in chosen]), out_hw, region)
        full = dict(zip(chosen, stack))
    return instance_result(kept, full, names, out_hw)


def instance_candidates(class_probs: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(queries, labels, flat indices) of the (query, class) pairs that may pass `threshold`, in HF's order.

    HF keeps the top num_queries (query, class) pairs in torch.topk(sorted=False)'s order (topk_order), then
    needs class_prob * mask_score >= threshold; mask_score < 1, so pairs below the threshold on class_prob
    alone can never pass."""
    q, num_classes = class_probs.shape
    flat = class_probs.reshape(-1)
    top = topk_order(flat, q)
    picked = top[flat[top] >= threshold]
    return picked // num_classes, picked % num_classes, picked


def kept_instances(class_probs: np.ndarray, queries: np.ndarray, labels: np.ndarray, picked: np.ndarray,
                   mask_scores: Mapping[int, float], threshold: float) -> list[tuple[float, int, int, int]]:
    """(score, flat index, query, label) of the pairs whose class_prob * mask score passes, in the order
    of `picked` (HF's)."""
    flat = class_probs.reshape(-1)
    kept = []
    for query, label, flat_index in zip(queries.tolist(), labels.tolist(), picked.tolist()):
        score = float(np.float32(flat[flat_index]) * np.float32(mask_scores[query]))
        if score >= threshold:
            kept.append((score, flat_index, query, label))
    return kept


def instance_result(kept: list[tuple[float, int, int, int]], full_masks: Mapping[int, np.ndarray],
                    names: dict[int, str], out_hw: tuple[int, int]) -> SegmentationResult:
    """The instance result from the kept pairs and each kept query's boolean mask at frame size."""
    segments: list[Segment] = []
    for score, _, query, label in kept:
        mask = full_masks[query]
        if mask.any():
            segments.append(Segment(len(segments), int(label), label_for(names, int(label)), score, mask))
    segment_map = np.full(out_hw, -1, dtype=np.int32)
    label_map = np.full(out_hw, -1, dtype=np.int32)
    fill = np.empty(out_hw, dtype=np.int32)
    for seg in segments:  # painted in HF's order: a later instance takes the pixels it overlaps
        mask = seg.mask.view(np.uint8)  # cv2.copyTo: masked copy, much faster than numpy's mask assignment
        fill.fill(seg.id)
        cv2.copyTo(fill, mask, dst=segment_map)
        fill.fill(seg.label_id)
        cv2.copyTo(fill, mask, dst=label_map)
    return SegmentationResult(
        kind="instance", label_map=label_map, id2label=names, segments=tuple(segments), segment_map=segment_map
    )


def _mask_panoptic(
    class_probs: np.ndarray,
    masks: np.ndarray,
    mid_hw: tuple[int, int] | None,
    out_hw: tuple[int, int],
    region: Region | None,
    names: dict[int, str],
    threshold: float,
    mask_threshold: float,
    overlap_mask_area_threshold: float,
    fuse: set[int],
) -> SegmentationResult:
    keep, labels, scores = panoptic_candidates(class_probs, threshold)
    if keep.size == 0:
        return panoptic_result(None, None, keep, labels, scores, names, out_hw, overlap_mask_area_threshold, fuse)
    # compute_segments: weighted = upsample(sigmoid(mask)) * score; winner = argmax over kept queries.
    best = np.empty(out_hw, dtype=np.float32)
    winner = np.zeros(out_hw, dtype=np.uint16 if keep.size <= 65535 else np.int32)
    scratch = ArgmaxScratch(out_hw, winner.dtype)
    original_area = np.zeros(keep.size, dtype=np.int64)
    for k, query in enumerate(keep.tolist()):
        probs = _sigmoid(masks[query] if mid_hw is None else resize_linear(masks[query], mid_hw))
        target = best if k == 0 else scratch.value
        resize_linear(probs, out_hw, region, dst=target)
        np.multiply(target, np.float32(scores[query]), out=target)
        original_area[k] = cv2.countNonZero(cv2.compare(target, float(mask_threshold), cv2.CMP_GE, dst=scratch.above))
        if k:
            update_argmax(best, winner, scratch, k)
    return panoptic_result(winner, original_area, keep, labels, scores, names, out_hw, overlap_mask_area_threshold,
                           fuse)


def panoptic_candidates(class_probs: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kept queries, every query's best label, every query's best score): remove_low_and_no_objects."""
    num_labels = class_probs.shape[1] - 1
    scores = class_probs.max(axis=1)
    labels = class_probs.argmax(axis=1)  # may be the null class
    keep = np.flatnonzero((labels != num_labels) & (scores > threshold))
    return keep, labels, scores


def panoptic_result(
    winner: np.ndarray | None,
    original_area: np.ndarray | None,
    keep: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    names: dict[int, str],
    out_hw: tuple[int, int],
    overlap_mask_area_threshold: float,
    fuse: set[int],
) -> SegmentationResult:
    """Segments from the winning kept query at each pixel (winner, indices into keep) and each kept
    query's own area (weighted mask >= mask_threshold), as HF's compute_segments assembles them."""
    if keep.size == 0:
        empty = np.full(out_hw, -1, dtype=np.int32)
        return SegmentationResult(kind="panoptic", label_map=empty, id2label=names, segment_map=empty.copy())
    area = np.bincount(winner.ravel(), minlength=keep.size)
    lut = np.full(keep.size, -1, dtype=np.int32)
    first_score: dict[int, float] = {}
    segment_label: dict[int, int] = {}
    stuff_memory: dict[int, int] = {}
    last_id = 0
    for k, query in enumerate(keep.tolist()):
        label = int(labels[query])
        if not (area[k] > 0 and original_area[k] > 0 and area[k] / original_area[k] > overlap_mask_area_threshold):
            continue
        if label in stuff_memory:
            seg_id = stuff_memory[label]  # HF also rewinds its counter here, then reuses ids; we do not
        else:
            last_id += 1
            seg_id = last_id
        lut[k] = seg_id
        first_score.setdefault(seg_id, float(scores[query]))
        segment_label[seg_id] = label
        if label in fuse:
            stuff_memory[label] = seg_id
    segment_map = lut.take(winner)
    label_map = np.where(lut >= 0, labels[keep], -1).astype(np.int32).take(winner)
    segments = tuple(
        Segment(
            id=seg_id,
            label_id=segment_label[seg_id],
            label=label_for(names, segment_label[seg_id]),
            score=first_score[seg_id],
            mask=segment_map == seg_id,
        )
        for seg_id in sorted(first_score)
    )
    return SegmentationResult(
        kind="panoptic", label_map=label_map, id2label=names, segments=segments, segment_map=segment_map
    )


# --------------------------------------------------------------------------------------------
# small helpers


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """float32 1 / (1 + exp(-x)), like torch.sigmoid. Not the tanh form: far from a mask the argmax
    compares probabilities like 1e-30 against each other, and those must not round to 0."""
    y = np.negative(x, dtype=np.float32)
    with np.errstate(over="ignore"):
        np.exp(y, out=y)
    y += np.float32(1.0)
    np.reciprocal(y, out=y)
    return y


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def logit(p: float) -> float:
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    return float(np.log(p / (1.0 - p)))

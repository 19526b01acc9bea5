"""Segmentation post-processing in numpy/OpenCV, reproducing the Hugging Face image processors.

- `postprocess_semantic`: per-pixel logits (SegFormer, DPT/BEiT/MobileViT semantic heads):
  SegformerImageProcessor.post_process_semantic_segmentation(outputs, target_sizes=[frame_hw]).
- `postprocess_mask_classification`: MaskFormer / Mask2Former query outputs, in "semantic",
  "instance" or "panoptic" mode, reproducing the MaskFormer / Mask2Former image processors'
  post_process_{semantic,instance,panoptic}_segmentation(..., target_sizes=[frame_hw]).

The defaults are those of `pipeline("image-segmentation")` (see PIPELINE_DEFAULTS), which calls
the processors with threshold=0.9 and overlap_mask_area_threshold=0.5 (the processors' own
defaults are 0.5 and 0.8) and prefers panoptic, then instance, then semantic.

What we do differently from HF, on purpose (results agree, cost does not):
- Semantic argmax at frame size without the (C, H, W) float tensor HF builds (553 MB for
  150 classes at 1280x720): a class can only win at an upsampled pixel if its maximum over the
  source pixels that pixel interpolates from reaches the best minimum there, so only those
  candidate classes are upsampled, one at a time, with a running argmax (first index wins ties,
  like torch.argmax). For Mask2Former the same bound, pushed through the sigmoid, prunes classes
  before its (C, 384, 384) einsum.
- Instance/panoptic: queries are filtered by score before any mask is upsampled; only kept masks
  are resized.
- Instance segments are ordered by score, best first (HF takes torch.topk(sorted=False), whose
  order is unspecified); `segment_map` shows the best-scoring instance where instances overlap,
  while each `Segment.mask` is the instance's whole mask (HF's return_binary_maps view).
- Instance masks are binarised at `mask_threshold` (HF ignores it there and always uses 0.5;
  identical at the default).
- Panoptic: segments fused by `label_ids_to_fuse` are one Segment (HF lists each fused query,
  with the same id); its score is the first fused query's. HF's compute_segments also rewinds its
  id counter to the fused id, so the next new segment gets an id already in use and two segments
  merge; we keep counting (ids agree with HF up to the first such reuse).
- `segment_map` and `label_map` use -1 where no segment covers a pixel (HF panoptic uses 0 there,
  and -1 everywhere when nothing passes the threshold). Segment ids are HF's: 1, 2, ... for
  panoptic, 0, 1, ... for instance.

Padding: HF's MaskFormer/Mask2Former preprocessing of a single image does not pad (size_divisor
stretches the resize to a multiple of 32); HF only pads batches (or with `pad_size`), and then
ignores the padding. If `prepared.padding_tblr` (model-input pixels) is non-zero, we map the frame
onto the image part of the output (crop_padding=True, default), which is what the padding means;
negative padding (a center crop) maps the frame beyond the model's view, replicating the edge.
crop_padding=False stretches the whole output over the frame, as HF does. With zero padding the two
are the same.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import cv2
import numpy as np

from ..errors import UnsupportedModelError
from .host_split import host_parts, run_parts
from ..models.registry import MASK_CLASSIFICATION_TYPES
from ..types import PreparedInput, Segment, SegmentationKind, SegmentationResult
from .region_resize import warp_region
from .classification import label_for, normalize_id2label

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

#: Mask2Former's processors first resize every mask to this size ("(384, 384) for all models").
MASK2FORMER_MASK_HW = (384, 384)

_Region = tuple[float, float, float, float]  # (y0, y1, x0, x1) as fractions of the source grid


# --------------------------------------------------------------------------------------------
# public API


def postprocess_semantic(
    logits: np.ndarray,
    prepared: PreparedInput,
    *,
    id2label: Mapping[Any, str],
    crop_padding: bool = True,
) -> SegmentationResult:
    """Per-pixel class logits (1, C, h, w) -> label map at frame size (bilinear upsample, argmax)."""
    scores = _as_float32(logits, "logits", "(1, num_labels, h, w)", ndim=4)[0]
    out_hw = prepared.original_hw
    region = _content_region(prepared, crop_padding)
    label_map = _upsampled_argmax(scores, out_hw, region).astype(np.int32, copy=False)
    return SegmentationResult(kind="semantic", label_map=label_map, id2label=normalize_id2label(id2label))


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
    cls = _as_float32(class_queries_logits, "class_queries_logits", "(1, num_queries, num_labels + 1)", ndim=3)[0]
    masks = _as_float32(masks_queries_logits, "masks_queries_logits", "(1, num_queries, h, w)", ndim=4)[0]
    if cls.shape[1] < 2:
        raise ValueError(f"class_queries_logits must have at least 2 classes (incl. no-object), got {cls.shape}")
    if masks.shape[0] != cls.shape[0]:
        raise ValueError(
            f"masks_queries_logits has {masks.shape[0]} queries but class_queries_logits has {cls.shape[0]}"
        )
    model_type = str(model_type).lower()
    if model_type not in MASK_CLASSIFICATION_MODEL_TYPES:
        raise UnsupportedModelError(
            f"no mask-classification post-processing for model_type {model_type!r}: "
            f"expected one of {MASK_CLASSIFICATION_MODEL_TYPES}"
        )
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    for name, value in (
        ("threshold", threshold),
        ("mask_threshold", mask_threshold),
        ("overlap_mask_area_threshold", overlap_mask_area_threshold),
    ):
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")

    names = normalize_id2label(id2label)
    out_hw = prepared.original_hw
    region = _content_region(prepared, crop_padding)
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


# --------------------------------------------------------------------------------------------
# the three mask-classification modes


def _mask_semantic(
    class_probs: np.ndarray,
    masks: np.ndarray,
    mid_hw: tuple[int, int] | None,
    out_hw: tuple[int, int],
    region: _Region | None,
) -> np.ndarray:
    """einsum("qc,qhw->chw", softmax(cls)[:, :-1], sigmoid(masks)), upsampled, argmax."""
    q, h, w = masks.shape
    weights = class_probs.T  # (C, Q), non-negative
    if mid_hw is None:  # MaskFormer: class maps at mask resolution, one upsample.
        seg = (weights @ _sigmoid(masks).reshape(q, h * w)).reshape(-1, h, w)
        return _upsampled_argmax(seg, out_hw, region)

    # Mask2Former: masks -> 384x384 (bilinear logits) -> sigmoid -> class maps -> frame size.
    # Bound each class map over the mask pixels a frame pixel can depend on, prune, then compute.
    lengths = (_two_stage_window(h, mid_hw[0]), _two_stage_window(w, mid_hw[1]))
    upper_logits, lower_logits = _window_max_min(masks, lengths)
    upper = weights @ _sigmoid(upper_logits).reshape(q, h * w)
    lower = weights @ _sigmoid(lower_logits).reshape(q, h * w)
    candidates = _candidates(upper, lower)
    mid = _sigmoid(_resize_stack(masks, mid_hw))  # (Q, 384, 384)
    seg = (weights[candidates] @ mid.reshape(q, -1)).reshape(len(candidates), *mid_hw)
    # The bound holds at frame pixels too, so no second pruning.
    return candidates.astype(np.int32).take(_upsampled_argmax(seg, out_hw, region, prune=False))


def _mask_instance(
    class_probs: np.ndarray,
    masks: np.ndarray,
    mid_hw: tuple[int, int] | None,
    out_hw: tuple[int, int],
    region: _Region | None,
    names: dict[int, str],
    threshold: float,
    mask_threshold: float,
) -> SegmentationResult:
    queries, labels, picked = instance_candidates(class_probs, threshold)
    logit_threshold = logit(mask_threshold)
    small_masks: dict[int, np.ndarray] = {}  # query -> binary mask
    mask_scores: dict[int, float] = {}
    for query in dict.fromkeys(queries.tolist()):
        logits = masks[query] if mid_hw is None else _resize_linear(masks[query], mid_hw)
        binary = logits > logit_threshold
        probs = _sigmoid(logits)
        count = np.count_nonzero(binary)
        mask_scores[query] = float(np.float32(probs[binary].sum(dtype=np.float32)) / np.float32(count + 1e-6))
        small_masks[query] = binary
    kept = kept_instances(class_probs, queries, labels, picked, mask_scores, threshold)
    full = {}
    if kept:
        chosen = list(dict.fromkeys(query for _, _, query, _ in kept))
        stack = _resize_nearest_stack(np.stack([small_masks[q] for q in chosen]), out_hw, region)
        full = dict(zip(chosen, stack))
    return instance_result(kept, full, names, out_hw)


def instance_candidates(class_probs: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(queries, labels, flat indices) of the (query, class) pairs that may pass `threshold`.

    HF keeps the top num_queries (query, class) pairs, then needs class_prob * mask_score >= threshold;
    mask_score < 1, so pairs below the threshold on class_prob alone can never pass."""
    q, num_classes = class_probs.shape
    flat = class_probs.reshape(-1)
    picked = np.flatnonzero(flat >= threshold)
    if picked.size > q:
        picked = picked[np.argsort(-flat[picked], kind="stable")[:q]]
    return picked // num_classes, picked % num_classes, picked


def kept_instances(class_probs: np.ndarray, queries: np.ndarray, labels: np.ndarray, picked: np.ndarray,
                   mask_scores: Mapping[int, float], threshold: float) -> list[tuple[float, int, int, int]]:
    """(score, flat index, query, label) of the pairs whose class_prob * mask score passes, best first."""
    flat = class_probs.reshape(-1)
    kept = []
    for query, label, flat_index in zip(queries.tolist(), labels.tolist(), picked.tolist()):
        score = float(np.float32(flat[flat_index]) * np.float32(mask_scores[query]))
        if score >= threshold:
            kept.append((score, flat_index, query, label))
    kept.sort(key=lambda item: (-item[0], item[1]))
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
    for seg in reversed(segments):  # best score painted last, so it wins overlaps
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
    region: _Region | None,
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
    scratch = _ArgmaxScratch(out_hw, winner.dtype)
    original_area = np.zeros(keep.size, dtype=np.int64)
    for k, query in enumerate(keep.tolist()):
        probs = _sigmoid(masks[query] if mid_hw is None else _resize_linear(masks[query], mid_hw))
        target = best if k == 0 else scratch.value
        _resize_linear(probs, out_hw, region, dst=target)
        np.multiply(target, np.float32(scores[query]), out=target)
        original_area[k] = cv2.countNonZero(cv2.compare(target, float(mask_threshold), cv2.CMP_GE, dst=scratch.above))
        if k:
            _update_argmax(best, winner, scratch, k)
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
# upsampled argmax with candidate pruning


def _upsampled_argmax(
    scores: np.ndarray, out_hw: tuple[int, int], region: _Region | None, *, prune: bool = True
) -> np.ndarray:
    """argmax over C of bilinear-upsampled (C, h, w) scores at out_hw, as HF computes it, without (C, H, W).

    Channels are resized one at a time: OpenCV 5 takes at most 128 channels per Mat (OpenCV 4: 512),
    and a running argmax keeps memory at a few frame-sized buffers. The candidate channels are split
    into one contiguous run per core (host_split), each run's argmax computed in its own thread, then
    merged in channel order (ties go to the lower channel, as torch.argmax's first maximum).
    prune=False when the caller already pruned the channels with a bound valid at out_hw.
    """
    candidates = _candidates(*_window_max_min(scores, (2, 2))) if prune else np.arange(scores.shape[0])
    n = candidates.size
    if n == 1:
        return np.full(out_hw, candidates[0], dtype=np.int32)
    index_dtype = np.uint8 if n <= 256 else np.uint16 if n <= 65536 else np.int32
    # At least a few channels per part: below that, a thread costs more than it saves.
    bounds = np.linspace(0, n, min(host_parts(), max(1, n // 4)) + 1).astype(int)
    parts = run_parts([functools.partial(_running_argmax, scores, candidates, lo, hi, out_hw, region, index_dtype)
                       for lo, hi in zip(bounds[:-1], bounds[1:])])
    best, winner = parts[0]
    above = np.empty(out_hw, dtype=np.uint8)
    for part_best, part_winner in parts[1:]:  # later parts hold higher channels: they win only strictly
        cv2.compare(part_best, best, cv2.CMP_GT, dst=above)
        cv2.copyTo(part_winner, above, dst=winner)
        cv2.max(part_best, best, dst=best)
    if index_dtype is np.uint8:  # position -> channel id in one table lookup
        table = np.zeros(256, dtype=np.int32)
        table[:n] = candidates
        return cv2.LUT(winner, table)
    return candidates.astype(np.int32).take(winner)


def _running_argmax(scores, candidates, lo: int, hi: int, out_hw, region, index_dtype):
    """(best value, position in `candidates` of the first channel reaching it) over candidates[lo:hi]."""
    best = _resize_linear(scores[candidates[lo]], out_hw, region)  # always a new array
    winner = np.full(out_hw, lo, dtype=index_dtype)
    scratch = _ArgmaxScratch(out_hw, winner.dtype)
    for k in range(lo + 1, hi):
        _resize_linear(scores[candidates[k]], out_hw, region, dst=scratch.value)
        _update_argmax(best, winner, scratch, k)
    return best, winner


class _ArgmaxScratch:
    """Per-frame buffers of the running argmax (value under test, its > mask, the index to write)."""

    def __init__(self, out_hw: tuple[int, int], index_dtype: np.dtype) -> None:
        self.value = np.empty(out_hw, dtype=np.float32)
        self.above = np.empty(out_hw, dtype=np.uint8)
        self.index = np.empty(out_hw, dtype=index_dtype)


def _update_argmax(best: np.ndarray, winner: np.ndarray, scratch: _ArgmaxScratch, k: int) -> None:
    """Where scratch.value > best (strictly: the first maximum wins, like torch.argmax): best = value,
    winner = k. k must exceed every index already in `winner` (channels are visited in order)."""
    cv2.compare(scratch.value, best, cv2.CMP_GT, dst=scratch.above)
    if winner.dtype == np.uint8:
        # above is 255 or 0, so (above & k) is k or 0, and k beats every earlier index: max() writes k
        # exactly where above. Two byte passes instead of a fill and a masked copy.
        cv2.bitwise_and(scratch.above, k, dst=scratch.index)
        cv2.max(winner, scratch.index, dst=winner)
    else:
        scratch.index.fill(k)  # OpenCV's masked copy is ~80x faster here than numpy's boolean assignment
        cv2.copyTo(scratch.index, scratch.above, dst=winner)
    cv2.max(scratch.value, best, dst=best)


def _candidates(upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Channels that can win somewhere: upper[c] >= max_c' lower[c'] at some position. (C, ...) inputs."""
    c = upper.shape[0]
    upper = upper.reshape(c, -1)
    floor = lower.reshape(c, -1).max(axis=0)
    floor -= np.float32(1e-5) * (np.abs(floor) + np.float32(1.0))  # room for float rounding
    return np.flatnonzero((upper >= floor).any(axis=1))


def _window_max_min(a: np.ndarray, lengths: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Max and min of (C, h, w) over forward windows [i, i + ly) x [j, j + lx), edges replicated.

    The C planes go through OpenCV's morphology stacked as one tall image (one call per host part
    instead of one per plane). Only each plane's last ly - 1 rows see the next plane there; they are
    redone from a stack of those rows with the bottom edge replicated."""
    c, h, w = a.shape
    ly, lx = lengths
    kernel = np.ones(lengths, dtype=np.uint8)
    tall = np.ascontiguousarray(a).reshape(c * h, w)
    upper, lower = np.empty_like(tall), np.empty_like(tall)

    def planes(lo: int, hi: int) -> None:
        # anchor (0, 0) makes the window start at the pixel; the image's own edges replicate
        rows = slice(lo * h, hi * h)
        cv2.dilate(tall[rows], kernel, dst=upper[rows], anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
        cv2.erode(tall[rows], kernel, dst=lower[rows], anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)

    bounds = np.linspace(0, c, min(host_parts(), c) + 1).astype(int)
    run_parts([functools.partial(planes, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])])
    upper, lower = upper.reshape(c, h, w), lower.reshape(c, h, w)
    seam = min(ly - 1, h)
    if seam and c > 1:
        tail = np.empty((c, seam + ly - 1, w), dtype=a.dtype)
        tail[:, :seam] = a[:, h - seam :]
        tail[:, seam:] = a[:, h - 1 : h]
        flat = tail.reshape(-1, w)
        upper[:, h - seam :] = cv2.dilate(flat, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE).reshape(
            c, -1, w)[:, :seam]
        lower[:, h - seam :] = cv2.erode(flat, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE).reshape(
            c, -1, w)[:, :seam]
    return upper, lower


def _two_stage_window(n_in: int, n_mid: int) -> int:
    """How many consecutive source pixels one output pixel can depend on through a bilinear resize to
    n_mid then a bilinear resize (2 taps) to any size."""
    if n_in == 1 or n_mid == 1:
        return 1 if n_in == 1 else n_in
    x = np.maximum((np.arange(n_mid) + 0.5) * (n_in / n_mid) - 0.5, 0.0)
    first = np.minimum(np.floor(x).astype(np.int64), n_in - 1)
    return int(np.max(np.diff(first))) + 2


# --------------------------------------------------------------------------------------------
# resizing (torch.nn.functional.interpolate equivalents)


def _resize_linear(
    src: np.ndarray, out_hw: tuple[int, int], region: _Region | None = None, dst: np.ndarray | None = None
) -> np.ndarray:
    """Bilinear, align_corners=False, of a 2-D float32 map; `region` maps out_hw onto part of src."""
    size = (out_hw[1], out_hw[0])
    if region is None:
        if src.shape == tuple(out_hw):  # torch: identity
            if dst is None:
                return src.copy()
            np.copyto(dst, src)
            return dst
        return cv2.resize(src, size, dst=dst, interpolation=cv2.INTER_LINEAR)
    h, w = src.shape
    pixels = (region[0] * h, region[1] * h, region[2] * w, region[3] * w)
    return warp_region(src, pixels, out_hw, cv2.INTER_LINEAR, dst=dst)


def _resize_stack(stack: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """_resize_linear of every (h, w) plane of a (N, h, w) stack."""
    out = np.empty((stack.shape[0], *out_hw), dtype=np.float32)
    for i in range(stack.shape[0]):
        _resize_linear(stack[i], out_hw, dst=out[i])
    return out


def _resize_nearest_stack(stack: np.ndarray, out_hw: tuple[int, int], region: _Region | None) -> np.ndarray:
    """torch mode="nearest" of a (N, h, w) stack: source index floor(dst * in / out) in float32."""
    h, w = stack.shape[1:]
    rows = _nearest_index(h, out_hw[0], None if region is None else (region[0], region[1]))
    cols = _nearest_index(w, out_hw[1], None if region is None else (region[2], region[3]))
    return stack.take(rows, axis=1).take(cols, axis=2)


def _nearest_index(n_in: int, n_out: int, span: tuple[float, float] | None) -> np.ndarray:
    if span is None:
        if n_in == n_out:
            return np.arange(n_out, dtype=np.intp)
        scale = np.float32(n_in) / np.float32(n_out)
        index = np.floor(np.arange(n_out, dtype=np.float32) * scale)
    else:
        start, stop = span[0] * n_in, span[1] * n_in
        index = np.floor(start + np.arange(n_out, dtype=np.float64) * ((stop - start) / n_out))
    return np.clip(index.astype(np.intp), 0, n_in - 1)


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


def _as_float32(array: np.ndarray, name: str, expected: str, *, ndim: int) -> np.ndarray:
    arr = np.asarray(array)
    if arr.ndim != ndim or arr.shape[0] != 1 or min(arr.shape) < 1:
        raise ValueError(f"{name} must have shape {expected}, got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be a float array, got {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _content_region(prepared: PreparedInput, crop_padding: bool) -> _Region | None:
    """The image part of the model input as fractions (y0, y1, x0, x1), or None for all of it.

    Negative padding (a center crop cut the resized image) gives fractions outside [0, 1].
    """
    top, bottom, left, right = (int(p) for p in prepared.padding_tblr)
    if not crop_padding or not (top or bottom or left or right):
        return None
    in_h, in_w = prepared.pixel_values.shape[2:]
    if top + bottom >= in_h or left + right >= in_w:
        raise ValueError(f"prepared.padding_tblr {prepared.padding_tblr} leaves no image in {in_h}x{in_w}")
    return (top / in_h, (in_h - bottom) / in_h, left / in_w, (in_w - right) / in_w)

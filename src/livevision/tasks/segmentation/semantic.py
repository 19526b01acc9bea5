"""Semantic segmentation post-processing in numpy/OpenCV, reproducing the Hugging Face image processors.

- `postprocess_semantic`: per-pixel logits (SegFormer, BEiT / Data2Vec-vision, DPT, MobileViT(V2) DeepLabV3,
  UperNet): their processors' post_process_semantic_segmentation(outputs, target_sizes=[frame_hw]), which
  are all SegFormer's (bilinear, align_corners=False, argmax; BEiT's and DPT's `do_reduce_labels` changes
  training labels only, never the predicted ids). Like them, the logits are stretched over the whole
  frame by default, also where the processor center-cropped (MobileViT) or padded the input:
  crop_padding=True maps them onto the part of the frame the model saw instead.

The argmax at frame size, and how a padded model input maps onto the frame, are `upsample`'s;
MaskFormer / Mask2Former query outputs are post-processed in `mask_classification`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ...types import PreparedInput, SegmentationResult
from ..labels import normalize_id2label
from .upsample import as_float32, content_region, upsampled_argmax


def postprocess_semantic(
    logits: np.ndarray,
    prepared: PreparedInput,
    *,
    id2label: Mapping[Any, str],
    crop_padding: bool = False,
) -> SegmentationResult:
    """Per-pixel class logits (1, C, h, w) -> label map at frame size (bilinear upsample, argmax)."""
    scores = as_float32(logits, "logits", "(1, num_labels, h, w)", ndim=4)[0]
    out_hw = prepared.original_hw
    region = content_region(prepared, crop_padding)
    label_map = upsampled_argmax(scores, out_hw, region)
    return SegmentationResult(kind="semantic", label_map=label_map, id2label=normalize_id2label(id2label))


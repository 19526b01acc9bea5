"""Depth post-processing in numpy/OpenCV: the raw `predicted_depth` back to a frame-sized map.

Reproduces the Hugging Face image processors' `post_process_depth_estimation` (and so the
`depth-estimation` pipeline's `predicted_depth`) without torch:

- DPT, Depth Anything, Prompt Depth Anything, GLPN: bicubic resize (align_corners=False,
  a = -0.75, borders replicated, no antialias) of the whole map to the frame size.
  cv2.INTER_CUBIC is the same kernel; measured difference to torch is ~2e-5 absolute.
- ZoeDepth: the processor reflect-pads the ORIGINAL image by int(sqrt(h/2)*3) rows and
  int(sqrt(w/2)*3) columns on each side before resizing it to the model input. Post-processing
  resizes the map to the padded original size, then crops the padding. The resize to
  `target_sizes` that follows in HF is the identity when the target is the frame size.

Padding:
- ZoeDepth: like HF, the padding to remove is recomputed from the frame size
  (`zoedepth_padding(original_hw)`), not read from `prepared.padding_tblr`, so it is exact whether
  the preprocessing reports it in frame pixels or (rounded) in model-input pixels. All-zero
  `padding_tblr` means the preprocessing did not pad (do_pad=False), and nothing is removed.
- Every other model: `prepared.padding_tblr` is padding around the resized image, in model
  input pixels (as `PreparedInput` documents; negative = rows/cols cut by a center crop). HF
  ignores it (DPT's `do_pad`) and stretches the padded map onto the frame; we map the frame onto
  the image part of the map instead (edges replicated where a crop cut the view). With no padding
  (the default for DPT, Depth Anything and GLPN checkpoints) both are the same.

Values are not normalised here: relative maps stay disparity-like (near = large), metric maps
stay in metres (near = small). Display scaling belongs to the renderer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from ...errors import UnsupportedModelError
from ...types import DepthKind, DepthResult, PreparedInput, Task
from ..region_resize import warp_region

if TYPE_CHECKING:
    from ...models.registry import Architecture

#: model_type -> what its depth means when config.json says nothing more.
_KIND_BY_MODEL_TYPE: dict[str, DepthKind] = {
    # DPT / MiDaS / DPT-hybrid: relative inverse depth. (The DINOv2-backbone DPT checkpoints
    # fine-tuned on NYU/KITTI are a grey zone; config.json cannot tell, so they read as relative.)
    "dpt": DepthKind.RELATIVE,
    # Depth Anything V1/V2: config.depth_estimation_type, default "relative".
    "depth_anything": DepthKind.RELATIVE,
    "prompt_depth_anything": DepthKind.RELATIVE,
    # GLPN: predicted_depth = sigmoid(x) * config.max_depth, metres (NYU 10 m, KITTI 80 m).
    "glpn": DepthKind.METRIC,
    # ZoeDepth: metric bins, metres.
    "zoedepth": DepthKind.METRIC,
}

SUPPORTED_DEPTH_MODEL_TYPES = frozenset(_KIND_BY_MODEL_TYPE)


def depth_kind(config: Mapping[str, Any]) -> DepthKind:
    """What the model's `predicted_depth` means, from its config.json (as a dict).

    `depth_estimation_type` ("relative" / "metric", used by Depth Anything and Prompt Depth
    Anything) wins; otherwise the model type decides (see `_KIND_BY_MODEL_TYPE`).
    Raises UnsupportedModelError for model types we do not post-process.
    """
    model_type = str(config.get("model_type", "")).lower()
    if model_type not in _KIND_BY_MODEL_TYPE:
        hint = " (Depth Pro needs its field-of-view post-processing)" if model_type == "depth_pro" else ""
        supported = ", ".join(sorted(_KIND_BY_MODEL_TYPE))
        raise UnsupportedModelError(
            f"no depth post-processing for model_type {model_type!r}{hint}; supported: {supported}"
        )
    estimation_type = config.get("depth_estimation_type")
    if estimation_type is not None:
        try:
            return DepthKind(str(estimation_type).lower())
        except ValueError:
            raise UnsupportedModelError(
                f"unknown depth_estimation_type {estimation_type!r}: expected 'relative' or 'metric'"
            ) from None
    return _KIND_BY_MODEL_TYPE[model_type]


def postprocess_depth(
    predicted_depth: np.ndarray,
    prepared: PreparedInput,
    *,
    model_type: str,
    kind: DepthKind,
) -> DepthResult:
    """The model's `predicted_depth` (1, h, w) as a (H, W) float32 map at frame size.

    model_type: config.json's model_type ("dpt", "depth_anything", "zoedepth", ...).
    kind: from `depth_kind(config)`; copied into the result.
    """
    depth = _as_2d(predicted_depth)
    model_type = str(model_type).lower()
    if model_type not in _KIND_BY_MODEL_TYPE:
        supported = ", ".join(sorted(_KIND_BY_MODEL_TYPE))
        raise UnsupportedModelError(f"no depth post-processing for model_type {model_type!r}; supported: {supported}")
    kind = DepthKind(kind)
    out_h, out_w = prepared.original_hw
    top, bottom, left, right = (int(p) for p in prepared.padding_tblr)

    if model_type == "zoedepth":
        if top or bottom or left or right:
            # ZoeDepthImageProcessor.post_process_depth_estimation: resize to the padded frame,
            # then cut the padding off.
            pad_h, pad_w = zoedepth_padding((out_h, out_w))
            full = _resize_cubic(depth, (out_h + 2 * pad_h, out_w + 2 * pad_w))
            out = full[pad_h : pad_h + out_h, pad_w : pad_w + out_w]
        else:
            out = _resize_cubic(depth, (out_h, out_w))
    elif top or bottom or left or right:
        # Padding in model-input pixels: map the frame onto the image part of the map.
        in_h, in_w = prepared.pixel_values.shape[2:]
        if top + bottom >= in_h or left + right >= in_w:
            raise ValueError(f"prepared.padding_tblr {prepared.padding_tblr} leaves no image in {in_h}x{in_w}")
        h, w = depth.shape
        y0, y1 = top * h / in_h, (in_h - bottom) * h / in_h
        x0, x1 = left * w / in_w, (in_w - right) * w / in_w
        out = warp_region(depth, (y0, y1, x0, x1), (out_h, out_w), cv2.INTER_CUBIC)
    else:
        out = _resize_cubic(depth, (out_h, out_w))
    return DepthResult(depth=np.ascontiguousarray(out, dtype=np.float32), kind=kind)


def zoedepth_padding(original_hw: tuple[int, int]) -> tuple[int, int]:
    """ZoeDepth's reflect padding of a frame: (rows per side, cols per side) = int(sqrt(n / 2) * 3)."""
    height, width = original_hw
    return int(np.sqrt(height / 2) * 3), int(np.sqrt(width / 2) * 3)


def _as_2d(predicted_depth: np.ndarray) -> np.ndarray:
    arr = np.asarray(predicted_depth)
    shape = arr.shape
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise ValueError(f"predicted_depth must have shape (1, h, w), got {shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"predicted_depth must be a float array, got {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _resize_cubic(src: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """torch.nn.functional.interpolate(mode="bicubic", align_corners=False) for a 2-D float32 map."""
    if src.shape == tuple(out_hw):
        return src.copy()  # torch's same-size bicubic is the identity; never hand back the caller's buffer
    return cv2.resize(src, (out_hw[1], out_hw[0]), interpolation=cv2.INTER_CUBIC)


class DepthHead:
    """predicted_depth -> DepthResult at frame size; `kind` says relative (near = large) or metric (metres)."""

    task = Task.DEPTH

    def __init__(self, architecture: "Architecture", config: Mapping[str, Any]):
        self.model_type = architecture.model_type
        self.kind: DepthKind = depth_kind(config)

    def postprocess(self, outputs: list[np.ndarray], prepared: PreparedInput) -> DepthResult:
        return postprocess_depth(outputs[0], prepared, model_type=self.model_type, kind=self.kind)

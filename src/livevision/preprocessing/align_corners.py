"""torch's align-corners resize for preprocessing: ZoeDepth's reflect-pad then interpolate.

ZoeDepth's image processor pads the image by reflection and resizes it with
``torch.nn.functional.interpolate(..., align_corners=True)`` in float32, not with Pillow:

- ``AlignCornersResizer``: that resize (bilinear or bicubic) in float32, with the reflect padding
  folded into the taps;
- ``resize_align_corners_fast``: its cv2 (``warpAffine``) approximation on uint8.

Pillow's resize (the other image processors) is in ``resample``.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["AlignCornersResizer", "resize_align_corners_fast"]

_BLOCK = 8  # output pixels per banded matrix block, as in resample's Pillow-exact passes


def _reflect(index: np.ndarray, size: int) -> np.ndarray:
    """Map indices of a reflect-padded axis (``np.pad(mode="reflect")``) back to the original axis."""
    if size == 1:
        return np.zeros_like(index)
    period = 2 * (size - 1)
    index = np.mod(index, period)
    return np.where(index >= size, period - index, index)


def _cubic_coefficients(t: np.ndarray) -> np.ndarray:
    """torch's get_cubic_upsample_coefficients (A = -0.75), in float32 like its CPU kernel."""
    f = np.float32
    a = f(-0.75)

    def conv1(x: np.ndarray) -> np.ndarray:
        return ((a + f(2)) * x - (a + f(3))) * x * x + f(1)

    def conv2(x: np.ndarray) -> np.ndarray:
        return ((a * x - f(5) * a) * x + f(8) * a) * x - f(4) * a

    x2 = f(1) - t
    return np.stack([conv2(t + f(1)), conv1(t), conv1(x2), conv2(x2 + f(1))], axis=1).astype(np.float32)


def _align_corners_taps(
    size: int, pad: int, out_size: int, mode: str
) -> tuple[np.ndarray, np.ndarray]:
    """Source indices (in the unpadded axis) and float32 weights, (out_size, taps), as torch computes them."""
    in_size = size + 2 * pad
    f = np.float32
    dst = np.arange(out_size, dtype=np.float32)
    scale = f(in_size - 1) / f(out_size - 1) if out_size > 1 else f(0)
    real = (scale * dst).astype(np.float32)
    if mode == "bilinear":
        if in_size == out_size:
            idx0 = np.arange(out_size)
            idx = np.stack([idx0, idx0], axis=1)
            weights = np.tile(np.array([1, 0], dtype=np.float32), (out_size, 1))
        else:
            idx0 = np.minimum(np.floor(real).astype(np.int64), in_size - 1)
            lam1 = np.clip(real - idx0.astype(np.float32), f(0), f(1)).astype(np.float32)
            idx1 = idx0 + (idx0 < in_size - 1)
            idx = np.stack([idx0, idx1], axis=1)
            weights = np.stack([f(1) - lam1, lam1], axis=1).astype(np.float32)
    elif mode == "bicubic":
        idx0 = np.floor(real).astype(np.int64)
        weights = _cubic_coefficients((real - idx0.astype(np.float32)).astype(np.float32))
        idx = np.clip(idx0[:, None] + np.arange(-1, 3)[None, :], 0, in_size - 1)
    else:
        raise ValueError(f"mode must be 'bilinear' or 'bicubic', got {mode!r}")
    return _reflect(idx - pad, size), weights


def _float_blocks(
    idx: np.ndarray, weights: np.ndarray
) -> tuple[int, int, tuple[tuple[int, int, int, int, np.ndarray], ...]]:
    """Banded float32 (out, in) blocks from per-output taps; repeated indices add their weights."""
    first, last = int(idx.min()), int(idx.max()) + 1
    blocks = []
    for lo in range(0, idx.shape[0], _BLOCK):
        hi = min(idx.shape[0], lo + _BLOCK)
        in_lo, in_hi = int(idx[lo:hi].min()), int(idx[lo:hi].max()) + 1
        m = np.zeros((hi - lo, in_hi - in_lo), dtype=np.float32)
        rows = np.repeat(np.arange(hi - lo), idx.shape[1])
        np.add.at(m, (rows, (idx[lo:hi] - in_lo).ravel()), weights[lo:hi].ravel())
        m.setflags(write=False)
        blocks.append((lo, hi, in_lo - first, in_hi - first, m))
    return first, last, tuple(blocks)


class AlignCornersResizer:
    """ZoeDepth's resize: reflect-pad, then ``interpolate(mode, align_corners=True)`` in float32.

    in_hw: the frame's (height, width); pad_hw: rows/cols of reflect padding added on each side
    before resizing (``np.pad(mode="reflect")``); out_hw: the size after resizing the padded image.
    The padding is never materialised: it is folded into the tap indices, which are computed as
    torch's CPU kernel computes them (float32 source positions).

    __call__(image, lut) takes an (H, W, C) uint8 image and a (256,) float32 table giving each
    uint8 value's float value before resizing (ZoeDepth rescales first), and returns
    (out_h, out_w, C) float32. The sums run in BLAS, not in torch's order: results agree with
    torch to about 1e-6 of the value range (float32 rounding), not bit for bit.
    """

    def __init__(
        self, in_hw: tuple[int, int], pad_hw: tuple[int, int], out_hw: tuple[int, int], mode: str = "bilinear"
    ) -> None:
        self.in_hw = (int(in_hw[0]), int(in_hw[1]))
        self.out_hw = (int(out_hw[0]), int(out_hw[1]))
        self._y = _float_blocks(*_align_corners_taps(self.in_hw[0], int(pad_hw[0]), self.out_hw[0], mode))
        self._x = _float_blocks(*_align_corners_taps(self.in_hw[1], int(pad_hw[1]), self.out_hw[1], mode))

    def __call__(self, image: np.ndarray, lut: np.ndarray) -> np.ndarray:
        if image.ndim != 3 or image.shape[:2] != self.in_hw or image.dtype != np.uint8:
            raise ValueError(
                f"image must be uint8 with shape ({self.in_hw[0]}, {self.in_hw[1]}, C), "
                f"got {image.dtype} {image.shape}"
            )
        channels = image.shape[2]
        out_h, out_w = self.out_hw
        first_y, last_y, blocks_y = self._y
        first_x, last_x, blocks_x = self._x
        rows = np.ascontiguousarray(image[first_y:last_y])
        n_rows = rows.shape[0]
        transposed = cv2.transpose(rows).reshape(self.in_hw[1], n_rows * channels)[first_x:last_x]
        src = np.take(lut.astype(np.float32, copy=False), transposed)
        acc = np.empty((out_w, n_rows * channels), dtype=np.float32)
        for lo, hi, in_lo, in_hi, m in blocks_x:
            np.matmul(m, src[in_lo:in_hi], out=acc[lo:hi])
        src = cv2.transpose(acc.reshape(out_w, n_rows, channels)).reshape(n_rows, out_w * channels)
        out = np.empty((out_h, out_w * channels), dtype=np.float32)
        for lo, hi, in_lo, in_hi, m in blocks_y:
            np.matmul(m, src[in_lo:in_hi], out=out[lo:hi])
        return out.reshape(out_h, out_w, channels)


def resize_align_corners_fast(
    image: np.ndarray, pad_hw: tuple[int, int], out_hw: tuple[int, int], mode: str = "bilinear"
) -> np.ndarray:
    """cv2 approximation of AlignCornersResizer on uint8: warpAffine with a reflect border.

    Returns (out_h, out_w, C) uint8 (rounded once, where the exact path stays in float32; cv2 also
    snaps sample positions to 1/32 pixel).
    """
    in_h, in_w = image.shape[:2]
    pad_h, pad_w = (int(v) for v in pad_hw)
    out_h, out_w = (int(v) for v in out_hw)
    sy = (in_h + 2 * pad_h - 1) / (out_h - 1) if out_h > 1 else 0.0
    sx = (in_w + 2 * pad_w - 1) / (out_w - 1) if out_w > 1 else 0.0
    matrix = np.array([[sx, 0.0, -pad_w], [0.0, sy, -pad_h]], dtype=np.float64)
    flags = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}[mode] | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(image, matrix, (out_w, out_h), flags=flags, borderMode=cv2.BORDER_REFLECT_101)

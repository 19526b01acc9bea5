"""argmax over classes of bilinear-upsampled (C, h, w) scores at frame size, as HF computes it
(`torch.nn.functional.interpolate(..., mode="bilinear", align_corners=False).argmax(0)`), without
upsampling a single class map to frame size.

Each frame pixel is a convex combination of the 2x2 source pixels around it (its cell). Where one
class is the best at all four corners (by a margin), it wins at every pixel of the cell: those
pixels are copied from the model-resolution argmax. Only the other cells (boundaries between
classes) are interpolated, pixel by pixel, and only for the classes that can win there. Ties go to
the lower class, as torch.argmax's first maximum.

It costs a third or less of upsampling every class that wins somewhere (BENCHMARKS.md, "Measurements
behind design choices"); a trained model's smoother maps leave fewer cells open than a random one's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np


Region = tuple[float, float, float, float]  # (y0, y1, x0, x1) as fractions of the source grid


@dataclass(frozen=True)
class AxisTaps:
    """Where each output position samples along one axis: source index `first` with weight `w0`
    and index min(first + 1, last) with weight `w1` (torch's h0lambda / h1lambda), and the same
    positions grouped by `first` in chunks of at most `chunk` (a run longer than that, at a
    clamped edge, takes several chunks)."""

    first: np.ndarray  # (n_out,) intp, non-decreasing
    w0: np.ndarray  # (n_out,) float32
    w1: np.ndarray  # (n_out,) float32
    last: int  # the highest source index read: the edge is replicated beyond it
    chunk: int
    chunk_source: np.ndarray  # (k,) each chunk's source index
    chunk_w0: np.ndarray  # (k, chunk), 0 in padding
    chunk_w1: np.ndarray  # (k, chunk)
    kept: np.ndarray  # indices into the flattened (k, chunk) grid of the real positions, in order
    kept_runs: tuple[tuple[int, int], ...]  # the same as (start, stop) runs: a few slices copy faster

    def unpad(self, picture: np.ndarray, axis: int) -> np.ndarray:
        """`picture` laid out on the chunk grid along `axis`, with the padding removed."""
        if len(self.kept_runs) == 1:
            start, stop = self.kept_runs[0]
            return picture[start:stop] if axis == 0 else picture[:, start:stop]
        shape = list(picture.shape)
        shape[axis] = self.kept.size
        out = np.empty(shape, dtype=picture.dtype)
        at = 0
        for start, stop in self.kept_runs:
            if axis == 0:
                out[at : at + stop - start] = picture[start:stop]
            else:
                out[:, at : at + stop - start] = picture[:, start:stop]
            at += stop - start
        return out


@functools.lru_cache(maxsize=16)
def axis_taps(n_in: int, n_out: int, span: tuple[float, float] | None) -> AxisTaps:
    """Bilinear, align_corners=False sampling of n_in source pixels at n_out positions, as torch does
    it in float32; `span` (fractions of the source) maps the output onto part of it, replicating
    that part's edge pixels (region_resize.warp_region's rule). Cached: frames keep their size."""
    positions = np.arange(n_out, dtype=np.float32)
    if span is None:
        lo, hi = 0, n_in - 1
        scale = np.float32(n_in) / np.float32(n_out)
        coord = scale * (positions + np.float32(0.5)) - np.float32(0.5)
    else:
        start, stop = span[0] * n_in, span[1] * n_in
        lo, hi = max(0, int(np.floor(start + 1e-6))), min(n_in, int(np.ceil(stop - 1e-6))) - 1
        coord = (start + (np.arange(n_out) + 0.5) * ((stop - start) / n_out) - 0.5).astype(np.float32)
    coord = np.clip(coord, lo, hi)
    first = np.floor(coord).astype(np.intp)
    w1 = (coord - first).astype(np.float32)
    w0 = np.float32(1.0) - w1

    starts = np.flatnonzero(np.r_[True, first[1:] != first[:-1]])
    lengths = np.diff(np.r_[starts, n_out])
    chunk = -(-n_out // (hi + 1))
    pieces = -(-lengths // chunk)
    offset = (np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)) * chunk
    begin = np.repeat(starts, pieces) + offset
    grid = begin[:, None] + np.arange(chunk)
    valid = grid < np.repeat(starts + lengths, pieces)[:, None]
    safe = np.where(valid, grid, 0)
    kept = np.flatnonzero(valid)
    breaks = np.flatnonzero(np.diff(kept) != 1) + 1
    runs = tuple((int(run[0]), int(run[-1]) + 1) for run in np.split(kept, breaks))
    taps = AxisTaps(first=first, w0=w0, w1=w1, last=hi, chunk=chunk, chunk_source=np.repeat(first[starts], pieces),
                    chunk_w0=np.where(valid, w0[safe], 0), chunk_w1=np.where(valid, w1[safe], 0),
                    kept=kept, kept_runs=runs)
    for array in (taps.first, taps.w0, taps.w1, taps.chunk_source, taps.chunk_w0, taps.chunk_w1, taps.kept):
        array.flags.writeable = False  # shared by every frame of this size
    return taps


def cell_argmax(scores: np.ndarray, out_hw: tuple[int, int], region: Region | None = None) -> np.ndarray:
    """argmax over C of (C, h, w) float32 scores bilinearly upsampled to out_hw (uint8 when C <= 256,
    else int32). `region` maps out_hw onto that part of the source (see upsample.content_region)."""
    c, h, w = scores.shape
    rows = axis_taps(h, int(out_hw[0]), None if region is None else (float(region[0]), float(region[1])))
    cols = axis_taps(w, int(out_hw[1]), None if region is None else (float(region[2]), float(region[3])))
    peaks = scores.reshape(c, -1).max(axis=1)
    best, best_value, runner_up = best_two(scores, np.uint8 if c <= 256 else np.int32, peaks)
    # blocks[r, :, q, :]: the output pixels of row chunk r and column chunk q, which all sample the
    # cell (rows.chunk_source[r], cols.chunk_source[q]); first each gets that cell's best class
    grid = best[rows.chunk_source][:, cols.chunk_source]
    picture = np.repeat(np.repeat(grid, rows.chunk, axis=0), cols.chunk, axis=1)
    if c > 1:
        unsettled = _unsettled_cells(best, best_value, runner_up)
        r, q = np.nonzero(unsettled[rows.chunk_source][:, cols.chunk_source])
        if r.size:
            classes = _contenders(scores, best, unsettled, rows.last, cols.last, peaks)
            r, q, labels = _cell_labels(scores[classes], classes.astype(best.dtype), rows, cols, r, q)
            blocks = picture.reshape(grid.shape[0], rows.chunk, grid.shape[1], cols.chunk)
            blocks[r, :, q, :] = np.moveaxis(labels, 2, 0)
    return cols.unpad(rows.unpad(picture, 0), 1)


FIRST_CLASSES = 16  # best_two scans the classes with the highest peaks first, then only those that matter


def best_two(scores: np.ndarray, index_dtype=np.int32,
             peaks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per source pixel: the best class (first on ties), its score, and the best other class's score.

    With many classes, the FIRST_CLASSES with the highest peaks (`peaks`: each class's maximum) are
    scanned first. A class below their runner-up at every pixel changes neither the best nor the
    runner-up, so only the others are added (a second scan); usually none is: a model's map has a
    handful of classes in play (SegFormer on ADE20k: 150 classes, ~5-20 in a frame)."""
    c = scores.shape[0]
    if c <= FIRST_CLASSES:
        return _scan(scores, range(c), index_dtype)
    peaks = scores.reshape(c, -1).max(axis=1) if peaks is None else peaks
    first = np.sort(np.argsort(-peaks, kind="stable")[:FIRST_CLASSES])
    best, best_value, runner_up = _scan(scores, first, index_dtype)
    rest = np.setdiff1d(np.arange(c), first, assume_unique=True)
    rest = rest[peaks[rest] >= runner_up.min()]
    if rest.size:
        rest = rest[(scores[rest] >= runner_up).reshape(rest.size, -1).any(axis=1)]
    if rest.size:
        return _scan(scores, np.union1d(first, rest), index_dtype)
    return best, best_value, runner_up


def _scan(scores: np.ndarray, classes, index_dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """best_two over `classes` (ascending), as class ids."""
    classes = [int(k) for k in classes]
    h, w = scores.shape[1:]
    best = np.full((h, w), classes[0], dtype=index_dtype)
    best_value = scores[classes[0]].copy()
    runner_up = np.full((h, w), -np.inf, dtype=np.float32)
    # One thread: at model resolution each call is a few microseconds, and threads would only
    # take turns on the GIL.
    lower = np.empty_like(best_value)
    above = np.empty((h, w), dtype=np.uint8)
    for k in classes[1:]:
        plane = scores[k]
        cv2.min(plane, best_value, dst=lower)
        cv2.max(runner_up, lower, dst=runner_up)
        cv2.compare(plane, best_value, cv2.CMP_GT, dst=above)
        np.copyto(best, k, where=above.view(bool))
        cv2.max(plane, best_value, dst=best_value)
    return best, best_value, runner_up


def _forward(image: np.ndarray, op) -> np.ndarray:
    """Min or max (cv2.erode / cv2.dilate) over each pixel's forward 2x2 cell, edges replicated."""
    return op(image, np.ones((2, 2), np.uint8), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)


def _unsettled_cells(best, best_value, runner_up) -> np.ndarray:
    """Cells (by their first source pixel) whose four corners do not all have the same best class,
    each by a margin. Where they do, that class beats every other class c at all four corners, so
    it beats c everywhere in the cell: the difference of the two interpolations is the
    interpolation of the differences, a convex combination of positive numbers."""
    padded = np.pad(best, ((0, 1), (0, 1)), mode="edge")
    one_class = (padded[1:, :-1] == best) & (padded[:-1, 1:] == best) & (padded[1:, 1:] == best)
    # The margin covers float32 rounding in the two interpolations.
    clear = (best_value - runner_up > np.float32(1e-5) * (np.abs(best_value) + np.float32(1.0))).view(np.uint8)
    return ~(one_class & _forward(clear, cv2.erode).view(bool))


def _contenders(scores, best, unsettled, last_i: int, last_j: int, peaks: np.ndarray) -> np.ndarray:
    """The classes that can win somewhere in an unsettled cell, ascending: a class can win in a cell
    only if at one of its corners it reaches the cell's lower bound on the winning score (the
    minimum over the corners of its first corner's best class). `peaks`: each class's maximum."""
    i, j = np.nonzero(unsettled)
    next_i, next_j = np.minimum(i + 1, last_i), np.minimum(j + 1, last_j)
    k = best[i, j]
    lower = np.minimum(np.minimum(scores[k, i, j], scores[k, i, next_j]),
                       np.minimum(scores[k, next_i, j], scores[k, next_i, next_j]))
    none = np.float32(3e38)  # no unsettled cell: no bound (finite, so that the margin stays a number)
    bound = np.full(best.shape, none, dtype=np.float32)
    bound[i, j] = lower
    # A source pixel is a corner of the cells starting at it, above it, left of it and above-left.
    bound = cv2.erode(bound, np.ones((2, 2), np.uint8), anchor=(1, 1), borderType=cv2.BORDER_REPLICATE)
    pixels = np.flatnonzero(bound < none)
    bound = bound.reshape(-1)[pixels]
    bound -= np.float32(1e-5) * (np.abs(bound) + np.float32(1.0))
    c = scores.shape[0]
    maybe = np.flatnonzero(peaks >= bound.min())  # a class below every bound cannot win anywhere
    reach = np.take(scores.reshape(c, -1)[maybe], pixels, axis=1) >= bound
    return maybe[reach.any(axis=1)]


def _cell_labels(scores, ids, rows: AxisTaps, cols: AxisTaps, r: np.ndarray, q: np.ndarray):
    """The exact argmax at every output pixel of the open blocks (row chunk r[n], column chunk q[n]),
    as ids[class index into `scores`]: (r, q, labels) with the blocks reordered, labels[:, :, m]
    the (rows.chunk, cols.chunk) pixels of block m."""
    c, h, w = scores.shape
    open_i, open_j = rows.chunk_source[r], cols.chunk_source[q]
    next_i = np.minimum(open_i + 1, rows.last)
    next_j = np.minimum(open_j + 1, cols.last)
    corners = np.stack([open_i * w + open_j, open_i * w + next_j, next_i * w + open_j, next_i * w + next_j])
    values = np.take(scores.reshape(c, h * w), corners.ravel(), axis=1).reshape(c, 4, -1)  # (C, corner, cell)
    # A class can win in a cell only if it is not below one reference class at all four corners (by
    # the margin that covers float32 rounding): the class with the best minimum over the corners.
    cell = np.arange(values.shape[2])
    reference = values[values.min(axis=1).argmax(axis=0), :, cell].T  # (corner, cell)
    alive = (values >= reference - np.float32(1e-5) * (np.abs(reference) + np.float32(1.0))).any(axis=1)
    per_cell = alive.sum(axis=0)
    # Cells with more candidates first, so that the cells with a k-th candidate are a prefix.
    order = np.argsort(-per_cell, kind="stable")
    per_cell = per_cell[order]
    candidates = np.nonzero(alive[:, order].T)[1]  # by cell, then class ascending: a tie keeps the lower
    first_slot = np.cumsum(per_cell) - per_cell
    with_at_least = np.bincount(per_cell)[::-1].cumsum()[::-1]  # [k]: the cells with k candidates or more
    # The cells along the last axis, so that numpy's inner loops run over them (not over 6 or 10).
    r, q = r[order], q[order]
    wy0, wy1 = (np.ascontiguousarray(weight[r].T)[:, None, :] for weight in (rows.chunk_w0, rows.chunk_w1))
    wx0, wx1 = (np.ascontiguousarray(weight[q].T)[None, :, :] for weight in (cols.chunk_w0, cols.chunk_w1))
    shape = (wy0.shape[0], wx0.shape[1], order.size)
    best_value, value, lower = (np.empty(shape, np.float32) for _ in range(3))
    labels, change = np.empty(shape, ids.dtype), np.empty(shape, ids.dtype)
    above = np.empty(shape, np.bool_)
    depth = int(per_cell[0])
    for k in range(depth):
        n = int(with_at_least[k + 1])
        slot = candidates[first_slot[:n] + k]
        c00, c01, c10, c11 = (values[slot, corner, order[:n]] for corner in range(4))
        # the order of torch's scalar loop (its vector loops fuse multiply-adds: 1-ulp ties may differ)
        top = wx0[..., :n] * c00 + wx1[..., :n] * c01
        bottom = wx0[..., :n] * c10 + wx1[..., :n] * c11
        target = best_value[..., :n] if k == 0 else value[..., :n]
        np.multiply(wy0[..., :n], top, out=target)
        np.multiply(wy1[..., :n], bottom, out=lower[..., :n])
        np.add(target, lower[..., :n], out=target)
        if k == 0:
            labels[...] = ids[slot]
            continue
        # labels += above * (id - labels): integer arithmetic, far faster than a masked copy
        np.greater(target, best_value[..., :n], out=above[..., :n])  # strictly: the lower class keeps a tie
        np.subtract(ids[slot], labels[..., :n], out=change[..., :n])
        np.multiply(change[..., :n], above[..., :n].view(np.uint8), out=change[..., :n])
        np.add(labels[..., :n], change[..., :n], out=labels[..., :n])
        if k + 1 < depth:
            np.maximum(target, best_value[..., :n], out=best_value[..., :n])
    return r, q, labels

"""Depth that does not flicker: temporal alignment (and smoothing) of depth values on video.

A relative-depth model (DPT, MiDaS, Depth Anything) predicts each frame only up to an unknown
scale and shift, so its values jump between frames even when the scene is still. DepthStabilizer
sits between the model and everything downstream (API packets, --results, --arrays, point clouds,
overlays) and, per mode:

- "align" (relative depth): fits a scale s and shift b so that s * depth + b matches the previous
  output (the running reference) on a subsampled grid: least squares, refitted without the 20 %
  largest residuals (moving objects, occlusions), the fit Video-Depth-Anything's
  compute_scale_and_shift makes between windows. Metric depth is never rescaled (s = 1, b = 0).
- "smooth": align, then an exponential moving average over time whose weight is motion-aware:
  where the aligned value moved by more than MOTION_THRESHOLD of the mean depth (per 8x8 block)
  the new value is taken as is, so moving objects do not lag; elsewhere the new frame weighs
  SMOOTHING. Metric depth is smoothed the same way, never rescaled.
- "off": the model's values.

A scene cut (the picture changes at once, or the fit breaks down) resets the reference: the cut frame
comes out as the model gave it. Each stabilized result carries its (scale, shift) and whether it
reset (DepthResult.stabilization); --results writes them.

It runs in the stream's own thread, once per new depth result; its cost per frame: BENCHMARKS.md,
"Depth stabilization".

FlickerMeter measures what the stabilizer removes: the mean absolute temporal difference of depth over
pixels that did not move (per the picture), divided by the mean depth.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from ...errors import UsageError
from ...types import DepthKind, DepthResult, DepthStabilization, ValueEnum

GRID_STEP = 8  # the fit and the motion test use every 8th pixel in each direction (14,400 at 1280x720)
TRIM = 0.2  # share of the largest residuals left out of the second fit
SMOOTHING = 0.3  # weight of the new frame on still pixels ("smooth")
MOTION_THRESHOLD = 0.08  # a block whose aligned depth moved by more than this share of the mean takes it as is
CUT_PICTURE_LEVELS = 40.0  # mean absolute change of the (subsampled, grey) picture that makes a scene cut
CUT_RESIDUAL = 0.3  # a fit whose median residual exceeds this share of the mean depth is a scene cut
# ... and so is one whose samples correlate less than this: unrelated maps (a cut, a whip pan) would
# otherwise give a slope near 0 (least squares' regression dilution) and flatten the output.
MIN_CORRELATION = 0.6
STILL_PICTURE_LEVELS = 3.0  # FlickerMeter: a pixel whose grey level moved less than this did not move


class StabilizeMode(ValueEnum):
    OFF = "off"
    ALIGN = "align"
    SMOOTH = "smooth"


#: "auto": what each pacing gets (see README): live views smooth, files align (values stay per frame),
#: a single image nothing.
AUTO_BY_PACING = {"live": StabilizeMode.SMOOTH, "simulate-live": StabilizeMode.SMOOTH, "every": StabilizeMode.ALIGN}
STABILIZE_CHOICES = ("auto", *(m.value for m in StabilizeMode))


def resolve_mode(choice: str, pacing: str, frame_count: int | None) -> StabilizeMode:
    """The mode for `choice` ("auto", "off", "align", "smooth") on a source with this pacing."""
    if choice not in STABILIZE_CHOICES:
        raise UsageError(f"depth stabilization must be one of {', '.join(STABILIZE_CHOICES)}, got {choice!r}")
    if choice != "auto":
        return StabilizeMode(choice)
    if frame_count == 1:
        return StabilizeMode.OFF
    return AUTO_BY_PACING.get(str(pacing), StabilizeMode.ALIGN)


def _grey_grid(image: np.ndarray | None) -> np.ndarray | None:
    """The picture subsampled on the grid, float32: its green channel (close enough to grey to see a
    cut or a still pixel, and one strided read instead of three)."""
    if image is None:
        return None
    image = np.asarray(image)
    grid = image[::GRID_STEP, ::GRID_STEP, 1] if image.ndim == 3 else image[::GRID_STEP, ::GRID_STEP]
    return grid.astype(np.float32)


def fit_scale_shift(depth: np.ndarray, reference: np.ndarray,
                    trim: float = TRIM) -> tuple[float, float, float, float]:
    """(s, b, relative residual, correlation): least squares s * depth + b ~ reference over the finite
    samples, refitted without the `trim` share of largest residuals; the residual is the median absolute
    one over the mean |reference|, the correlation that of the kept samples. Degenerate inputs give
    (1, 0, inf, 0)."""
    d = np.asarray(depth, np.float64).ravel()
    r = np.asarray(reference, np.float64).ravel()
    finite = np.isfinite(d) & np.isfinite(r)
    d, r = d[finite], r[finite]
    if d.size < 16:
        return 1.0, 0.0, float("inf"), 0.0
    scale = float(np.mean(np.abs(r))) or 1.0
    s, b = 1.0, 0.0
    for round_ in range(2):
        d_mean, r_mean = d.mean(), r.mean()
        d_centred, r_centred = d - d_mean, r - r_mean
        variance, r_variance = float(d_centred @ d_centred), float(r_centred @ r_centred)
        if variance <= 1e-12 * d.size * max(1.0, d_mean * d_mean):
            return 1.0, 0.0, float("inf"), 0.0
        covariance = float(d_centred @ r_centred)
        s = covariance / variance
        b = float(r_mean - s * d_mean)
        correlation = covariance / np.sqrt(variance * r_variance) if r_variance > 0 else 0.0
        residual = np.abs(s * d + b - r)
        if round_ == 0:
            cut = int((1.0 - trim) * (residual.size - 1))
            keep = residual <= np.partition(residual, cut)[cut]
            d, r = d[keep], r[keep]
    return s, b, float(np.partition(residual, residual.size // 2)[residual.size // 2]) / scale, float(correlation)


class DepthStabilizer:
    """Stabilizes the depth results of one stream, in order: `stabilizer(result, image)`.

    image: the frame the result was computed on (for scene cuts; None: cuts from the fit only).
    Use one per stream; reset() forgets the reference (a new source)."""

    def __init__(self, mode: StabilizeMode | str = StabilizeMode.SMOOTH):
        self.mode = StabilizeMode(mode)
        self.reset()

    def reset(self) -> None:
        self._previous: np.ndarray | None = None  # the last output (full size; "smooth" blends into it)
        self._previous_grid: np.ndarray | None = None
        self._picture: np.ndarray | None = None

    def __call__(self, result: DepthResult, image: np.ndarray | None = None) -> DepthResult:
        if self.mode is StabilizeMode.OFF:
            return result
        depth = np.asarray(result.depth, dtype=np.float32)
        picture = _grey_grid(image)
        cut = self._previous is None or self._previous.shape != depth.shape or self._picture_cut(picture)
        self._picture = picture
        s, b = 1.0, 0.0
        if not cut and result.kind is DepthKind.RELATIVE:
            s, b, residual, correlation = fit_scale_shift(depth[::GRID_STEP, ::GRID_STEP], self._previous_grid)
            cut = not (s > 0 and residual <= CUT_RESIDUAL and correlation >= MIN_CORRELATION)
            if cut:
                s, b = 1.0, 0.0
        # Never written to in place: the model's own array can be the output and the reference.
        out = depth if (s, b) == (1.0, 0.0) else cv2.addWeighted(depth, s, depth, 0.0, b)  # s * depth + b
        if self.mode is StabilizeMode.SMOOTH and not cut:
            out = self._smooth(out)
        self._previous = out
        self._previous_grid = np.ascontiguousarray(out[::GRID_STEP, ::GRID_STEP])
        info = DepthStabilization(mode=self.mode.value, scale=s, shift=b, reset=cut)
        return replace(result, depth=out, stabilization=info)

    def _picture_cut(self, picture: np.ndarray | None) -> bool:
        if picture is None or self._picture is None or picture.shape != self._picture.shape:
            return False
        return float(np.mean(np.abs(picture - self._picture))) > CUT_PICTURE_LEVELS

    def _smooth(self, aligned: np.ndarray) -> np.ndarray:
        """The moving average of `aligned` into the previous output; blocks that moved take `aligned`."""
        previous = self._previous
        grid = aligned[::GRID_STEP, ::GRID_STEP]
        level = float(np.mean(np.abs(self._previous_grid[np.isfinite(self._previous_grid)]))) or 1.0
        with np.errstate(invalid="ignore"):
            moved = ~(np.abs(grid - self._previous_grid) <= MOTION_THRESHOLD * level)  # NaN counts as moved
        blended = cv2.addWeighted(previous, 1.0 - SMOOTHING, aligned, SMOOTHING, 0.0)
        if moved.any():
            blocks = cv2.dilate(moved.view(np.uint8), np.ones((3, 3), np.uint8))  # block edges move too
            size = (blocks.shape[1] * GRID_STEP, blocks.shape[0] * GRID_STEP)
            mask = cv2.resize(blocks, size, interpolation=cv2.INTER_NEAREST)[: aligned.shape[0], : aligned.shape[1]]
            cv2.copyTo(aligned, np.ascontiguousarray(mask), blended)
        return blended


class FlickerMeter:
    """Depth flicker over a stream: per new result, the mean absolute change of depth since the previous
    result over the pixels whose picture did not change, divided by the mean depth (on the grid)."""

    def __init__(self):
        self._last: tuple[np.ndarray, np.ndarray] | None = None
        self.values: list[float] = []

    def add(self, depth: np.ndarray, image: np.ndarray | None) -> None:
        picture = _grey_grid(image)
        grid = np.asarray(depth, np.float32)[::GRID_STEP, ::GRID_STEP]
        last, self._last = self._last, (grid, picture)
        if last is None or picture is None or last[1] is None or last[0].shape != grid.shape:
            return
        still = (np.abs(picture - last[1]) < STILL_PICTURE_LEVELS) & np.isfinite(grid) & np.isfinite(last[0])
        level = float(np.mean(np.abs(grid[np.isfinite(grid)]))) if np.isfinite(grid).any() else 0.0
        if still.sum() < 16 or level <= 0:
            return
        self.values.append(float(np.mean(np.abs(grid[still] - last[0][still]))) / level)

    def summary(self) -> dict | None:
        """{"mean", "p95", "frames"} of the flicker figures, or None before two comparable results."""
        if not self.values:
            return None
        values = np.asarray(self.values)
        return {"mean": round(float(values.mean()), 5), "p95": round(float(np.percentile(values, 95)), 5),
                "frames": len(self.values)}


class StabilizeStep:
    """The depth task's step in a Stream (tasks.base.TaskDefinition.stream_step): each new depth result
    stabilized over time, once (the live modes show one result with several frames), in order; `flicker`
    measures what leaves. `mode`: the stream's depth_stabilize choice resolved for its pacing and source."""

    def __init__(self, stream):
        self.mode = resolve_mode(stream.depth_stabilize, stream.pacing.value, stream.source.info.frame_count)
        self.stabilizer = DepthStabilizer(self.mode)
        self.flicker = FlickerMeter()
        self._last = None  # the last output, stabilized

    def __call__(self, output):
        if self._last is not None and self._last.frame_index == output.frame_index:
            return self._last
        if isinstance(output.result, DepthResult):  # a model handed to Stream may return anything
            result = self.stabilizer(output.result, output.image)
            self.flicker.add(result.depth, output.image)
            output = replace(output, result=result)
        self._last = output
        return output

    def stats(self) -> dict:
        """What a run's stats file says about it."""
        return {"depth_stabilize": self.mode.value, "depth_flicker": self.flicker.summary()}

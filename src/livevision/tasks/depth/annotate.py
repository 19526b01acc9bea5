"""DepthAnnotator: depth maps as a colour map where near is always bright, with a colour bar.

Both kinds of map are first turned into "nearness" indices 0..255 (255 = nearest):
- RELATIVE (inverse depth, near = large): linear over a smoothed robust range (depth_range.py),
  so the colours do not flicker when the model's arbitrary scale drifts;
- METRIC (metres, near = small): linear over a FIXED range in metres (metric_range_m), so a
  given distance always has the same colour.
Then cv2.applyColorMap. The default map is INFERNO: its luminance rises monotonically from black
(far) to pale yellow (near), so nearness reads correctly in greyscale, for colour-blind viewers
and through a translucent blend; TURBO is more vivid but its luminance is not monotonic
(both ends are dark), so near and far can look alike. Any cv2.COLORMAP_* can be passed.

NaN and +-inf pixels (and values outside the range) never produce NaN colours: non-finite pixels
are drawn with the far colour, out-of-range values are clamped to the ends.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from ...types import DepthKind, DepthResult
from ...render.base import fit_map, new_canvas
from ...render.colorbar import ColorBar, build_colorbar
from ...render.depth_range import RangeSmoothing, SmoothedRange, non_degenerate
from ...render.layout import PanelLayout
from ...render.text import Font, TextStyle

logger = logging.getLogger(__name__)

DEFAULT_METRIC_RANGE_M = (0.3, 10.0)


class DepthAnnotator:
    """Draws a DepthResult over a frame.

    opacity: 1.0 shows the colour map alone; below 1 blends it over the scene.
    colormap: a cv2.COLORMAP_* id (default INFERNO, see the module docstring).
    metric_range_m: (near, far) metres mapped to the ends of the colour map for METRIC maps.
    range_smoothing: how the RELATIVE display range follows the maps (EMA of percentiles).
    The annotator keeps that range as state: use one annotator per stream, and reset() on a cut.
    A result drawn again (the same object, e.g. reused on live display frames) is not coloured
    again and does not move the range.
    """

    def __init__(
        self,
        *,
        opacity: float = 1.0,
        colormap: int = cv2.COLORMAP_INFERNO,
        metric_range_m: tuple[float, float] = DEFAULT_METRIC_RANGE_M,
        range_smoothing: RangeSmoothing = RangeSmoothing(),
        show_colorbar: bool = True,
        text_style: TextStyle = TextStyle(),
    ):
        if not 0.0 <= opacity <= 1.0:
            raise ValueError(f"opacity must be in [0, 1], got {opacity}")
        near_m, far_m = (float(v) for v in metric_range_m)
        if not (np.isfinite(near_m) and np.isfinite(far_m) and 0.0 <= near_m < far_m):
            raise ValueError(f"metric_range_m must be (near, far) with 0 <= near < far, got {metric_range_m}")
        self.opacity = float(opacity)
        self.colormap = int(colormap)
        self.metric_range_m = (near_m, far_m)
        self.show_colorbar = show_colorbar
        self.text_style = text_style
        self._relative_range = SmoothedRange(range_smoothing)
        self._last: tuple[DepthResult, tuple[int, int], np.ndarray] | None = None

    @classmethod
    def from_max_depth(cls, max_depth_m: float, *, min_depth_m: float = 0.0, **kwargs) -> "DepthAnnotator":
        """For metric models with a known ceiling (e.g. 10 m for NYU checkpoints, 80 m for KITTI)."""
        return cls(metric_range_m=(min_depth_m, max_depth_m), **kwargs)

    def reset(self) -> None:
        """Forget the smoothed relative range (scene cut, new source or new model)."""
        self._relative_range.reset()
        self._last = None

    def display_range(self, kind: DepthKind) -> tuple[float, float] | None:
        """The values currently mapped to the far and near ends: metres for METRIC
        (near_m, far_m); the smoothed (low, high) for RELATIVE, None before the first map."""
        if DepthKind(kind) is DepthKind.METRIC:
            return self.metric_range_m
        return self._relative_range.current

    def nearness(self, result: DepthResult) -> np.ndarray:
        """(H, W) uint8 nearness, 255 = nearest, 0 = farthest or not finite. Moves the RELATIVE range."""
        depth = np.asarray(result.depth, dtype=np.float32)
        if depth.ndim != 2:
            raise ValueError(f"result.depth must be 2-D (H, W), got shape {depth.shape}")
        if result.kind is DepthKind.METRIC:
            near_m, far_m = self.metric_range_m
            # nearness = (far - d) / (far - near)
            gain = -255.0 / (far_m - near_m)
            offset = 255.0 * far_m / (far_m - near_m)
        else:
            current = self._relative_range.update(depth)
            low, high = non_degenerate(*(current if current is not None else (0.0, 1.0)))
            gain = 255.0 / (high - low)
            offset = -low * gain
        # One fused pass: d * gain + offset, rounded and saturated to uint8. OpenCV saturates NaN
        # to 0, and inf * 0 (the unused second term) is NaN, so every non-finite pixel becomes 0.
        return cv2.addWeighted(depth, gain, depth, 0.0, offset, dtype=cv2.CV_8U)

    def colorize(self, result: DepthResult, image_hw: tuple[int, int]) -> np.ndarray:
        """(H, W, 3) uint8 colour map of result at image_hw, without colour bar. Cached per result."""
        if self._last is not None and self._last[0] is result and self._last[1] == tuple(image_hw):
            return self._last[2]
        index = fit_map(self.nearness(result), image_hw, "result.depth", cv2.INTER_LINEAR)
        colored = cv2.applyColorMap(index, self.colormap)
        self._last = (result, tuple(image_hw), colored)
        return colored

    def colorbar(self, kind: DepthKind, image_hw: tuple[int, int]) -> ColorBar:
        """The colour bar drawn for maps of this kind on an image of size image_hw."""
        metric = self.metric_range_m if DepthKind(kind) is DepthKind.METRIC else None
        return build_colorbar(tuple(image_hw), self.colormap, metric, self.text_style)

    def draw_layer(self, canvas: np.ndarray, result: DepthResult) -> np.ndarray:
        """The colour map blended at `opacity` into canvas, in place (canvas is returned)."""
        colored = self.colorize(result, canvas.shape[:2])
        if self.opacity >= 1.0:
            canvas[:] = colored
        elif self.opacity > 0.0:
            cv2.addWeighted(canvas, 1.0 - self.opacity, colored, self.opacity, 0.0, dst=canvas)
        return canvas

    def draw_panel(self, canvas: np.ndarray, result: DepthResult, layout: PanelLayout,
                   *, prefer_bottom: bool | None = None) -> None:
        """The colour bar at the right edge, in place: centred, or at the bottom when that place
        is taken (or prefer_bottom: a legend shares the right edge; None: when the layout expects one).
        Left out when neither is free."""
        if not self.show_colorbar:
            return
        bar = self.colorbar(result.kind, canvas.shape[:2])
        width, height = bar.sprite.size_wh
        centred = bar.top_left_xy
        bottom = (centred[0], canvas.shape[0] - height - Font.for_height(canvas.shape[0], self.text_style).padding_px)
        if prefer_bottom is None:
            prefer_bottom = "legend" in layout.coming
        places = (bottom, centred) if prefer_bottom else (centred, bottom)
        where = layout.place("colour bar", (width, height), places)
        if where is None:
            logger.debug("no room left for the depth colour bar")
            return
        bar.moved_to(where).paste(canvas)

    def annotate(self, scene: np.ndarray, result: DepthResult) -> np.ndarray:
        """A new (H, W, 3) uint8 image: the depth colour map (blended at `opacity`) and the colour bar."""
        canvas = self.draw_layer(new_canvas(scene), result)
        self.draw_panel(canvas, result, PanelLayout(canvas.shape[:2]))
        return canvas

"""What every annotator shares: the protocol, corner placement, scene checks and shape fitting."""

from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from ..types import ValueEnum

logger = logging.getLogger(__name__)


@runtime_checkable
class Annotator(Protocol):
    """Draws one kind of result onto a frame. Returns a NEW (H, W, 3) uint8 BGR image."""

    def annotate(self, scene: np.ndarray, result: Any) -> np.ndarray: ...


class Corner(ValueEnum):
    """Where a panel (legend, HUD, top-k box) sits."""

    TOP_LEFT = "top_left"
    TOP_RIGHT = "top_right"
    BOTTOM_LEFT = "bottom_left"
    BOTTOM_RIGHT = "bottom_right"


def corner_origin(
    box_wh: tuple[int, int], image_wh: tuple[int, int], corner: Corner, margin_px: int
) -> tuple[int, int]:
    """Top-left (x, y) of a box of size box_wh placed in `corner` of an image, margin_px from the edges."""
    box_w, box_h = box_wh
    image_w, image_h = image_wh
    corner = Corner(corner)
    x = margin_px if corner in (Corner.TOP_LEFT, Corner.BOTTOM_LEFT) else image_w - margin_px - box_w
    y = margin_px if corner in (Corner.TOP_LEFT, Corner.TOP_RIGHT) else image_h - margin_px - box_h
    return max(0, x), max(0, y)


def check_scene(scene: np.ndarray) -> None:
    """Raise ValueError unless scene is an (H, W, 3) uint8 BGR image."""
    if not isinstance(scene, np.ndarray) or scene.ndim != 3 or scene.shape[2] != 3:
        shape = getattr(scene, "shape", None)
        raise ValueError(f"scene must be an (H, W, 3) BGR image, got shape {shape}")
    if scene.dtype != np.uint8:
        raise ValueError(f"scene must be uint8, got {scene.dtype}")


def new_canvas(scene: np.ndarray) -> np.ndarray:
    """A checked, C-contiguous copy of scene to draw on (the caller's array is never touched)."""
    check_scene(scene)
    return np.array(scene, copy=True, order="C")


def fit_map(values: np.ndarray, hw: tuple[int, int], name: str, interpolation: int) -> np.ndarray:
    """values (h, w) resized to hw when the frame it came from differs from the scene.

    Results are made at frame size, so this is normally a no-op; it keeps a display that was
    rescaled by the caller working. Use cv2.INTER_NEAREST for label maps.
    """
    if values.ndim != 2:
        raise ValueError(f"{name} must be 2-D (H, W), got shape {values.shape}")
    if values.shape == tuple(hw):
        return values
    logger.debug("resizing %s from %s to %s to match the scene", name, values.shape, tuple(hw))
    return cv2.resize(values, (hw[1], hw[0]), interpolation=interpolation)

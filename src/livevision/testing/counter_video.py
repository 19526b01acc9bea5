"""A synthetic camera whose frames carry their own index, for measuring a video round trip.

Each frame is a textured scene (so a model has something to see) with the frame index drawn as a
code in a band left of the centre, away from livevision's panels (HUD bottom-left, top-k panel and
legend in the corners, depth colour bar at the right edge, grid titles at the top). The code is 24
columns of two cells: a column is one bit, its top cell bright and bottom cell dark for a 1, the
other way round for a 0 (Manchester coding). A reader compares the two cells of a column with each
other, never with a fixed level, so a colour blended over the frame (a segmentation mask at alpha
0.5: the palette's luma spans 60..225) or a codec's shift of brightness does not flip a bit. A view
that replaces the picture (depth alone, at opacity 1) leaves no code to read.

Columns: 1 0 | 12 index bits, most significant first | CRC-8 of the index | 1 0. Mirrored, the
code would start 0 1, and upside down every bit flips: either reads as no code, never as another
index; the CRC rejects a misread bit. The code is found by its place relative to the frame, so a
frame scaled or re-encoded (same aspect ratio) still reads; a frame cropped to another one does not.

`write_y4m` writes the frames as the Y4M file Chromium's fake camera plays
(--use-file-for-fake-video-capture); `COUNTER_JS` reads the code in a page (counter_video_js).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .counter_video_js import FRAME_PROBE_JS, counter_reader_js

INDEX_BITS = 12
MAX_COUNT = 1 << INDEX_BITS  # indices 0..4095
CRC_BITS = 8
CRC_POLY, CRC_XOR = 0x07, 0x5A  # CRC-8's polynomial; the xor makes an all-zero code invalid
START_BITS, END_BITS = (1, 0), (1, 0)  # a mirrored code starts 0 1: no code
COLUMNS = len(START_BITS) + INDEX_BITS + CRC_BITS + len(END_BITS)
# Where the code lies, as fractions of the frame's width and height: two rows of cells.
CODE_X0, CODE_X1 = 0.1, 0.64  # left of centre: a legend (top right) can reach down to the middle
CODE_Y0, CODE_Y1 = 0.45, 0.55
QUIET_MARGIN = 0.02  # a plain grey frame around the code, as a fraction of the frame
# Reading: the code's region is resized to COLUMNS x 2 cells of SAMPLE_CELL_PX, and the middle
# SAMPLE_INNER_PX of each cell (away from edges that scaling and codecs blur) is averaged.
SAMPLE_CELL_PX = 8
SAMPLE_INNER_PX = 4
MIN_CONTRAST = 24  # luma levels between a column's two cells, below which the column is no bit
BRIGHT, DARK, QUIET_GREY = 255, 0, 128


def _crc8(value: int) -> int:
    """The CRC-8 of the INDEX_BITS bits of value, most significant first."""
    crc = 0
    for shift in range(INDEX_BITS - 1, -1, -1):
        top = ((crc >> 7) & 1) ^ ((value >> shift) & 1)
        crc = (crc << 1) & 0xFF
        if top:
            crc ^= CRC_POLY
    return crc ^ CRC_XOR


def code_bits(index: int) -> list[int]:
    """The COLUMNS bits drawn for index: fixed start, the index, its CRC, fixed end."""
    if not 0 <= index < MAX_COUNT:
        raise ValueError(f"a counter index must be in 0..{MAX_COUNT - 1}, got {index}")
    data = [(index >> s) & 1 for s in range(INDEX_BITS - 1, -1, -1)]
    crc = _crc8(index)
    return [*START_BITS, *data, *[(crc >> s) & 1 for s in range(CRC_BITS - 1, -1, -1)], *END_BITS]


def _code_box(width: int, height: int) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of the code in a width x height frame (x1, y1 exclusive)."""
    return (round(CODE_X0 * width), round(CODE_Y0 * height), round(CODE_X1 * width), round(CODE_Y1 * height))


@lru_cache(maxsize=4)
def _background(width: int, height: int) -> np.ndarray:
    """The still part of the scene: sky and ground gradients, a seeded texture, a house and a sun."""
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    sky, ground = np.array([215, 160, 95], np.float32), np.array([70, 135, 85], np.float32)
    scene = np.where(rows < 0.5, sky * (1.0 - 0.4 * rows), ground * (1.3 - 0.5 * rows))
    scene = np.broadcast_to(scene, (height, width, 3)).copy()
    coarse = np.random.default_rng(31).normal(0.0, 18.0, (12, 16, 3)).astype(np.float32)
    scene += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    scene = np.clip(scene, 0, 255).astype(np.uint8)
    px = lambda fx, fy: (round(fx * width), round(fy * height))  # noqa: E731
    cv2.rectangle(scene, px(0.05, 0.62), px(0.30, 0.92), (60, 80, 170), -1)  # a house's wall
    cv2.fillPoly(scene, [np.array([px(0.03, 0.62), px(0.175, 0.60), px(0.32, 0.62)])], (40, 40, 120))
    cv2.rectangle(scene, px(0.14, 0.74), px(0.21, 0.92), (30, 60, 100), -1)  # its door
    cv2.circle(scene, px(0.88, 0.14), round(0.07 * height), (40, 210, 250), -1, cv2.LINE_AA)  # the sun
    for k in range(6):  # a fence
        cv2.rectangle(scene, px(0.55 + 0.07 * k, 0.70), px(0.57 + 0.07 * k, 0.90), (200, 220, 230), -1)
    x0, y0, x1, y1 = _code_box(width, height)
    mx, my = round(QUIET_MARGIN * width), round(QUIET_MARGIN * height)
    scene[y0 - my : y1 + my, x0 - mx : x1 + mx] = QUIET_GREY
    scene.setflags(write=False)
    return scene


def _draw_code(frame: np.ndarray, bits: list[int]) -> None:
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = _code_box(width, height)
    middle = round((y0 + y1) / 2)
    edges = np.round(np.linspace(x0, x1, COLUMNS + 1)).astype(int)
    for column, bit in enumerate(bits):
        top, bottom = (BRIGHT, DARK) if bit else (DARK, BRIGHT)
        frame[y0:middle, edges[column] : edges[column + 1]] = top
        frame[middle:y1, edges[column] : edges[column + 1]] = bottom


def counter_frame(index: int, size_wh: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A BGR uint8 frame of the scene with `index` (0..4095) coded in it; a ball and a car move with
    the index (above and below the code), so consecutive frames differ as a camera's would."""
    bits = code_bits(index)
    width, height = size_wh
    if width < 64 or height < 48:
        raise ValueError(f"a counter frame needs at least 64x48 pixels, got {width}x{height}")
    frame = _background(width, height).copy()
    phase = (index % 90) / 90.0
    ball_x = round((0.1 + 0.8 * abs(2.0 * phase - 1.0)) * width)
    cv2.circle(frame, (ball_x, round(0.25 * height)), round(0.06 * height), (40, 40, 220), -1, cv2.LINE_AA)
    car_x = round((0.35 + 0.5 * phase) * width)
    car_w, car_h = round(0.12 * width), round(0.06 * height)
    cv2.rectangle(frame, (car_x, round(0.88 * height) - car_h), (car_x + car_w, round(0.88 * height)),
                  (180, 90, 30), -1)
    _draw_code(frame, bits)
    return frame


def _luma(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image.astype(np.float32)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"read_counter needs a BGR (H, W, 3) or grey (H, W) image, got shape {image.shape}")
    return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_BGR2GRAY).astype(np.float32)


def read_counter(image: np.ndarray) -> int | None:
    """The index coded in a counter frame (at any scale, re-encoded, overlaid), or None when no valid
    code is there: a column without contrast, a wrong fixed end or a CRC that does not match."""
    luma = _luma(image)
    height, width = luma.shape
    if width < 64 or height < 48:
        return None
    x0, y0, x1, y1 = _code_box(width, height)
    cell, inner = SAMPLE_CELL_PX, SAMPLE_INNER_PX
    region = cv2.resize(luma[y0:y1, x0:x1], (COLUMNS * cell, 2 * cell), interpolation=cv2.INTER_AREA)
    lo = (cell - inner) // 2
    means = region.reshape(2, cell, COLUMNS, cell)[:, lo : lo + inner, :, lo : lo + inner].mean(axis=(1, 3))
    difference = means[0] - means[1]
    if np.abs(difference).min() < MIN_CONTRAST:
        return None
    bits = [int(d > 0) for d in difference]
    return _decode(bits)


def _decode(bits: list[int]) -> int | None:
    start, end = len(START_BITS), len(bits) - len(END_BITS)
    if tuple(bits[:start]) != START_BITS or tuple(bits[end:]) != END_BITS:
        return None
    index = int("".join(map(str, bits[start : start + INDEX_BITS])), 2)
    crc = int("".join(map(str, bits[start + INDEX_BITS : end])), 2)
    return index if crc == _crc8(index) else None


def lag_frames(local: int, remote: int, count: int) -> int:
    """How many frames the returned (remote) frame is behind the camera's newest (local) one, for a
    camera looping over `count` frames; times 1000 / fps it is the round trip's latency in ms."""
    return (local - remote) % count


def write_y4m(path: str | Path, count: int, size_wh: tuple[int, int] = (640, 480), fps: int = 30) -> Path:
    """A Y4M (YUV4MPEG2, 4:2:0) file of counter frames 0..count-1, as Chromium's fake camera plays it."""
    width, height = size_wh
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"a counter video holds 1..{MAX_COUNT} frames, got {count}")
    if width % 2 or height % 2:
        raise ValueError(f"a 4:2:0 video needs an even width and height, got {width}x{height}")
    path = Path(path)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{int(fps)}:1 Ip A1:1 C420jpeg\n".encode())
        for index in range(count):
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(counter_frame(index, size_wh), cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


# The page-side reader: the same geometry and rules, so the two cannot drift apart.
COUNTER_JS = counter_reader_js(columns=COLUMNS, box=(CODE_X0, CODE_Y0, CODE_X1, CODE_Y1), cell_px=SAMPLE_CELL_PX,
                               inner_px=SAMPLE_INNER_PX, min_contrast=MIN_CONTRAST, index_bits=INDEX_BITS,
                               crc=(CRC_POLY, CRC_XOR), ends=(START_BITS, END_BITS))

__all__ = ["COUNTER_JS", "FRAME_PROBE_JS", "counter_frame", "lag_frames", "read_counter", "write_y4m"]

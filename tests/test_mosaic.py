"""The mosaic of several sources (render.mosaic) and its window (mosaic_window): solid-colour views, exact
pixel checks; the window's keys through a scripted window standing in for WindowSink."""

from __future__ import annotations

import random
import urllib.request

import cv2
import numpy as np
import pytest
from fakes import FakeSource

from livevision.errors import OptionError
from livevision.mosaic_window import MosaicWindow, ShowPacer
from livevision.render import Mosaic
from livevision.render import mosaic as mosaic_module
from livevision.render.layout import PanelLayout
from livevision.render.text import Font, TextStyle, draw_title
from livevision.sinks.web import WebViewSink
from livevision.stream_multi import MultiStream
from livevision.window_keys import KEY_ESC

COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (200, 40, 200), (40, 200, 200)]
TITLES = ["front", "back", "gate", "yard", "roof", "hall"]


def _view(wh=(160, 90), bgr=(200, 40, 40)) -> np.ndarray:
    view = np.empty((wh[1], wh[0], 3), np.uint8)
    view[:] = bgr
    return view


def _filled(count: int, wh=(160, 90), **kwargs) -> Mosaic:
    """A mosaic of `count` sources, each with a view of its own colour."""
    mosaic = Mosaic(TITLES[:count], **kwargs)
    for i in range(count):
        mosaic.update(i, _view(wh, COLOURS[i]))
    return mosaic


def _cell(image: np.ndarray, index: int, columns: int, cell_wh) -> np.ndarray:
    row, column = divmod(index, columns)
    return image[row * cell_wh[1]:(row + 1) * cell_wh[1], column * cell_wh[0]:(column + 1) * cell_wh[0]]


def _titled(tile: np.ndarray, title: str) -> np.ndarray:
    """`tile` with `title` drawn as the grid view draws its tiles' titles."""
    tile = tile.copy()
    draw_title(tile, title, PanelLayout(tile.shape[:2]))
    return tile


def _colour_box(image: np.ndarray, bgr) -> tuple[int, int, int, int]:
    """The bounding box (x0, y0, x1, y1) of the pixels of exactly `bgr`."""
    ys, xs = np.nonzero(np.all(image == bgr, axis=2))
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


@pytest.mark.parametrize("count, columns, rows", [(1, 1, 1), (2, 2, 1), (3, 2, 2), (4, 2, 2), (5, 3, 2)])
def test_each_source_lands_in_its_own_cell_in_order_titled(count, columns, rows):
    mosaic = _filled(count)
    image = mosaic.render()
    # full-size tiles (160x90): the mosaic is far below the 1920x1080 cap
    assert image.shape == (rows * 90, columns * 160, 3) and mosaic.size_wh() == (columns * 160, rows * 90)
    for i in range(count):
        assert np.array_equal(_cell(image, i, columns, (160, 90)), _titled(_view(bgr=COLOURS[i]), TITLES[i]))
    for empty in range(count, columns * rows):
        assert not _cell(image, empty, columns, (160, 90)).any()


def test_a_source_without_a_view_is_a_dark_tile_titled_waiting():
    mosaic = Mosaic(["front", "back"])
    mosaic.update(0, _view(bgr=COLOURS[0]))
    image = mosaic.render()
    waiting = _cell(image, 1, 2, (160, 90))
    assert np.array_equal(waiting, _titled(_view(bgr=mosaic_module.WAITING_BGR), "back (waiting)"))
    assert waiting.mean() < 50
    # nothing seen yet: waiting tiles, the cells dividing EMPTY_WH
    empty = Mosaic(["a", "b", "c"]).render()
    assert empty.shape == (360, 640, 3) and np.array_equal(empty[-2:, :2], np.full((2, 2, 3), 40, np.uint8))
    assert not empty[180:, 320:].any()  # the fourth cell: no source, black


def test_views_of_other_shapes_keep_their_aspect_letterboxed_in_their_cell():
    mosaic = Mosaic(["", ""])  # no titles: every pixel of the tiles is the views'
    mosaic.update(0, _view((160, 90), COLOURS[0]))
    mosaic.update(1, _view((60, 120), COLOURS[1]))  # portrait, smaller
    image = mosaic.render()
    # cells as large as the largest view seen, width and height each: 160x120
    assert image.shape == (120, 320, 3)
    assert _colour_box(image, COLOURS[0]) == (0, 15, 160, 105)  # 160x90 centred in 160x120, black above/below
    assert _colour_box(image, COLOURS[1]) == (160 + 50, 0, 160 + 110, 120)  # 60x120 centred, black at the sides
    assert not image[:15, :160].any() and not image[105:, :160].any()
    assert not image[:, 160:210].any() and not image[:, 270:].any()


def test_the_mosaic_grows_to_the_largest_view_and_refits_the_others():
    mosaic = Mosaic(["", ""])
    mosaic.update(0, _view((80, 45), COLOURS[0]))
    assert mosaic.render().shape == (45, 160, 3)
    mosaic.update(1, _view((160, 90), COLOURS[1]))
    image = mosaic.render()
    assert image.shape == (90, 320, 3)
    assert _colour_box(image, COLOURS[0]) == (0, 0, 160, 90)  # the small view scaled up to its new cell


@pytest.mark.parametrize("count, view_wh, max_wh, expected_wh, tile_wh", [
    (4, (640, 360), (1920, 1080), (1280, 720), (640, 360)),  # fits: every camera at its own size
    (4, (1920, 1080), (1920, 1080), (1920, 1080), (960, 540)),  # too large: tiles shrink together
    (5, (320, 180), (640, 360), (639, 240), (213, 120)),  # 3 x 2, cut to the cap's width
    (1, (640, 360), (320, 180), (640, 360), (640, 360)),  # never below one view
])
def test_sizes_follow_the_views_within_the_cap(count, view_wh, max_wh, expected_wh, tile_wh):
    mosaic = _filled(count, view_wh, max_wh=max_wh)
    image = mosaic.render()
    assert image.shape == (expected_wh[1], expected_wh[0], 3)
    assert mosaic.tile_wh() == tile_wh
    assert _colour_box(image, COLOURS[0]) == (0, 0, *tile_wh)  # the view fills its tile, no black edge
    assert mosaic.render(focus=count - 1).shape == (expected_wh[1], expected_wh[0], 3)  # focus: the same size


@pytest.mark.parametrize("count, cell_wh", [(1, (500, 300)), (2, (250, 300)), (3, (250, 150)), (5, (166, 150))])
def test_size_wh_fixes_the_size_whatever_the_views(count, cell_wh):
    mosaic = Mosaic(TITLES[:count], size_wh=(500, 300))
    assert mosaic.render().shape == (300, 500, 3)  # before any view
    for i in range(count):
        mosaic.update(i, _view((64 + 100 * i, 48), COLOURS[i]))
    image = mosaic.render()
    assert image.shape == (300, 500, 3) and mosaic.tile_wh() == cell_wh
    columns = mosaic.columns
    for i in range(count):
        x0, y0, x1, y1 = _colour_box(_cell(image, i, columns, cell_wh), COLOURS[i])
        assert abs((x1 - x0) / (y1 - y0) - (64 + 100 * i) / 48) < 0.1  # each view's shape kept
    assert not image[:, columns * cell_wh[0]:].any()  # what the cells leave over is black


def test_a_view_shrunk_below_half_averages_fine_detail_instead_of_aliasing():
    stripes = np.zeros((360, 640, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel columns: shrunk to 200x112, an even grey (INTER_AREA: std 22, linear: 72)
    mosaic = Mosaic([""], size_wh=(200, 112))
    mosaic.update(0, stripes)
    image = mosaic.render().astype(np.float32)
    assert image.shape == (112, 200, 3)
    assert abs(image.mean() - 127.5) < 4 and image.std() < 35


def test_focus_shows_one_source_alone_at_the_mosaic_s_size_titled():
    mosaic = _filled(3)
    focused = mosaic.render(focus=1)
    assert np.array_equal(focused, _titled(_view((320, 180), COLOURS[1]), "back"))
    assert mosaic.tile_wh(focus=1) == (320, 180)
    waiting = Mosaic(["a", "b"])
    waiting.update(0, _view())
    assert np.array_equal(waiting.render(focus=1), _titled(_view((320, 90), mosaic_module.WAITING_BGR),
                                                          "b (waiting)"))
    with pytest.raises(IndexError, match="3 sources"):
        mosaic.render(focus=3)


def test_a_note_dims_the_tile_until_the_next_update_or_cleared():
    mosaic = Mosaic(["", ""])
    for i in range(2):
        mosaic.update(i, _view((320, 180), COLOURS[i]))
    plain = mosaic.render()
    mosaic.mark(1, "reconnecting")
    marked = mosaic.render()
    assert np.array_equal(marked[:, :320], plain[:, :320])  # the other tile untouched
    tile = marked[:, 320:]
    dimmed = np.array(COLOURS[1]) // 2
    assert np.array_equal(tile[5, 5], dimmed) and np.array_equal(tile[-5, -5], dimmed)
    assert not np.array_equal(tile[90, 160], dimmed)  # the note's box in the middle
    mosaic.mark(1, None)
    assert np.array_equal(mosaic.render(), plain)
    mosaic.mark(1, "reconnecting")
    mosaic.update(1, _view((320, 180), COLOURS[1]))
    assert np.array_equal(mosaic.render(), plain)


def test_a_long_note_is_cut_to_fit_its_tile_and_a_failed_source_is_not_waiting():
    mosaic = Mosaic(["front", "back"])
    mosaic.update(0, _view((160, 90), COLOURS[0]))
    mosaic.mark(0, "failed: the camera at rtsp://192.168.1.20/stream went away for good")
    tile = mosaic.render()[:, :160]
    middle = tile[45]
    assert np.array_equal(middle[0], np.array(COLOURS[0]) // 2) and np.array_equal(middle[-1], middle[0])
    assert not np.array_equal(middle[80], middle[0])
    mosaic.mark(1, "failed: cannot open")
    failed = Mosaic(["back"])
    failed.mark(0, "failed: cannot open")
    expected = _titled(_view((160, 90), mosaic_module.WAITING_BGR), "back")  # "back", not "back (waiting)"
    mosaic_module._draw_note(expected, "failed: cannot open", Font.for_height(90), TextStyle())
    assert np.array_equal(mosaic.render()[:, 160:], expected)


def test_a_long_title_is_cut_in_its_middle_to_fit_its_tile():
    title = "/tmp/recordings/2026-12-07/front-door-camera.mp4"
    mosaic = Mosaic([title])
    mosaic.update(0, _view((160, 90), COLOURS[0]))
    tile = mosaic.render()
    title_row = tile[10]
    assert np.array_equal(title_row[0], COLOURS[0]) and np.array_equal(title_row[-1], COLOURS[0])
    assert np.array_equal(tile, _titled(_view((160, 90), COLOURS[0]), "/tmp/record...camera.mp4"))


def test_each_tile_is_drawn_once_per_update_and_images_handed_out_are_new(monkeypatch):
    mosaic = _filled(4)
    drawn = []
    real = Mosaic._draw_tile
    monkeypatch.setattr(Mosaic, "_draw_tile", lambda self, index, cell: drawn.append(index) or real(self, index, cell))
    first = mosaic.render()
    first[:] = 0  # a sink's business: never seen by the mosaic again
    again = mosaic.render()
    assert sorted(drawn) == [0, 1, 2, 3] and again.any()
    mosaic.update(2, _view(bgr=COLOURS[5]))
    mosaic.render()
    assert sorted(drawn) == [0, 1, 2, 2, 3]
    focused = mosaic.render(focus=2)
    focused[:] = 0
    assert mosaic.render(focus=2).any()


def test_bad_input_is_one_clear_error():
    with pytest.raises(OptionError, match="at least one source"):
        Mosaic([])
    with pytest.raises(OptionError, match="size_wh"):
        Mosaic(["a"], size_wh=(0, 10))
    mosaic = Mosaic(["a"])
    with pytest.raises(ValueError, match="uint8 BGR"):
        mosaic.update(0, np.zeros((10, 10), np.uint8))
    with pytest.raises(IndexError):
        mosaic.update(1, _view())


def test_a_multistream_played_into_the_mosaic_and_its_window(tmp_path):
    """The loop of the app on three fake cameras of other sizes and one source that cannot open."""
    sizes = [(64, 48), (96, 54), (48, 64)]
    missing = str(tmp_path / "missing.mp4")
    cameras = [FakeSource(6, image=_view(wh, COLOURS[i]), name=f"cam{i}") for i, wh in enumerate(sizes)]
    window = ScriptedWindow([])
    with MultiStream([missing, *cameras], {"classification": lambda image: float(image.mean())}, "every") as cams:
        mosaic, pacer = Mosaic(cams.names), ShowPacer(len(cams.names))
        for index, why in cams.faults.items():
            mosaic.mark(index, f"failed: {why}")
        keys = MosaicWindow(window, mosaic, tmp_path)
        for packet in cams:
            mosaic.update(packet.source_index, packet.image)
            if pacer.due(packet.source_index, cams.clock.now()):
                keys.show()
    image = mosaic.render()
    assert image.shape == (128, 192, 3)  # 2 x 2 cells as large as the largest views: 96 wide, 64 high
    assert np.array_equal(image[60, 5], mosaic_module.WAITING_BGR)  # the source that failed, no view
    for i, fitted_wh in enumerate([(85, 64), (96, 54), (48, 64)], start=1):  # each camera fitted to its cell
        x0, y0, x1, y1 = _colour_box(_cell(image, i, 2, (96, 64)), COLOURS[i - 1])
        assert (x1 - x0, y1 - y0) == fitted_wh
    assert window.shown and np.array_equal(window.shown[-1], keys.last_view)


# --- the window --------------------------------------------------------------------------------------


class ScriptedWindow:
    """Stands in for WindowSink: poll() hands out the scripted keys in order (-1 once they run out);
    every frame written is kept."""

    def __init__(self, keys):
        self.keys, self.shown = [ord(k) if isinstance(k, str) else k for k in keys], []

    def write_view(self, view: np.ndarray, index: int) -> None:
        self.shown.append(view.copy())

    def poll(self, wait_ms: int = 1) -> int:
        return self.keys.pop(0) if self.keys else -1


class CountingRenderer:
    def __init__(self):
        self.changes = 0

    def next_view(self):
        self.changes += 1


def test_digits_show_one_source_and_0_or_m_the_mosaic(tmp_path):
    mosaic = _filled(3)
    window = ScriptedWindow(["2", "9", "0", "3", "m", "1", -1])  # 9: no ninth source, nothing changes
    keys = MosaicWindow(window, mosaic, tmp_path)
    shown = [(keys.show(), keys.focus)[1] for _ in range(7)]
    assert shown == [1, 1, None, 2, None, 0, 0]  # the focus after each show's key
    expected = [None, 1, 1, None, 2, None, 0]  # what each show showed: the key acts from the next one on
    for frame, focus in zip(window.shown, expected):
        assert np.array_equal(frame, mosaic.render(focus))
    assert keys.last_view is not None and np.array_equal(keys.last_view, window.shown[-1])


def test_mosaic_window_keys_v_s_pause_and_quit(tmp_path):
    mosaic = _filled(2)
    renderers = [CountingRenderer(), CountingRenderer()]
    hud = lambda view: cv2.rectangle(view.copy(), (0, 0), (4, 4), (255, 255, 255), -1)  # noqa: E731
    #                         show 0  1     2    (paused: s, space)  3     4
    window = ScriptedWindow([ord("v"), "s", " ", "s", " ", "1", KEY_ESC])
    keys = MosaicWindow(window, mosaic, tmp_path, renderers=renderers, draw_hud=hud)
    assert [keys.show() for _ in range(5)] == [False, False, False, False, True]
    assert [r.changes for r in renderers] == [1, 1]
    # snapshots save what the window shows (the HUD too), named after the show
    assert sorted(p.name for p in tmp_path.iterdir()) == ["livevision_000001.png", "livevision_000002.png"]
    assert np.array_equal(cv2.imread(str(tmp_path / "livevision_000001.png")), window.shown[1])
    assert np.array_equal(cv2.imread(str(tmp_path / "livevision_000002.png")), window.shown[2])
    assert (window.shown[0][:5, :5] == 255).all()
    assert MosaicWindow(ScriptedWindow(["q"]), mosaic, tmp_path).show()


def test_the_web_view_serves_the_mosaic_as_it_changes_size():
    mosaic = Mosaic(["a", "b"])
    with WebViewSink(port=0) as web:
        mosaic.update(0, _view((160, 90), COLOURS[0]))
        for expected_hw in ((90, 320), (180, 640)):
            web.write_view(mosaic.render(), 0)
            with urllib.request.urlopen(web.url + "frame.jpg", timeout=10) as response:
                served = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR)
            assert served.shape[:2] == expected_hw
            mosaic.update(1, _view((320, 180), COLOURS[1]))


# --- the pacer ---------------------------------------------------------------------------------------


def _shows(pacer: ShowPacer, packets) -> int:
    return sum(pacer.due(source, now) for source, now in packets)


def test_four_cameras_are_shown_about_as_often_as_one():
    # four cameras at 30 fps, their frames interleaved, 10 s: 1200 packets
    packets = sorted((k / 30 + source / 120, source) for source in range(4) for k in range(300))
    shows = _shows(ShowPacer(4), [(source, now) for now, source in packets])
    assert 290 <= shows <= 400  # about once per frame period (30 a second), not 120


def test_the_fastest_source_sets_the_pace_and_its_jitter_skips_none_of_its_frames():
    rng = random.Random(0)
    fast = [(0, k / 30 + rng.uniform(-0.004, 0.004)) for k in range(300)]
    slow = [(1, k / 5 + 0.013) for k in range(50)]
    packets = sorted(fast + slow, key=lambda packet: packet[1])
    pacer = ShowPacer(2)
    shown = [(source, pacer.due(source, now)) for source, now in packets]
    shown_fast = sum(due for source, due in shown if source == 0)
    assert shown_fast >= 295  # every frame of the fast camera but a few at the start


def test_max_fps_caps_a_source_played_as_fast_as_it_decodes():
    packets = [(0, k / 300) for k in range(3000)]  # 10 s at 300 fps
    assert 450 <= _shows(ShowPacer(1, max_fps=60), packets) <= 600
    assert _shows(ShowPacer(1, max_fps=None), packets) >= 2990

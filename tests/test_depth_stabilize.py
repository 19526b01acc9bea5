"""Depth that does not flicker (livevision.tasks.depth.stabilize): synthetic sequences with a known truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import FakeSource

from livevision.tasks.depth.stabilize import DepthStabilizer, FlickerMeter, StabilizeMode, fit_scale_shift, resolve_mode
from livevision.errors import UsageError
from livevision.stream import Stream
from livevision.types import DepthKind, DepthResult, Task

H, W = 180, 320


def _scene() -> np.ndarray:
    """A fixed relative depth map (inverse depth, 1..5) with structure in both directions."""
    yy, xx = np.mgrid[:H, :W]
    return (1.0 + 3.0 * yy / H + 0.5 * np.sin(xx / 20.0)).astype(np.float32)


def _picture(depth: np.ndarray) -> np.ndarray:
    grey = np.clip(depth * 40, 0, 255).astype(np.uint8)
    return np.dstack([grey, grey, grey])


def _jittered(rng, base, noise=0.01):
    """The base map through a model's arbitrary per-frame scale and shift, plus noise."""
    scale, shift = rng.uniform(0.5, 2.0), rng.uniform(-0.5, 0.5)
    return (scale * base + shift + rng.normal(0, noise, base.shape)).astype(np.float32)


def _variation(maps) -> float:
    return float(np.mean([np.abs(b - a).mean() for a, b in zip(maps, maps[1:])]))


@pytest.mark.parametrize("mode", ["align", "smooth"])
def test_a_still_scene_through_jittering_scale_and_shift_comes_out_steady(mode):
    rng = np.random.default_rng(0)
    base = _scene()
    stabilizer = DepthStabilizer(mode)
    raw, out = [], []
    for _ in range(30):
        depth = _jittered(rng, base)
        raw.append(depth)
        out.append(stabilizer(DepthResult(depth, DepthKind.RELATIVE), _picture(base)).depth)
    ratio = _variation(out) / _variation(raw)
    assert ratio <= 0.05, f"{mode}: the stabilized variation is {ratio:.1%} of the raw"
    # The values stay in the first frame's frame of reference (its scale and shift).
    first = raw[0]
    assert np.abs(out[-1] - first).mean() < 0.05 * np.abs(first).mean()


def test_each_result_says_how_it_was_stabilized():
    rng = np.random.default_rng(1)
    base = _scene()
    stabilizer = DepthStabilizer("align")
    first = stabilizer(DepthResult(base, DepthKind.RELATIVE), _picture(base))
    assert first.stabilization.reset and first.stabilization.scale == 1.0 and first.stabilization.shift == 0.0
    second = stabilizer(DepthResult((2.0 * base + 0.5).astype(np.float32), DepthKind.RELATIVE), _picture(base))
    s = second.stabilization
    assert not s.reset and s.mode == "align"
    assert s.scale == pytest.approx(0.5, rel=1e-4) and s.shift == pytest.approx(-0.25, abs=1e-3)
    np.testing.assert_allclose(second.depth, base, rtol=1e-4, atol=1e-4)
    # A random scale and shift: the reported ones undo it, back to the first frame's values.
    scale, shift = rng.uniform(0.5, 2.0), rng.uniform(-0.5, 0.5)
    third = stabilizer(DepthResult((scale * base + shift).astype(np.float32), DepthKind.RELATIVE), _picture(base))
    s = third.stabilization
    assert not s.reset
    assert s.scale == pytest.approx(1 / scale, rel=1e-4) and s.shift == pytest.approx(-shift / scale, abs=1e-3)
    np.testing.assert_allclose(third.depth, base, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("with_picture", [True, False])
def test_a_scene_cut_is_followed_within_one_frame(with_picture):
    rng = np.random.default_rng(2)
    before = _scene()
    after = np.flipud(np.fliplr(_scene())) * 3.0 + 1.0  # another scene
    stabilizer = DepthStabilizer("smooth")
    for _ in range(10):
        stabilizer(DepthResult(_jittered(rng, before), DepthKind.RELATIVE), _picture(before) if with_picture else None)
    cut_frame = _jittered(rng, after)
    out = stabilizer(DepthResult(cut_frame, DepthKind.RELATIVE), _picture(after) if with_picture else None)
    assert out.stabilization.reset
    np.testing.assert_array_equal(out.depth, cut_frame)  # the model's values, nothing carried over
    following = _jittered(rng, after)
    out = stabilizer(DepthResult(following, DepthKind.RELATIVE), _picture(after) if with_picture else None)
    assert not out.stabilization.reset
    assert np.abs(out.depth - cut_frame).mean() < 0.02 * np.abs(cut_frame).mean()


def _other_picture() -> np.ndarray:
    """Another scene's picture: bright where _picture(_scene()) is dark, and striped."""
    yy, xx = np.mgrid[:H, :W]
    grey = (255 - 200 * yy / H - 40 * ((xx // 16) % 2)).astype(np.uint8)
    return np.dstack([grey, grey, grey])


def test_a_cut_to_a_scene_of_the_same_layout_is_found_by_the_picture():
    """Two scenes whose depth maps correlate (a similar room, another picture): the fit alone takes the
    new map for the old one, so only the picture can tell the cut, and it must reset the alignment."""
    rng = np.random.default_rng(7)
    before = _scene()
    after = (1.5 * before + 0.7).astype(np.float32)
    after[40:100, 200:260] += 1.0  # ... with a piece of furniture of its own
    assert np.mean(np.abs(_other_picture().astype(float) - _picture(before))) > 60
    for with_picture in (False, True):
        stabilizer = DepthStabilizer("align")
        picture = _picture(before) if with_picture else None
        for _ in range(5):
            stabilizer(DepthResult(_jittered(rng, before), DepthKind.RELATIVE), picture)
        cut_frame = _jittered(rng, after)
        out = stabilizer(DepthResult(cut_frame, DepthKind.RELATIVE), _other_picture() if with_picture else None)
        if not with_picture:  # the fit took it as the same scene: the test's cut is one only the picture shows
            assert not out.stabilization.reset
            continue
        assert out.stabilization.reset and (out.stabilization.scale, out.stabilization.shift) == (1.0, 0.0)
        np.testing.assert_array_equal(out.depth, cut_frame)
        following = _jittered(rng, after)  # aligned to the new scene from now on
        out = stabilizer(DepthResult(following, DepthKind.RELATIVE), _other_picture())
        assert not out.stabilization.reset
        assert np.abs(out.depth - cut_frame).mean() < 0.02 * np.abs(cut_frame).mean()


def test_smooth_takes_the_new_scene_everywhere_after_a_cut():
    """Across a cut "smooth" averages nothing, also where the new map is close to the old one (blocks that
    did not 'move' by the motion test): the cut frame is the model's, and what follows is averaged with
    the new scene only."""
    before = _scene()
    after = before.copy()
    after[: H // 2] *= 1.04  # close to the old values: within the motion threshold
    after[H // 2:] = 6.0 - after[H // 2:]  # far from them: moved
    stabilizer = DepthStabilizer("smooth")
    for _ in range(6):
        stabilizer(DepthResult(before, DepthKind.RELATIVE), _picture(before))
    out = stabilizer(DepthResult(after, DepthKind.RELATIVE), _other_picture())
    assert out.stabilization.reset
    np.testing.assert_array_equal(out.depth, after)
    for _ in range(3):
        out = stabilizer(DepthResult(after, DepthKind.RELATIVE), _other_picture())
        assert not out.stabilization.reset
        np.testing.assert_allclose(out.depth, after, rtol=1e-4, atol=1e-4)


def test_a_moving_object_is_followed_without_lag():
    """smooth averages still pixels only: a near object moving 24 px per frame is where it is, each frame."""
    rng = np.random.default_rng(3)
    base = _scene()
    stabilizer = DepthStabilizer("smooth")
    worst = 0.0
    for t in range(12):
        truth = base.copy()
        x0 = 20 + 24 * t
        truth[60:120, x0:x0 + 40] = 12.0  # near: large inverse depth
        depth = truth + rng.normal(0, 0.01, truth.shape).astype(np.float32)
        out = stabilizer(DepthResult(depth, DepthKind.RELATIVE), _picture(truth)).depth
        if t:
            inside = out[68:112, x0 + 8:x0 + 32]
            worst = max(worst, float(np.abs(inside - 12.0).max()))
    assert worst < 0.1, f"the object lags: its depth is off by up to {worst:.2f}"


@pytest.mark.parametrize("mode", ["align", "smooth"])
def test_metric_depth_is_never_rescaled(mode):
    rng = np.random.default_rng(4)
    metres = 0.5 + _scene()  # metres, far is large
    stabilizer = DepthStabilizer(mode)
    for _ in range(8):
        depth = (metres * rng.uniform(0.8, 1.25)).astype(np.float32)  # a metric model's own error
        out = stabilizer(DepthResult(depth, DepthKind.METRIC), _picture(metres))
        assert (out.stabilization.scale, out.stabilization.shift) == (1.0, 0.0)
        if mode == "align":
            np.testing.assert_array_equal(out.depth, depth)
        else:  # averaged over time, but still values the model gave: within its range, not rescaled
            assert out.depth.min() >= 0.8 * metres.min() - 1e-5 and out.depth.max() <= 1.25 * metres.max() + 1e-5


def test_fit_rejects_outliers():
    rng = np.random.default_rng(5)
    d = rng.uniform(1, 5, 5000)
    r = 1.7 * d - 0.3
    r[:500] += rng.uniform(5, 20, 500)  # 10 % moved: an object came closer
    s, b, residual, correlation = fit_scale_shift(d, r)
    assert s == pytest.approx(1.7, rel=1e-3) and b == pytest.approx(-0.3, abs=1e-2) and residual < 1e-3
    assert correlation > 0.99
    # Unrelated maps correlate weakly: the stabilizer takes that as a cut, not as a slope near 0.
    assert fit_scale_shift(d, rng.uniform(1, 5, 5000))[3] < 0.2


def test_modes_by_pacing_and_bad_choices():
    assert resolve_mode("auto", "live", None) is StabilizeMode.SMOOTH
    assert resolve_mode("auto", "simulate-live", 100) is StabilizeMode.SMOOTH
    assert resolve_mode("auto", "every", 100) is StabilizeMode.ALIGN
    assert resolve_mode("auto", "every", 1) is StabilizeMode.OFF  # a single image
    assert resolve_mode("smooth", "every", 100) is StabilizeMode.SMOOTH
    with pytest.raises(UsageError, match="depth stabilization"):
        resolve_mode("strong", "every", 10)


class JitteringDepth:
    """A 'model' (any callable works): the frame's fixed depth through a random scale and shift."""

    def __init__(self, seed=6, noise=0.0, clock=None, latency_s=0.0):
        self.rng = np.random.default_rng(seed)
        self.base = _scene()[:48, :64]
        self.noise, self.clock, self.latency_s, self.calls = noise, clock, latency_s, 0

    def __call__(self, image):
        self.calls += 1
        if self.clock is not None:
            self.clock.sleep(self.latency_s)  # the time it 'takes', on a manual clock
        return DepthResult(_jittered(self.rng, self.base, noise=self.noise), DepthKind.RELATIVE)


@pytest.mark.parametrize("choice, expected", [("off", None), ("align", "align"), ("auto", "align")])
def test_streams_stabilize_any_depth_model_and_measure_flicker(choice, expected):
    source = FakeSource(20, image=np.full((48, 64, 3), 90, np.uint8))  # a still picture
    stream = Stream(source, {Task.DEPTH: JitteringDepth()}, pacing="every",
                    depth_stabilize=choice)
    packets = list(stream)
    modes = {None if p.result.stabilization is None else p.result.stabilization.mode for p in packets}
    assert modes == {expected}
    flicker = stream.steps[Task.DEPTH].flicker.summary()
    assert flicker["frames"] == 19
    if expected is None:
        assert flicker["mean"] > 0.1  # the model's scale jumps
    else:
        assert flicker["mean"] < 1e-3


def test_a_live_stream_smooths_its_depth():
    """simulate-live (a file at its own rate, a model slower than the frames): "auto" is smooth there, each
    result is stabilized, and smoothing removes the model's noise that aligning alone keeps."""
    from livevision.engine import ManualClock

    flicker = {}
    for choice in ("auto", "align"):
        clock = ManualClock()
        model = JitteringDepth(noise=0.02, clock=clock, latency_s=0.1)  # 2.5 frames at 25 fps
        stream = Stream(FakeSource(60, fps=25, image=np.full((48, 64, 3), 90, np.uint8)), {Task.DEPTH: model},
                        pacing="simulate-live", clock=clock, threaded=False, depth_stabilize=choice)
        packets = list(stream)
        results = {id(p.result): p.result for p in packets}
        assert 2 <= len(results) == model.calls < 60  # live pacing: the frames the busy model missed are dropped
        assert stream.steps[Task.DEPTH].flicker.summary()["frames"] == model.calls - 1  # one stabilization per result
        expected = "smooth" if choice == "auto" else "align"
        assert stream.steps[Task.DEPTH].mode is StabilizeMode(expected)
        assert {r.stabilization.mode for r in results.values()} == {expected}
        assert [r.stabilization.reset for r in results.values()].count(True) == 1  # the first, only
        flicker[expected] = stream.steps[Task.DEPTH].flicker.summary()["mean"]
    assert flicker["smooth"] < 0.6 * flicker["align"], flicker


def test_flicker_counts_only_still_pixels():
    meter = FlickerMeter()
    picture = np.zeros((64, 64, 3), np.uint8)
    moved = picture.copy()
    moved[:, :32] = 200  # the left half changed in the picture
    depth = np.ones((64, 64), np.float32)
    changed = depth.copy()
    changed[:, :32] = 5.0  # ... and there the depth changed: not flicker
    meter.add(depth, picture)
    meter.add(changed, moved)
    assert meter.summary() == {"mean": 0.0, "p95": 0.0, "frames": 1}


def test_single_image_is_not_stabilized(tmp_path):
    import cv2

    path = tmp_path / "one.png"
    cv2.imwrite(str(path), np.full((48, 64, 3), 90, np.uint8))
    stream = Stream(str(path), {Task.DEPTH: JitteringDepth()})
    (packet,) = list(stream)
    assert stream.steps[Task.DEPTH].mode is StabilizeMode.OFF and packet.result.stabilization is None


def test_cli_writes_the_alignment_and_the_flicker(tiny_model, model_cache, tmp_path):
    from cli_runner import run_cli
    from media import make_source

    clip = make_source(tmp_path / "clip.mp4", 8, 25, None, size_wh=(96, 64))
    results, stats = tmp_path / "out.jsonl", tmp_path / "stats.json"
    done = run_cli("run", "--task", "depth", "--model", tiny_model("depth_anything"), "--source", clip,
                   "--no-display", "--results", results, "--stats", stats, "--cache-dir", model_cache,
                   "--precision", "fp32")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [line["depth"]["stabilization"]["mode"] for line in lines] == ["align"] * len(lines)
    assert lines[0]["depth"]["stabilization"]["reset"] and len(lines) == 8
    summary = json.loads(stats.read_text())
    assert summary["depth_stabilize"] == "align" and summary["depth_flicker"]["frames"] >= 1


def test_cli_depth_stabilize_reaches_the_stabilizer_and_changes_the_values(tiny_model, model_cache, tmp_path):
    """--depth-stabilize on the command line: "off" writes the model's own values, "smooth" its mode and
    other values from the second frame on (the first is each run's reference, the same in both)."""
    from cli_runner import run_cli
    from media import make_source

    clip = make_source(tmp_path / "clip.mp4", 6, 25, None, size_wh=(96, 64))
    runs = {}
    for choice in ("off", "smooth"):
        results = tmp_path / f"{choice}.jsonl"
        done = run_cli("run", "--task", "depth", "--model", tiny_model("depth_anything"), "--source", clip,
                       "--no-display", "--results", results, "--cache-dir", model_cache, "--precision", "fp32",
                       "--depth-stabilize", choice)
        assert done.returncode == 0, done.stderr
        runs[choice] = [json.loads(line)["depth"] for line in results.read_text().splitlines()]
    off, smooth = runs["off"], runs["smooth"]
    assert len(off) == len(smooth) == 6
    assert all("stabilization" not in d for d in off)
    assert [d["stabilization"]["mode"] for d in smooth] == ["smooth"] * 6
    values = [[(d["min"], d["median"], d["max"]) for d in run] for run in (off, smooth)]
    assert values[0][0] == values[1][0]
    assert all(a != b for a, b in zip(values[0][1:], values[1][1:]))

"""`--pre-post auto`: each stage (pre, post) measured on the host and on the device on the first frame and
placed where it is faster by a margin (livevision.placement). Timings are the test's own: the stages "take"
time on a FakeClock, so the choices are the same on any machine."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from fakes import FakeClock, TakesTime
from media import index_frame, make_source

import livevision.placement
import livevision.predictor
from livevision.engine.telemetry import Telemetry
from livevision.options import LoadOptions
from livevision.placement import (
    CLEARLY_SLOWER,
    PLACEMENT_MIN_GAIN,
    REPEATS,
    DeviceStages,
    build_device_stages,
    choose,
    time_candidates,
)
from livevision.predictor import Predictor
from livevision.types import PrePost, Task

HOST, DEVICE = PrePost.HOST, PrePost.DEVICE
MODELS = [("segformer", Task.SEGMENTATION), ("depth_anything", Task.DEPTH), ("vit", Task.CLASSIFICATION),
          ("mask2former", Task.SEGMENTATION)]


@pytest.fixture(autouse=True)
def measured_on_the_cpu(request, monkeypatch):
    """The CPU provider is the only one here, and `auto` does not measure on it (placement.HOST_PROVIDERS): these
    tests make it measure, as it does on GPU providers; those marked `cpu_default` keep the default."""
    if "cpu_default" not in request.keywords:
        monkeypatch.setattr(livevision.placement, "HOST_PROVIDERS", frozenset())


@pytest.mark.cpu_default
def test_on_the_cpu_provider_auto_keeps_both_stages_on_the_host_without_a_measurement(tiny_model, exported,
                                                                                      model_cache, tmp_path):
    """A timing-dependent choice there changed what infer() returned (numpy or OrtValues) on a busy machine."""
    from cli_runner import run_cli

    predictor = Predictor(exported("vit"), Task.CLASSIFICATION, runtime=LoadOptions(device="cpu"))
    frame = index_frame(5, 64, 48)
    outputs = predictor.infer(predictor.preprocess(frame))
    assert all(isinstance(o, np.ndarray) for o in outputs)
    assert predictor.placement.report() == {"pre": "host", "post": "host", "ms": None,
                                            "why": livevision.placement.CPU_REASON}
    clip = make_source(tmp_path / "clip.mp4", 3, Fraction(10), None, size_wh=(96, 64))
    stats = tmp_path / "stats.json"
    done = run_cli("run", "--task", "classification", "--source", clip, "--model", tiny_model("vit"),
                   "--cache-dir", model_cache, "--device", "cpu", "--stats", stats, "--no-display")
    assert done.returncode == 0, done.stderr
    assert json.loads(stats.read_text())["placement"]["classification"]["why"] == livevision.placement.CPU_REASON


def test_a_stage_leaves_its_preferred_place_only_for_a_gain():
    assert choose(0.010, 0.005, HOST) is DEVICE and choose(0.005, 0.010, DEVICE) is HOST
    within = 0.99 * PLACEMENT_MIN_GAIN  # faster, but by less than the margin: noise
    assert choose(0.010 * within, 0.010, HOST) is HOST and choose(0.010, 0.010 * within, DEVICE) is DEVICE
    beyond = 1.01 * PLACEMENT_MIN_GAIN
    assert choose(0.010 * beyond, 0.010, HOST) is DEVICE and choose(0.010, 0.010 * beyond, DEVICE) is HOST
    assert choose(0.010, None, DEVICE) is HOST  # no device graph for the stage
    # ViT's top-k on the CPU: 4.8x faster on the device, but 0.13 ms a frame: not worth a timing-dependent path
    assert choose(0.00016, 0.00003, HOST) is HOST and choose(0.0100, 0.0089, HOST) is DEVICE


def test_candidates_are_timed_by_their_median_and_a_slow_one_stops_early():
    clock = FakeClock()
    slow = iter([0.5, 0.030, 0.040, 0.020])  # a warm-up run, then 3 timed runs: the median is 30 ms

    def host_work():
        clock.tick(next(slow))

    device = TakesTime(lambda: None, clock, 0.015)
    times = time_candidates({"host": host_work, "device": device}, clock.now)
    assert times == pytest.approx({"host": 0.030, "device": 0.015})
    assert device.calls == 1 + REPEATS

    far = TakesTime(lambda: None, clock, 0.010 * CLEARLY_SLOWER * 2)
    near = TakesTime(lambda: None, clock, 0.010)
    times = time_candidates({"host": near, "device": far, "none": None}, clock.now)
    assert far.calls == 2 and near.calls == 1 + REPEATS  # the warm-up and one round: it cannot win
    assert times == pytest.approx({"host": 0.010, "device": 0.010 * CLEARLY_SLOWER * 2, "none": None})


def _timed_stages(monkeypatch, predictor: Predictor, clock: FakeClock, ms: dict) -> None:
    """`predictor`'s four stage candidates "take" ms[...] on `clock` (all four run for real)."""
    predictor.preprocessor = TakesTime(predictor.preprocessor, clock, ms["pre_host"] / 1e3)
    monkeypatch.setattr(predictor.head, "postprocess", TakesTime(predictor.head.postprocess, clock,
                                                                 ms["post_host"] / 1e3))

    def build(p):
        stages = build_device_stages(p)
        return DeviceStages(TakesTime(stages.pre, clock, ms["pre_device"] / 1e3),
                            stages.post and TakesTime(stages.post, clock, ms["post_device"] / 1e3), stages.binder)

    monkeypatch.setattr(livevision.predictor, "build_device_stages", build)


def _placed(monkeypatch, exported, name, task, pre: PrePost, post: PrePost, **runtime) -> Predictor:
    """A predictor of `name` with --pre-post auto whose measurement places pre and post as asked."""
    fast, slow = 10.0, 10.0 * PLACEMENT_MIN_GAIN * 1.5  # ms
    ms = {"pre_host": fast if pre is HOST else slow, "pre_device": fast if pre is DEVICE else slow,
          "post_host": fast if post is HOST else slow, "post_device": fast if post is DEVICE else slow}
    predictor = Predictor(exported(name), task, runtime=LoadOptions(device="cpu", **runtime))
    assert predictor.pre_post is PrePost.AUTO and predictor.placement is None
    clock = FakeClock()
    _timed_stages(monkeypatch, predictor, clock, ms)
    placement = predictor.place(index_frame(5, 64, 48), clock=clock.now)
    assert (placement.pre, placement.post) == (pre, post)
    assert placement.ms == pytest.approx(ms)
    return predictor


@pytest.mark.parametrize("pre, post", [(HOST, HOST), (HOST, DEVICE), (DEVICE, HOST), (DEVICE, DEVICE)],
                         ids=lambda p: p.value)
def test_auto_places_each_stage_where_it_measured_faster(monkeypatch, exported, pre, post):
    predictor = _placed(monkeypatch, exported, "segformer", Task.SEGMENTATION, pre, post)
    assert predictor.place(index_frame(9, 64, 48)) is predictor.placement  # chosen once
    report = predictor.placement.report()
    assert report["pre"] == pre.value and report["post"] == post.value
    assert set(report["ms"]) == {"pre_host", "pre_device", "post_host", "post_device"}


def _same_result(got, want) -> None:
    for field in ("depth", "label_map", "segment_map", "class_ids"):
        if getattr(want, field, None) is not None:
            a, b = np.asarray(getattr(got, field)), np.asarray(getattr(want, field))
            assert a.shape == b.shape
            if field == "depth":
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
            else:  # test_device_stages: argmax ties may differ on a few pixels
                assert (a == b).mean() >= (0.995 if field == "segment_map" else 0.999), field
    if getattr(want, "scores", None) is not None and getattr(want, "class_ids", None) is not None:
        np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pre, post", [(HOST, DEVICE), (DEVICE, HOST), (DEVICE, DEVICE)], ids=lambda p: p.value)
@pytest.mark.parametrize("name, task", MODELS)
def test_each_combination_gives_the_host_results(monkeypatch, exported, name, task, pre, post):
    """One frame at a time (infer) and as a batch (infer_batch), pre and post each where they were placed."""
    host = Predictor(exported(name), task, runtime=LoadOptions(device="cpu", pre_post="host"))
    predictor = _placed(monkeypatch, exported, name, task, pre, post, batch=3)
    frames = [index_frame(i, 64, 48) for i in (3, 40, 77)]
    prepared = [predictor.preprocess(f) for f in frames]
    assert all(hasattr(p, "pixel_values") is (pre is HOST) for p in prepared)
    batched = predictor.infer_batch(prepared)
    for frame, prep, outputs in zip(frames, prepared, batched):
        want = host(frame)
        _same_result(predictor.postprocess(predictor.infer(prep), prep), want)
        _same_result(predictor.postprocess(outputs, prep), want)
        _same_result(predictor(frame), want)


def test_the_telemetry_keeps_each_models_placement():
    telemetry = Telemetry(FakeClock().now)
    assert telemetry.summary()["placement"] == {}
    report = {"pre": "host", "post": "device", "ms": {"pre_host": 1.0, "pre_device": 2.0, "post_host": 3.0,
                                                      "post_device": 0.5}}
    telemetry.placed("segmentation", report)
    telemetry.placed("depth", None)  # a model that does not say where its stages run
    assert telemetry.summary()["placement"] == {"segmentation": report}


@pytest.mark.parametrize("pre_post", ["auto", "host"])
def test_the_stats_file_holds_the_placement(tiny_model, exported, model_cache, tmp_path, pre_post):
    from cli_runner import run_cli

    exported("segformer")
    clip = make_source(tmp_path / "clip.mp4", 3, Fraction(10), None, size_wh=(96, 64))
    stats = tmp_path / "stats.json"
    done = run_cli("run", "--task", "segmentation", "--source", clip, "--model", tiny_model("segformer"),
                   "--cache-dir", model_cache, "--precision", "fp32", "--device", "cpu", "--pre-post", pre_post,
                   "--stats", stats, "--no-display")
    assert done.returncode == 0, done.stderr
    placement = json.loads(stats.read_text())["placement"]["segmentation"]
    if pre_post == "host":
        assert placement == {"pre": "host", "post": "host", "ms": None}
        return
    assert placement["pre"] in ("host", "device") and placement["post"] in ("host", "device")
    assert set(placement["ms"]) == {"pre_host", "pre_device", "post_host", "post_device"}
    assert all(v > 0 for v in placement["ms"].values())
    assert "measured, ms per frame" in done.stderr  # logged once
    assert done.stderr.count("measured, ms per frame") == 1


@pytest.mark.parametrize("pacing", ["every", "simulate-live"])
def test_the_engines_place_a_model_before_they_time_its_first_frame(exported, tmp_path, pacing):
    import livevision

    predictor = Predictor(exported("segformer"), Task.SEGMENTATION, runtime=LoadOptions(device="cpu"))
    clip = make_source(tmp_path / "clip.mp4", 3, Fraction(10), None, size_wh=(96, 64))
    with livevision.Stream.open(str(clip), "segmentation", models={"segmentation": predictor},
                                pacing=pacing) as stream:
        assert sum(1 for _ in stream) == 3
        assert stream.stats.summary()["placement"] == {"segmentation": predictor.placement.report()}
    assert set(predictor.placement.ms) == {"pre_host", "pre_device", "post_host", "post_device"}


def test_pipeline_places_its_model_on_the_first_image(tiny_model, model_cache, exported):
    import livevision

    exported("vit")
    pipe = livevision.pipeline("image-classification", model=str(tiny_model("vit")), cache_dir=model_cache,
                               device="cpu")
    assert pipe.predictor.placement is None
    pipe(index_frame(1, 64, 48)[:, :, ::-1].copy())
    assert set(pipe.predictor.placement.ms) == {"pre_host", "pre_device", "post_host", "post_device"}

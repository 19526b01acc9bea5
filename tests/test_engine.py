"""Pacing, per-task rates and shutdown of the engine, with fake sources and fake models.

Deterministic: the live-pacing expectations run on a ManualClock with inline models that
'take' time by sleeping on it; threaded tests assert invariants, never durations.
"""

from __future__ import annotations

import logging
import math
import threading
import time

import numpy as np
import pytest
from fakes import FakeSource as _FakeSource
from media import index_frame

from livevision.engine import ManualClock, Pacing, RateLimiter, Telemetry
from livevision.engine.live import LiveWorker
from livevision.errors import UsageError
from livevision.stream import Stream
from livevision.types import Frame, Task

pytestmark = pytest.mark.timeout(60)


def FakeSource(count, **kwargs):
    """fakes.FakeSource with one constant 64x48 image (the engine tests' models read its mean)."""
    return _FakeSource(count, image=index_frame(0, 64, 48), **kwargs)

ENGINE_THREAD_PREFIXES = ("capture:", "infer:", "pre:", "post:", "dispatch")


class ClockModel:
    """A fake model that takes `latency_s` of the (manual) clock and returns the frame's mean."""

    def __init__(self, clock, latency_s):
        self.clock, self.latency_s, self.calls = clock, latency_s, 0

    def __call__(self, image):
        self.calls += 1
        self.clock.sleep(self.latency_s)
        return float(image.mean())


class SlowModel:
    """A fake model that sleeps for real and records how many calls overlap."""

    def __init__(self, latency_s=0.02, fail_at_call=None):
        self.latency_s, self.fail_at_call = latency_s, fail_at_call
        self.calls = 0
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def __call__(self, image):
        with self._lock:
            self.calls += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            call = self.calls
        try:
            if call == self.fail_at_call:
                raise ValueError(f"model failed on call {call}")
            time.sleep(self.latency_s)
            return call
        finally:
            with self._lock:
                self.active -= 1


class StagedModel:
    """A Predictor-like fake: preprocess / infer / postprocess, each able to fail at a frame."""

    def __init__(self, fail_stage=None, fail_at=None):
        self.fail_stage, self.fail_at = fail_stage, fail_at
        self.calls = {"preprocess": 0, "infer": 0, "postprocess": 0}  # each stage runs on its own thread

    def _count(self, stage):
        self.calls[stage] += 1
        if stage == self.fail_stage and self.calls[stage] == self.fail_at:
            raise ValueError(f"{stage} failed")

    def preprocess(self, image):
        self._count("preprocess")
        return image.astype(np.float32)

    def infer(self, prepared):
        self._count("infer")
        time.sleep(0.001)
        return prepared.mean()

    def postprocess(self, outputs, prepared):
        self._count("postprocess")
        return float(outputs)


def _engine_threads():
    return [t for t in threading.enumerate() if t.name.startswith(ENGINE_THREAD_PREFIXES) and t.is_alive()]


def _assert_threads_stop(bound_s=5.0):
    deadline = time.monotonic() + bound_s
    while _engine_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [t.name for t in _engine_threads()] == []


# ---- simulate-live: the expected frames, on a manual clock --------------------------------


@pytest.mark.parametrize("fps, latency_s", [(10.0, 0.25), (25.0, 0.1), (30.0, 0.5)])
def test_simulate_live_infers_the_newest_frame_each_time_the_model_is_free(fps, latency_s):
    clock = ManualClock()
    model = ClockModel(clock, latency_s)
    n = 60
    stream = Stream(FakeSource(n, fps=fps), {Task.DEPTH: model},
                    pacing="simulate-live", clock=clock, threaded=False)
    inferred = [p.index for p in stream if p.is_fresh(Task.DEPTH)]
    # The model starts at frame 0 and, each time it is free (every latency_s), takes the
    # frame the camera delivered last: floor(k * latency * fps).
    expected = [math.floor(k * latency_s * fps + 1e-9) for k in range(n) if k * latency_s * fps < n]
    assert inferred == expected
    summary = stream.stats.summary()
    assert summary["frames"]["dropped"] == n - len(expected)
    assert summary["frames"]["inferred"] == {"depth": len(expected)}


def test_simulate_live_with_a_fast_model_drops_nothing():
    clock = ManualClock()
    stream = Stream(FakeSource(40, fps=25), {Task.DEPTH: ClockModel(clock, 0.01)},
                    pacing="simulate-live", clock=clock, threaded=False)
    packets = list(stream)
    assert [p.index for p in packets] == list(range(40)) and all(p.is_fresh(Task.DEPTH) for p in packets)
    assert clock.now() == pytest.approx(39 / 25 + 0.01)  # played at the file's own rate


# ---- per-task rates ---------------------------------------------------------------------


def test_per_task_rates_in_simulate_live():
    clock = ManualClock()
    models = {Task.DEPTH: ClockModel(clock, 0.0), Task.CLASSIFICATION: ClockModel(clock, 0.0)}
    stream = Stream(FakeSource(90, fps=30), models, pacing="simulate-live",
                    clock=clock, threaded=False, rates={"depth": 10, "classification": 2})
    fresh = {Task.DEPTH: [], Task.CLASSIFICATION: []}
    for packet in stream:
        for task in fresh:
            if packet.is_fresh(task):
                fresh[task].append(packet.index)
    assert fresh[Task.DEPTH] == list(range(0, 90, 3))
    assert fresh[Task.CLASSIFICATION] == list(range(0, 90, 15))


def test_per_task_rates_and_max_fps_in_every_mode():
    models = {Task.DEPTH: SlowModel(0.0), Task.SEGMENTATION: SlowModel(0.0)}
    stream = Stream(FakeSource(60, fps=30), models, pacing="every",
                    max_fps=15, rates={"segmentation": 5})
    packets = list(stream)
    assert [p.index for p in packets] == list(range(60))
    assert [p.index for p in packets if p.is_fresh(Task.DEPTH)] == list(range(0, 60, 2))
    assert [p.index for p in packets if p.is_fresh(Task.SEGMENTATION)] == list(range(0, 60, 6))
    # frames in between carry the latest result
    assert packets[7].outputs[Task.SEGMENTATION].frame_index == 6


def test_max_fps_caps_a_task_rate_above_it():
    """--max-fps caps every task: a per-task rate above it does not lift the cap."""
    models = {Task.DEPTH: SlowModel(0.0), Task.SEGMENTATION: SlowModel(0.0)}
    stream = Stream(FakeSource(30, fps=30), models, pacing="every",
                    max_fps=10, rates={"segmentation": 30})
    packets = list(stream)
    assert [p.index for p in packets if p.is_fresh(Task.SEGMENTATION)] == list(range(0, 30, 3))
    assert [p.index for p in packets if p.is_fresh(Task.DEPTH)] == list(range(0, 30, 3))


def test_rate_limiter_rejects_bad_rates():
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(UsageError):
            RateLimiter(bad)
    with pytest.raises(UsageError, match="not among the tasks"):
        Stream(FakeSource(3), {Task.DEPTH: SlowModel()}, rates={"classification": 2})


# ---- live: at most one frame in flight per model ----------------------------------------


def test_live_never_has_more_than_one_frame_in_flight_per_model():
    models = {Task.DEPTH: SlowModel(0.03), Task.SEGMENTATION: SlowModel(0.05)}
    stream = Stream(FakeSource(60, fps=200, live=True, paced=True), models)
    assert stream.pacing is Pacing.LIVE
    packets = list(stream)
    assert models[Task.DEPTH].max_active == 1 and models[Task.SEGMENTATION].max_active == 1
    summary = stream.stats.summary()
    assert summary["frames"]["displayed"] == len(packets)
    for task, model in models.items():
        assert model.calls < summary["frames"]["captured"]  # the model could not keep up...
        assert summary["frames"]["inferred"][task.value] <= model.calls
    assert [p.index for p in packets] == sorted(p.index for p in packets)  # ...and order holds
    _assert_threads_stop()


def test_live_worker_refuses_a_second_frame():
    telemetry = Telemetry(time.monotonic)
    stop = threading.Event()
    gate = threading.Event()
    worker = LiveWorker(Task.DEPTH, lambda image: gate.wait(5), telemetry, ManualClock(), stop)
    assert not worker._thread.is_alive(), "the thread started before start()"
    assert worker.start() is worker
    frame = Frame(index_frame(0, 64, 48), 0, 0.0, 0.0)
    worker.submit(frame)
    with pytest.raises(RuntimeError, match="one frame at a time"):
        worker.submit(frame)
    gate.set()
    assert worker.wait_idle(5)
    assert worker.poll().frame_index == 0
    worker.close()


# ---- every: nothing dropped, order kept ---------------------------------------------------


@pytest.mark.parametrize("model_factory", [lambda: SlowModel(0.002), StagedModel])
def test_every_drops_nothing_and_keeps_order(model_factory):
    stream = Stream(FakeSource(80), {Task.DEPTH: model_factory()})
    assert stream.pacing is Pacing.EVERY
    packets = list(stream)
    assert [p.index for p in packets] == list(range(80))
    assert all(p.outputs[Task.DEPTH].frame_index == p.index for p in packets)
    assert stream.stats.summary()["frames"]["dropped"] == 0
    _assert_threads_stop()


def test_simulate_live_needs_a_file():
    with pytest.raises(UsageError, match="already live"):
        Stream(FakeSource(3, live=True), {Task.DEPTH: SlowModel()}, pacing="simulate-live")
    with pytest.raises(UsageError, match="unknown pacing"):
        Stream(FakeSource(3), {Task.DEPTH: SlowModel()}, pacing="sometimes")


# ---- shutdown: break, end of stream, errors in any stage -----------------------------------


@pytest.mark.parametrize("pacing", ["every", "live", "simulate-live"])
def test_break_stops_every_thread(pacing):
    live = pacing == "live"
    source = FakeSource(10_000, fps=500, live=live, paced=live)
    for packet in Stream(source, {Task.DEPTH: SlowModel(0.001)}, pacing=pacing):
        if packet.index >= 5:
            break
    assert source.closed.is_set()
    _assert_threads_stop()


@pytest.mark.parametrize("pacing", ["every", "live", "simulate-live"])
def test_source_error_reaches_the_caller(pacing):
    live = pacing == "live"
    source = FakeSource(50, fps=500, live=live, paced=live, fail_at=7)
    with pytest.raises(RuntimeError, match="source failed at frame 7"):
        for _ in Stream(source, {Task.DEPTH: SlowModel(0.001)}, pacing=pacing):
            pass
    _assert_threads_stop()


@pytest.mark.parametrize("pacing", ["every", "live"])
def test_model_error_reaches_the_caller(pacing):
    live = pacing == "live"
    source = FakeSource(500, fps=200, live=live, paced=live)
    with pytest.raises(ValueError, match="model failed on call 3"):
        for _ in Stream(source, {Task.DEPTH: SlowModel(0.001, fail_at_call=3)}, pacing=pacing):
            pass
    _assert_threads_stop()


@pytest.mark.parametrize("stage", ["preprocess", "infer", "postprocess"])
def test_stage_error_in_every_mode_reaches_the_caller(stage):
    with pytest.raises(ValueError, match=f"{stage} failed"):
        for _ in Stream(FakeSource(100), {Task.DEPTH: StagedModel(stage, fail_at=4)}):
            pass
    _assert_threads_stop()


def test_caller_error_stops_every_thread():
    with pytest.raises(KeyError):
        for packet in Stream(FakeSource(1000), {Task.DEPTH: StagedModel()}):
            if packet.index == 3:
                raise KeyError("caller failed")
    _assert_threads_stop()


def test_telemetry_summary_shape():
    clock = ManualClock()
    stream = Stream(FakeSource(30, fps=30), {Task.DEPTH: ClockModel(clock, 0.05)},
                    pacing="simulate-live", clock=clock, threaded=False)
    list(stream)
    summary = stream.stats.summary()
    assert set(summary) == {"capture_fps", "display_fps", "inference_fps", "latency_ms", "result_age_ms",
                            "new_result_age_ms", "frames", "placement"}
    assert summary["placement"] == {}  # a model that is not a Predictor does not say where its stages run
    # A result is at least as old as the model's latency when it is first shown.
    assert summary["new_result_age_ms"]["depth"]["p50"] >= 50.0
    assert summary["latency_ms"]["depth.inference"]["p50"] == pytest.approx(50.0)
    assert summary["inference_fps"]["depth"] == pytest.approx(20.0, rel=0.01)
    assert any(line.startswith("depth ") for line in stream.stats.hud_lines())


@pytest.mark.parametrize("pacing", ["every", "simulate-live"])
def test_streams_load_models_without_thread_spinning(pacing, monkeypatch):
    """In every mode decode, pre/post, render and encode run beside inference: spinning ORT threads would
    take their cores. Models are loaded with live=True (no spinning) whatever the pacing."""
    import livevision.predictor

    asked = []
    monkeypatch.setattr(livevision.predictor, "load_models",
                        lambda tasks, models, **kwargs: asked.append(kwargs["load"].live) or {t: (lambda image: None)
                                                                                              for t in tasks})
    Stream.open(FakeSource(3), "depth", pacing=pacing)
    assert asked == [True]


# ---- the Stream's lifecycle -----------------------------------------------------------------------


def test_a_stream_runs_once_and_a_second_iteration_is_an_error():
    s = Stream(FakeSource(5), {Task.DEPTH: lambda image: 0.0}, pacing="every")
    assert len(list(s)) == 5
    with pytest.raises(UsageError, match="runs once"):
        iter(s)


@pytest.mark.parametrize("pacing", ["every", "live"])
def test_leaving_a_with_block_ends_the_run_and_closes_the_source(pacing):
    source = FakeSource(1000, live=pacing == "live", paced=pacing == "live")
    with Stream(source, {Task.DEPTH: lambda image: 0.0}, pacing=pacing) as s:
        for packet in s:
            if packet.index >= 2:
                break
    assert source.closed.is_set()
    _assert_threads_stop()


def test_closing_a_stream_that_never_ran_closes_its_source():
    source = FakeSource(3)
    Stream(source, {Task.DEPTH: lambda image: 0.0}).close()
    assert source.closed.is_set()


def test_overlapping_streams_restore_opencv_threads_whatever_order_they_end_in():
    import cv2

    before = cv2.getNumThreads()
    assert before != 1, "this test needs OpenCV's default pool (more than one thread)"
    first = iter(Stream(FakeSource(10), {Task.DEPTH: lambda image: 0.0}, pacing="every"))
    second = iter(Stream(FakeSource(10), {Task.DEPTH: lambda image: 0.0}, pacing="every"))
    next(first)
    next(second)
    assert cv2.getNumThreads() == 1
    first.close()  # the first to start ends first
    assert cv2.getNumThreads() == 1, "a stream still running lost its single OpenCV thread"
    second.close()
    assert cv2.getNumThreads() == before


def test_stream_wires_ready_models_and_names_open_for_specs():
    source = FakeSource(3)
    with pytest.raises(UsageError, match=r"Stream\.open"):
        Stream(source, "depth")  # a task name where the models go: the message says what to call
    s = Stream(FakeSource(4), {"segmentation": lambda image: 1, "depth": lambda image: 2}, "every")
    assert s.tasks == [Task.SEGMENTATION, Task.DEPTH] and s.pacing is Pacing.EVERY
    assert [p.results for p in s][-1] == {Task.SEGMENTATION: 1, Task.DEPTH: 2}


def test_stream_open_loads_only_the_models_not_given(monkeypatch):
    import livevision.predictor

    asked = []
    monkeypatch.setattr(livevision.predictor, "load_models",
                        lambda tasks, models, **kwargs: asked.append((list(tasks), models)) or
                        {t: (lambda image: t.value) for t in tasks})
    s = Stream.open(FakeSource(2), "depth,classification", model={"classification": "my/classifier"},
                    models={"depth": lambda image: "ready"}, pacing="every")
    assert asked == [([Task.CLASSIFICATION], {Task.CLASSIFICATION: "my/classifier"})]
    assert list(s)[-1].results == {Task.DEPTH: "ready", Task.CLASSIFICATION: "classification"}


def test_stream_open_closes_its_source_when_a_model_fails_to_load(monkeypatch):
    import livevision.predictor

    def fail(*_args, **_kwargs):
        raise UsageError("no such model")

    monkeypatch.setattr(livevision.predictor, "load_models", fail)
    source = FakeSource(3)
    with pytest.raises(UsageError, match="no such model"):
        Stream.open(source, "depth")
    assert source.closed.is_set()


# ---- closing while a model is busy: never leave a thread inside it (issue 25) ------------------------


class BlockingModel:
    """A fake model whose first call returns at once and whose second blocks until `release` is set;
    `inside` is set while that call runs, `left` once it has returned."""

    def __init__(self):
        self.calls = 0
        self.inside, self.release, self.left = threading.Event(), threading.Event(), threading.Event()

    def __call__(self, image):
        self.calls += 1
        if self.calls == 2:
            self.inside.set()
            self.release.wait(30)
            self.left.set()
        return 0.0


class _OnMessage(logging.Handler):
    """Calls `action` when a log message contains `text`."""

    def __init__(self, text, action):
        super().__init__()
        self.text, self.action = text, action

    def emit(self, record):
        if self.text in record.getMessage():
            self.action()


@pytest.mark.parametrize("pacing", ["every", "live", "simulate-live"])
def test_close_returns_only_once_no_thread_is_inside_a_model(pacing, monkeypatch):
    """close() while a model's call outlasts the wait after which the engine says what it waits for: it
    still waits (the old engine gave up after 5 s and left the thread inside ONNX Runtime, which crashed
    the interpreter at exit). The model is let go only once close() said it is waiting for it."""
    monkeypatch.setattr("livevision.threads.NOTICE_AFTER_S", 0.05)
    live = pacing == "live"
    model = BlockingModel()
    handler = _OnMessage("infer:depth", model.release.set)
    logging.getLogger("livevision").addHandler(handler)
    try:
        s = Stream(FakeSource(10_000, fps=200, live=live, paced=live), {Task.DEPTH: model}, pacing=pacing)
        for _ in s:
            if model.inside.is_set():
                break
        assert model.inside.wait(10)
        s.close()
        assert model.left.is_set(), "close() returned while a thread was still inside the model"
        assert [t.name for t in _engine_threads()] == []
    finally:
        model.release.set()
        logging.getLogger("livevision").removeHandler(handler)


# A script that runs a real ONNX Runtime session which loops until its RunOptions.terminate is set (the model's
# second call), breaks out of the stream while the session runs, closes it and exits; the session is ended
# only once the engine says it waits for it. Prints "left" when the session returned, "closed" when close() did.
_EXIT_WHILE_INSIDE_ORT = """
import logging, sys, threading
import numpy as np, onnxruntime as ort
from onnx import TensorProto as T, helper as h
import livevision.threads
from livevision.stream import Stream
from livevision.types import Task
sys.path.insert(0, sys.argv[1])
from fakes import FakeSource

livevision.threads.NOTICE_AFTER_S = 0.2
body = h.make_graph(
    [h.make_node("Identity", ["c"], ["c_out"]), h.make_node("Add", ["v", "one"], ["v_out"])], "body",
    [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("c", T.BOOL, []),
     h.make_tensor_value_info("v", T.FLOAT, [1])],
    [h.make_tensor_value_info("c_out", T.BOOL, []), h.make_tensor_value_info("v_out", T.FLOAT, [1])],
    [h.make_tensor("one", T.FLOAT, [1], [1.0])])
graph = h.make_graph([h.make_node("Loop", ["M", "c0", "v0"], ["v"], body=body)], "forever",
                     [h.make_tensor_value_info("v0", T.FLOAT, [1])], [h.make_tensor_value_info("v", T.FLOAT, [1])],
                     [h.make_tensor("M", T.INT64, [], [2**62]), h.make_tensor("c0", T.BOOL, [], [True])])
session = ort.InferenceSession(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]).SerializeToString(),
                               providers=["CPUExecutionProvider"])
options, inside, calls = ort.RunOptions(), threading.Event(), []

def model(image):
    calls.append(1)
    if len(calls) != 2:  # the first frame's result comes at once (the `every` mode waits for it)
        return 0.0
    inside.set()
    try:
        session.run(None, {"v0": np.zeros(1, np.float32)}, options)
    except Exception:
        pass
    print("left", flush=True)
    return 0.0

class Terminate(logging.Handler):
    def emit(self, record):
        if "infer:depth" in record.getMessage():
            options.terminate = True

logging.getLogger("livevision").addHandler(Terminate())
s = Stream(FakeSource(1000, image=np.zeros((48, 64, 3), np.uint8)), {Task.DEPTH: model}, pacing=sys.argv[2])
for packet in s:
    if inside.wait(0.01):
        break
s.close()
print("closed", flush=True)
"""


@pytest.mark.parametrize("pacing", ["every", "simulate-live"])
def test_the_process_exits_cleanly_after_closing_a_stream_while_onnx_runtime_runs(pacing):
    import os
    import subprocess
    import sys

    tests = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run([sys.executable, "-c", _EXIT_WHILE_INSIDE_ORT, tests, pacing], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["left", "closed"], proc.stderr
    assert "terminate called" not in proc.stderr


def test_a_ctrl_c_while_waiting_for_a_thread_is_raised_only_once_it_has_ended(monkeypatch):
    """Ctrl-C (KeyboardInterrupt) during the wait for a thread inside a model does not abandon it: the wait
    goes on, says so, and the KeyboardInterrupt comes once the thread has ended."""
    import os
    import signal

    from livevision.threads import join_all

    monkeypatch.setattr("livevision.threads.NOTICE_AFTER_S", 0.05)
    release, waiting = threading.Event(), threading.Event()
    worker = threading.Thread(target=release.wait, args=(30,), name="infer:depth")
    worker.start()
    # Ctrl-C from another thread once the wait was announced; the thread is let go once the Ctrl-C was seen.
    ctrl_c = threading.Thread(target=lambda: waiting.wait(30) and os.kill(os.getpid(), signal.SIGINT))
    ctrl_c.start()
    interrupt = _OnMessage("(a model's frame) to finish", waiting.set)
    let_go = _OnMessage("cannot be cut short", release.set)
    log = logging.getLogger("livevision")
    log.addHandler(interrupt)
    log.addHandler(let_go)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            join_all([worker], "a model's frame")
        assert not worker.is_alive()
    finally:
        signal.signal(signal.SIGINT, previous)
        release.set()
        waiting.set()
        ctrl_c.join()
        log.removeHandler(interrupt)
        log.removeHandler(let_go)

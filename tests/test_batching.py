"""`every` mode keeps an accelerator busy: micro-batches of the frames already waiting, several
pre/post workers whose frames still leave in order, and Predictor.infer_batch equal to infer."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from media import index_frame

from livevision.errors import UsageError
from livevision.options import LoadOptions
from livevision.predictor import BATCH_SIZES, Predictor
from livevision.sources import FrameSource, SourceInfo
from livevision.stream import Stream
from livevision.types import Frame, Task

pytestmark = pytest.mark.timeout(120)


class FileSource(FrameSource):
    """`count` frames, frame i filled with the value i % 250."""

    def __init__(self, count: int):
        self.count = count
        self.info = SourceInfo(name="file", is_live=False, fps=25.0, frame_count=count)

    def frames(self):
        for i in range(self.count):
            yield Frame(np.full((24, 32, 3), i % 250, np.uint8), i, i / 25.0, time.monotonic())


class BatchingModel:
    """A StagedModel whose stages wait for each other (events, never sleeps), so that what the tests check
    happens on any machine, however loaded:
    - with several workers, frame 0's pre- and post-processing end only after frame 1's did: several workers
      ran, and a later frame finished first;
    - the first inference (frame 0 alone: the batch size is chosen on it) ends only once frame 4 is being
      pre-processed: with one pre-processing worker, frames 1-3 wait in the queue by then (the worker queues
      each frame before it takes the next), so the next batch holds at least 3 frames. (The engine reads at
      most 4 frames ahead of the caller, so frame 4 is the furthest this can wait for.)"""

    WAIT_S = 30  # a bound for a broken engine, not a timing

    def __init__(self, max_batch: int = 4, host_workers: int = 3):
        self.max_batch, self.host_workers = max_batch, host_workers
        self.batches: list[int] = []
        self.threads = {"pre": set(), "post": set()}
        self.timed_out: list[str] = []
        self._lock = threading.Lock()
        self._pre1_done, self._post1_done, self._pre4_started = threading.Event(), threading.Event(), threading.Event()

    def _wait(self, event: threading.Event, what: str) -> None:
        if not event.wait(self.WAIT_S):
            self.timed_out.append(what)

    def choose_batch_size(self, prepared) -> int:
        return self.max_batch

    def preprocess(self, image):
        value = int(image[0, 0, 0])
        with self._lock:
            self.threads["pre"].add(threading.current_thread().name)
        if value == 4:
            self._pre4_started.set()
        if value == 0 and self.host_workers > 1:
            self._wait(self._pre1_done, "frame 1's preprocess")
        if value == 1:
            self._pre1_done.set()
        return value

    def infer(self, prepared):
        return self.infer_batch([prepared])[0]

    def infer_batch(self, prepared: list):
        with self._lock:
            self.batches.append(len(prepared))
        if prepared == [0]:
            self._wait(self._pre4_started, "frame 4's preprocess")
        return [value * 10 for value in prepared]

    def postprocess(self, outputs, prepared):
        with self._lock:
            self.threads["post"].add(threading.current_thread().name)
        if prepared == 0 and self.host_workers > 1:
            self._wait(self._post1_done, "frame 1's postprocess")
        if prepared == 1:
            self._post1_done.set()
        return (prepared, outputs)


@pytest.mark.parametrize("host_workers", [1, 3])
def test_every_forms_batches_and_keeps_order(host_workers):
    model = BatchingModel(max_batch=4, host_workers=host_workers)
    packets = list(Stream(FileSource(60), {Task.DEPTH: model}, pacing="every"))
    assert model.timed_out == []
    assert [p.index for p in packets] == list(range(60))
    # Each frame got the result of its own frame, whatever the batch it went in.
    assert [p.result for p in packets] == [(i, 10 * i) for i in range(60)]
    assert [p.outputs[Task.DEPTH].frame_index for p in packets] == list(range(60))
    assert sum(model.batches) == 60
    assert max(model.batches) <= 4
    if host_workers == 1:  # frame 0 alone (choosing the size), then the frames that queued meanwhile
        assert model.batches[0] == 1 and model.batches[1] >= 3, model.batches
    else:
        assert len(model.threads["pre"]) > 1 and len(model.threads["post"]) > 1, model.threads


def test_a_model_error_in_a_batch_reaches_the_caller_and_stops_the_threads():
    class Failing(BatchingModel):
        def infer_batch(self, prepared):
            if any(v >= 20 for v in prepared):
                raise RuntimeError("inference failed")
            return super().infer_batch(prepared)

    seen = []
    with pytest.raises(RuntimeError, match="inference failed"):
        for packet in Stream(FileSource(60), {Task.DEPTH: Failing()}, pacing="every"):
            seen.append(packet.index)
    assert seen == list(range(len(seen))) and len(seen) <= 20
    # The error ended the iteration only once its threads had ended.
    assert [t.name for t in threading.enumerate() if t.name.startswith(("pre:", "infer:", "post:"))] == []


def test_models_without_infer_batch_run_one_frame_at_a_time():
    class OneAtATime:
        host_workers = 1

        def __init__(self):
            self.calls = 0

        def preprocess(self, image):
            return int(image[0, 0, 0])

        def infer(self, prepared):
            self.calls += 1
            return prepared + 1

        def postprocess(self, outputs, prepared):
            return outputs

    model = OneAtATime()
    packets = list(Stream(FileSource(20), {Task.DEPTH: model}, pacing="every"))
    assert [p.result for p in packets] == [i + 1 for i in range(20)] and model.calls == 20


class FakeTime:
    """The `time` module as the predictor sees it, with a perf_counter that moves only when told."""

    def __init__(self):
        self.t = 0.0

    def perf_counter(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def __getattr__(self, name):
        return getattr(time, name)


# ---- Predictor ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pre_post", ["host", "device"])
@pytest.mark.parametrize("name, task", [("segformer", Task.SEGMENTATION), ("depth_anything", Task.DEPTH),
                                        ("vit", Task.CLASSIFICATION), ("mask2former", Task.SEGMENTATION)])
def test_infer_batch_gives_each_frame_what_infer_gives_it(exported, name, task, pre_post):
    predictor = Predictor(exported(name), task, runtime=LoadOptions(device="cpu", pre_post=pre_post, batch=3))
    assert predictor.batchable and predictor.max_batch == 3
    frames = [index_frame(i, 64, 48) for i in (3, 40, 77)]
    prepared = [predictor.preprocess(f) for f in frames]
    batched = predictor.infer_batch(prepared)
    assert len(batched) == 3
    for frame, prep, outputs in zip(frames, prepared, batched):
        single = predictor.infer(prep)
        for got, want in zip(outputs, single):
            got = got if isinstance(got, np.ndarray) else got.numpy()
            want = want if isinstance(want, np.ndarray) else want.numpy()
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        result = predictor.postprocess(outputs, prep)
        expected = predictor(frame)
        for field in ("depth", "label_map", "class_ids"):
            if hasattr(expected, field):
                a, b = np.asarray(getattr(result, field)), np.asarray(getattr(expected, field))
                assert (a == b).mean() >= 0.999 if field == "label_map" else np.allclose(a, b, rtol=1e-4, atol=1e-4)


def test_batch_size_choice(exported, monkeypatch):
    cpu = Predictor(exported("vit"), Task.CLASSIFICATION, runtime=LoadOptions(device="cpu"))
    assert cpu.max_batch == 1 and cpu.choose_batch_size(None) == 1  # auto on the CPU: no measuring
    fixed = Predictor(exported("vit"), Task.CLASSIFICATION, runtime=LoadOptions(device="cpu", batch=4))
    assert fixed.choose_batch_size(None) == 4
    with pytest.raises(UsageError, match="batch"):
        LoadOptions(batch=0)

    # "auto" on an accelerator measures: it keeps a batch only when it pays per frame. The batches "take" time
    # on a clock of the test's, so the choice is the same on any machine.
    clock = FakeTime()
    monkeypatch.setattr("livevision.predictor.time", clock)
    monkeypatch.setattr(cpu, "provider", "CUDAExecutionProvider")
    assert cpu.max_batch == max(BATCH_SIZES)
    monkeypatch.setattr(cpu, "infer_batch", lambda batch: clock.advance(0.01 + 0.001 * len(batch)))
    assert cpu.choose_batch_size(None) == max(BATCH_SIZES)  # the cost per frame falls with the size
    monkeypatch.setattr(cpu, "infer_batch", lambda batch: clock.advance(0.01 * len(batch) * (1.0 if len(batch) == 1
                                                                                             else 1.3)))
    assert cpu.choose_batch_size(None) == 1


def test_every_with_a_batch_gives_the_results_of_one_frame_at_a_time(exported):
    results = {}
    for batch in (1, 3):
        predictor = Predictor(exported("segformer"), Task.SEGMENTATION,
                              runtime=LoadOptions(device="cpu", batch=batch))
        packets = list(Stream(FileSource(9), {Task.SEGMENTATION: predictor},
                              pacing="every"))
        results[batch] = [p.result.label_map for p in packets]
    assert len(results[3]) == 9
    for a, b in zip(results[1], results[3]):
        assert (a == b).mean() >= 0.999


@pytest.mark.parametrize("value, expected", [("auto", "auto"), ("4", 4), ("0", None), ("two", None)])
def test_cli_batch(monkeypatch, capsys, value, expected):
    from livevision.cli import main

    seen = {}
    monkeypatch.setattr("livevision.app.run", lambda options, **_: seen.setdefault("options", options) and 0)
    code = main(["run", "--source", "clip.mp4", "--no-display", "--task", "depth", "--batch", value])
    if expected is None:
        err = capsys.readouterr().err.strip()
        assert code == 2 and "--batch" in err and len(err.splitlines()) == 1
    else:
        assert code == 0 and seen["options"].model.load_options.batch == expected

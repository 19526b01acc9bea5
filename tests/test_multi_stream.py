"""Several sources in one stream (MultiStream), one copy of each model: the shared worker's order (fairness),
micro-batches across sources, every frame of every file in `every`, faults that stay with their source."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from fakes import FakeSource

import livevision
from livevision.engine.clock import SystemClock
from livevision.engine.shared import SharedTaskWorker, SourceTelemetry
from livevision.engine.telemetry import Telemetry
from livevision.errors import UsageError
from livevision.sources.base import SourceError
from livevision.stream_multi import MultiStream
from livevision.types import Frame, Task


def _frame(index: int, value: int = 0) -> Frame:
    return Frame(np.full((4, 4, 3), value, np.uint8), index, index / 30, time.monotonic())


def _colour(value: int):
    return np.full((24, 32, 3), value, np.uint8)


class GatedModel:
    """image -> its mean value; each call waits for the test to open the gate, and is recorded in order."""

    def __init__(self):
        self.gate = threading.Semaphore(0)
        self.seen: list[int] = []
        self.entered = threading.Semaphore(0)

    def __call__(self, image):
        self.entered.release()
        assert self.gate.acquire(timeout=10)
        self.seen.append(int(image.mean()))
        return float(image.mean())


def test_the_shared_worker_serves_the_source_waiting_longest_first():
    model = GatedModel()
    stop = threading.Event()
    worker = SharedTaskWorker(Task.CLASSIFICATION, model, SystemClock(), stop).start()
    parent = Telemetry(time.monotonic)
    for key in range(3):
        worker.register(key, SourceTelemetry(time.monotonic, parent))
    try:
        worker.submit(0, _frame(0, 10))
        assert model.entered.acquire(timeout=10)  # source 0 in flight; then 2, 1 wait, in that order
        worker.submit(2, _frame(0, 30))
        worker.submit(1, _frame(0, 20))
        with pytest.raises(RuntimeError):
            worker.submit(2, _frame(1, 31))  # one frame per source at a time: a fast camera cannot queue more
        model.gate.release()
        assert worker.wait_idle(0, 10)
        assert worker.poll(0).result == 10.0
        worker.submit(0, _frame(1, 11))  # source 0 again: behind the two that waited
        for _ in range(3):
            model.gate.release()
        for key in (2, 1, 0):
            assert worker.wait_idle(key, 10)
        assert model.seen == [10, 30, 20, 11]
        assert [worker.poll(k).result for k in (1, 2)] == [20.0, 30.0]
        counts = parent.summary()["frames"]["inferred"]["classification"]
        assert counts == 4  # every source's inferences count in the run's telemetry too
    finally:
        for _ in range(4):
            model.gate.release()
        worker.close()


class BatchingModel:
    """A staged model that batches (as a Predictor on an accelerator): results are each image's mean, and
    every infer_batch call's size is recorded. The first inference waits for the gate."""

    max_batch = 4

    def __init__(self):
        self.batches: list[int] = []
        self.gate = threading.Event()

    def preprocess(self, image):
        return image.astype(np.float32)

    def infer(self, prepared):
        self.gate.wait(10)
        self.batches.append(1)
        return prepared.mean()

    def infer_batch(self, prepared):
        self.batches.append(len(prepared))
        return [p.mean() for p in prepared]

    def postprocess(self, outputs, prepared):
        return float(outputs)


def test_frames_waiting_from_several_sources_form_one_batch_and_each_result_goes_home():
    model = BatchingModel()
    stop = threading.Event()
    worker = SharedTaskWorker(Task.CLASSIFICATION, model, SystemClock(), stop).start()
    for key in range(4):
        worker.register(key, Telemetry(time.monotonic))
    try:
        worker._batch_size = 4  # as choose_batch_size would pick on an accelerator
        worker.submit(0, _frame(0, 7))
        time.sleep(0.05)
        for key in (1, 2, 3):
            worker.submit(key, _frame(0, 10 * key))
        model.gate.set()
        for key in range(4):
            assert worker.wait_idle(key, 10)
        results = {key: worker.poll(key).result for key in range(4)}
        assert results == {0: 7.0, 1: 10.0, 2: 20.0, 3: 30.0}
        assert sum(model.batches) == 4 and max(model.batches) > 1, model.batches
    finally:
        model.gate.set()
        worker.close()


def _sources(*values, count=12, live=False, **kwargs):
    return [FakeSource(count, live=live, image=_colour(v), name=f"cam{v}", **kwargs) for v in values]


class MeanModel:
    def __init__(self, seconds: float = 0.0):
        self.seconds = seconds
        self.calls = 0
        self.threads: set[str] = set()

    def __call__(self, image):
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        time.sleep(self.seconds)
        return float(image.mean())


def test_every_frame_of_every_file_with_its_own_sources_result():
    model = MeanModel()
    with MultiStream(_sources(10, 20, 30), {"classification": model}, "every") as cams:
        packets = list(cams)
    by_source = {}
    for packet in packets:
        by_source.setdefault(packet.source_index, []).append(packet.index)
        assert packet.source_name == f"cam{10 * (packet.source_index + 1)}"
        assert packet.result == 10.0 * (packet.source_index + 1)  # never another source's result
        assert packet.is_fresh(Task.CLASSIFICATION)
    assert by_source == {i: list(range(12)) for i in range(3)}
    assert model.calls == 36 and model.threads == {"infer:classification#0"}  # one worker for all
    assert cams.names == ["cam10", "cam20", "cam30"]
    summary = cams.summary()
    assert [s["frames"]["captured"] for s in summary["sources"].values()] == [12, 12, 12]
    assert summary["models"]["frames"]["inferred"]["classification"] == 36


def test_the_merged_packets_take_the_sources_in_turn():
    order = []
    with MultiStream(_sources(10, 20, count=30), {"classification": MeanModel()}, "every") as cams:
        for packet in cams:
            order.append(packet.source_index)
            time.sleep(0.02)  # a slow consumer: both sources have packets ready at each turn
            if len(order) == 20:
                break
    assert min(order.count(0), order.count(1)) >= 7, order  # in turn, not one source while it has packets


def test_live_sources_share_the_model_fairly():
    fast = FakeSource(10_000, live=True, paced=True, fps=300, image=_colour(10), name="fast")
    slow = FakeSource(40, live=True, paced=True, fps=20, image=_colour(20), name="slow")
    with MultiStream([fast, slow], {"classification": MeanModel(seconds=0.01)}, "live") as cams:
        seen = set()
        for packet in cams:
            seen.add(packet.source_index)
            if packet.source_index == 1 and packet.index >= 30:
                break
        summary = cams.summary()["sources"]
    inferred = {name: s["frames"]["inferred"].get("classification", 0) for name, s in summary.items()}
    captured = summary["slow"]["frames"]["captured"]
    # the slow camera waits at most one inference for its turn: most of its frames are inferred however
    # fast the other camera delivers
    assert inferred["slow"] >= captured // 2, (inferred, captured)
    assert inferred["fast"] > 0 and seen == {0, 1}


class FailingSource(FakeSource):
    """Fails with a SourceError at frame `error_at` (a stream that gave up reconnecting)."""

    error_at = 3

    def frames(self):
        for frame in super().frames():
            if frame.index == self.error_at:
                raise SourceError(f"{self.info.name}: gave up reconnecting")
            yield frame


@pytest.mark.parametrize("threaded", [True, False])
def test_a_source_failing_midway_ends_alone_and_the_others_go_on(threaded, caplog):
    broken = FailingSource(20, image=_colour(20), name="broken")
    sources = [*_sources(10, count=15), broken, *_sources(30, count=15)]
    with MultiStream(sources, {"classification": MeanModel()}, "every", threaded=threaded) as cams:
        counts = {}
        for packet in cams:
            # the fault is said once the source's packets read before it are out (its outputs then finish)
            assert 1 not in cams.faults or counts.get(1) == 3, counts
            counts[packet.source_index] = counts.get(packet.source_index, 0) + 1
            time.sleep(0.005)  # a consumer slower than the sources: their packets wait, ready
    assert counts == {0: 15, 1: 3, 2: 15}
    assert cams.faults == {1: "broken: gave up reconnecting"}
    assert "source 1 (broken) failed: broken: gave up reconnecting; 2 other sources go on" in caplog.text


def test_a_model_error_ends_every_source():
    def broken(image):
        raise ValueError("model exploded")

    with MultiStream(_sources(10, 20), {"classification": broken}, "every") as cams:
        with pytest.raises(ValueError, match="model exploded"):
            list(cams)


def test_a_source_that_cannot_open_is_skipped_unless_all_fail_or_all_are_required(tmp_path, caplog):
    missing = str(tmp_path / "nope.mp4")
    with MultiStream([missing, *_sources(10)], {"classification": MeanModel()}, "every") as cams:
        packets = list(cams)
    assert {p.source_index for p in packets} == {1} and len(packets) == 12
    assert cams.names[0] == missing and cams.streams[0] is None and "no such file" in cams.faults[0]
    assert "source 0" in caplog.text and "skipped" in caplog.text
    with pytest.raises(SourceError, match="none of the 2 sources could be opened"):
        MultiStream([missing, missing], {"classification": MeanModel()}, "every")
    good = _sources(10)[0]
    with pytest.raises(SourceError, match="no such file"):
        MultiStream([good, missing], {"classification": MeanModel()}, "every", require_all=True)
    assert good.closed.is_set()  # what opened before the failure is released


def test_one_iterator_per_source_each_read_from_its_own_thread():
    with MultiStream(_sources(10, 20, count=8), {"classification": MeanModel()}, "every") as cams:
        iterators = cams.by_source()
        got: dict[int, list] = {}

        def read(i, it):
            got[i] = [(p.source_index, p.index, p.result) for p in it]

        threads = [threading.Thread(target=read, args=(i, it)) for i, it in enumerate(iterators)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert got == {i: [(i, n, 10.0 * (i + 1)) for n in range(8)] for i in range(2)}


def test_several_sources_are_a_list():
    with pytest.raises(UsageError, match="list"):
        MultiStream("a.mp4", {"classification": MeanModel()})
    with pytest.raises(UsageError, match="MultiStream"):
        livevision.Stream.open(["a.mp4", "b.mp4"], "classification")


def test_one_model_loaded_for_every_source_gives_each_the_single_stream_results(tiny_model, model_cache, tmp_path):
    from fractions import Fraction

    from media import make_source

    clips = [str(make_source(tmp_path / f"clip{i}.mp4", 4 + i, Fraction(10), None, size_wh=(96 + 32 * i, 64)))
             for i in range(2)]
    folder = str(tiny_model("segformer"))
    kwargs = dict(model=folder, cache_dir=model_cache, device="cpu", pacing="every")
    with MultiStream.open(clips, "segmentation", **kwargs) as cams:
        merged = {(p.source_index, p.index): p.result.label_map for p in cams}
        model = cams.models[Task.SEGMENTATION]
        assert all(s.models[Task.SEGMENTATION] is model for s in cams.streams)  # one copy
    assert sorted(merged) == [(0, i) for i in range(4)] + [(1, i) for i in range(5)]
    for i, clip in enumerate(clips):
        with livevision.Stream.open(clip, "segmentation", **kwargs) as alone:
            for packet in alone:
                np.testing.assert_array_equal(merged[(i, packet.index)], packet.result.label_map)


@pytest.mark.parametrize("cores, tasks, sources, workers, threads", [
    (2, 1, 4, 2, 1),  # a worker per core, one thread each
    (8, 1, 4, 4, 2),  # no more workers than sources: the cores split between them
    (2, 2, 4, 1, 1),  # two tasks share the cores
    (2, 1, 1, 1, 2),  # one source: one worker with every core, as a Stream
])
def test_on_the_cpu_the_cores_split_between_one_worker_per_core(monkeypatch, cores, tasks, sources, workers,
                                                                threads):
    from livevision import stream_multi
    from livevision.stream import model_loader

    monkeypatch.setattr(stream_multi, "physical_cores", lambda: cores)
    loader = model_loader([Task.DEPTH, Task.SEGMENTATION][:tasks], device="cpu")
    assert stream_multi.split_cores(loader, sources) == workers
    assert loader.load.intra_op_threads == threads
    given = model_loader([Task.DEPTH], device="cpu", intra_op_threads=3)
    assert stream_multi.split_cores(given, sources, workers=5) == 5 and given.load.intra_op_threads == 3


def test_on_an_accelerator_one_worker_batches_the_sources(monkeypatch):
    from livevision import stream_multi
    from livevision.stream import model_loader

    monkeypatch.setattr(stream_multi, "resolve_providers", lambda device: [("CUDAExecutionProvider", {}), "CPU"])
    loader = model_loader([Task.DEPTH], device="cuda")
    assert stream_multi.split_cores(loader, 4) == 1 and loader.load.intra_op_threads is None

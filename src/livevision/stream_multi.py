"""Several sources in one stream, one copy of each model for all of them.

    import livevision
    for packet in livevision.stream(["rtsp://door/cam", "rtsp://yard/cam", "0"], "detection"):
        print(packet.source_name, packet.index, packet.result)

    with livevision.MultiStream.open(["front.mp4", "back.mp4"], "depth") as cams:
        front, back = cams.by_source()       # one iterator per source, each from its own thread if need be

Each source is a Stream of its own (its pacing, rate caps, depth stabilization and tracking, telemetry), and
the models are shared: one worker per task serves the sources in the order their frames wait
(engine.shared), so every camera gets its turn. Iterating the MultiStream merges the sources' packets,
taking them in turn. Faults stay with their source: one that cannot open is skipped (an error only if all
fail, or with require_all), one that fails later (it gave up reconnecting) ends alone; a model's error ends
everything.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import replace
from typing import Iterator, Mapping, Sequence

from .engine.clock import Clock, SystemClock
from .engine.shared import SharedModels, SourceTelemetry
from .engine.telemetry import Telemetry
from .errors import LiveVisionError, UsageError
from .sources import open_source
from .sources.base import SourceError
from .models.openvino_session import runs_on_the_host_cpu
from .models.providers import resolve_providers
from .models.session import physical_cores
from .stream import STREAM_KEYWORDS, ModelLoader, Packet, Stream, model_loader, parse_tasks
from .threads import join_all

log = logging.getLogger(__name__)

#: packets each source may have ready before its loop waits for the consumer
_READY_PER_SOURCE = 2
_POLL_S = 0.1


def open_sources(specs: Sequence, *, reconnect=None, require_all: bool = False) -> tuple[list, dict[int, str]]:
    """Each source opened: (sources aligned with specs, None where it failed; {position: one line why}).
    A failure is logged and skipped, unless every source failed or require_all: then what opened is closed
    and one error says why (each source's reason in it)."""
    if isinstance(specs, (str, bytes)) or not specs:
        raise UsageError("several sources are given as a list, such as ['cam0.mp4', 'rtsp://host/cam1']")
    opened, faults = [], {}
    for i, spec in enumerate(specs):
        try:
            opened.append(open_source(spec, reconnect=reconnect))
        except LiveVisionError as exc:
            opened.append(None)
            faults[i] = str(exc)
            if require_all:
                _close_all(opened)
                raise
    if len(faults) == len(specs):
        raise SourceError(f"none of the {len(specs)} sources could be opened: " + "; ".join(faults.values()))
    for i, why in faults.items():
        log.warning("source %d (%s) skipped: %s", i, _spec_text(specs[i]), why)
    return opened, faults


def split_cores(loader: ModelLoader, sources: int, workers: int | None = None) -> int:
    """The inference workers per task for `sources` sources (`workers` when given), the models' threads set to
    match in `loader` unless given. On the host's CPU: a worker per physical core (up to one per source and
    the cores split between the tasks), each session with its share of the cores -- two one-thread workers ran
    SegFormer-B0 1.15x as fast as one two-thread worker on a 2-core machine, and each overlaps its pre- and
    post-processing with the other's inference (BENCHMARKS.md, "Several cameras"). On an accelerator one worker
    per task: the frames waiting from several sources go as one batch."""
    if workers is not None:
        return max(1, int(workers))
    if not _computes_on_the_host(loader.load.device):
        return 1
    cores, tasks = physical_cores(), len(loader.tasks)
    workers = max(1, min(sources, cores // tasks))
    if loader.load.intra_op_threads is None:
        loader.load = replace(loader.load, intra_op_threads=max(1, cores // (workers * tasks)))
    return workers


def _computes_on_the_host(device: str) -> bool:
    """Whether `device` resolves to the host's CPU (a bad or missing device: no, and loading says why)."""
    try:
        first = resolve_providers(device)[0]
    except LiveVisionError:
        return False
    return runs_on_the_host_cpu(first if isinstance(first, str) else first[0])


def _spec_text(spec) -> str:
    info = getattr(spec, "info", None)
    return info.name if info is not None else str(spec)


def _close_all(sources) -> None:
    for source in sources:
        if source is not None:
            source.close()


class MultiStream:
    """Frames of several sources with the results of one or more tasks, the models shared.

    sources: what Stream takes, one per source (opened ones pass through); models: ready models by task,
    shared by all sources. workers: threads per task's shared model (MultiStream.open picks them with
    split_cores: on the CPU one per core, each overlapping its pre- and post-processing with the others'
    inference). The other keywords are Stream's, applied to each source; each source's pacing defaults as
    Stream's does (files `every`, cameras and streams `live`).

    names: one per source given; streams: each source's Stream (None where it failed to open); faults:
    {position: why} for sources that failed to open or later; stats: the whole run's telemetry (each
    stream's stats record into it too); summary(): both, for --stats.
    """

    def __init__(self, sources: Sequence, models: Mapping, pacing=None, *, require_all: bool = False,
                 workers: int = 1, clock: Clock | None = None, threaded: bool = True, reconnect=None,
                 opened: tuple | None = None, **stream_kwargs):
        # opened: (sources, faults) as open_sources gave them for `sources`, where the caller opened them first
        # (to check its outputs against them before the models load, as MultiStream.open and `run` do)
        opened, self.faults = opened or open_sources(sources, reconnect=reconnect, require_all=require_all)
        opened = list(opened)
        self.names = [src.info.name if src is not None else _spec_text(spec) for src, spec in zip(opened, sources)]
        self.clock = clock or SystemClock()
        self.stats = Telemetry(self.clock.now)
        self.threaded = threaded
        self.streams: list[Stream | None] = []
        try:
            for i, source in enumerate(opened):
                stream = None if source is None else Stream(
                    source, models, pacing, clock=self.clock, threaded=threaded,
                    stats=SourceTelemetry(self.clock.now, self.stats), **stream_kwargs)
                opened[i] = None  # owned by its stream from here
                if stream is not None:
                    stream.source_index = i
                self.streams.append(stream)
        except BaseException:
            _close_all(opened)
            self._close_streams()
            raise
        first = next(s for s in self.streams if s is not None)
        self.models, self.tasks = first.models, first.tasks
        # threaded: one worker per task for all sources; inline (tests): each stream runs the models itself
        self.shared = SharedModels(self.models, self.clock, threads=workers) if threaded else None
        for stream in self.streams:
            if stream is not None:
                stream.shared = self.shared
        self._iterating = False
        self._merge: _Merge | None = None

    @classmethod
    def open(cls, sources: Sequence, task="depth", *, require_all: bool = False, workers: int | None = None,
             reconnect=None, pacing=None, check_sources=None, **kwargs) -> "MultiStream":
        """A MultiStream from specs: the sources are opened first (a bad one is skipped, or fails the call
        before any model loads when all are bad or with require_all), then the models load once (see
        Stream.open for the keywords). workers: per task; default: see split_cores. check_sources: called
        with each source's SourceInfo (None where it did not open) between the two, so that what depends
        on the sources fails before an export starts (`livevision run` checks its outputs there)."""
        stream_kwargs = {k: kwargs.pop(k) for k in STREAM_KEYWORDS if k in kwargs}
        load_models = model_loader(parse_tasks(task), **kwargs)  # bad options fail before any source opens
        opened, faults = open_sources(sources, reconnect=reconnect, require_all=require_all)
        workers = split_cores(load_models, sum(s is not None for s in opened), workers)
        try:
            if check_sources is not None:
                check_sources([None if s is None else s.info for s in opened])
            models = load_models()
            return cls(sources, models, pacing, workers=workers, opened=(opened, faults), **stream_kwargs)
        except BaseException:
            _close_all(opened)
            raise

    def __len__(self) -> int:
        return len(self.names)

    def summary(self) -> dict:
        """{"models": the whole run's figures, "sources": {name: its own, with its index, fault and
        reconnects}} (a name given twice: the second as "name #index")."""
        sources = {}
        for i, (name, stream) in enumerate(zip(self.names, self.streams)):
            own = stream.stats.summary() if stream is not None else {}
            reconnects = stream.source.reconnects if stream is not None else 0
            key = name if name not in sources else f"{name} #{i}"  # the same camera named twice stays apart
            sources[key] = {**own, "index": i, "fault": self.faults.get(i), "reconnects": reconnects}
        return {"models": self.stats.summary(), "sources": sources}

    def by_source(self) -> list[Iterator[Packet]]:
        """One iterator per source given (a failed one yields nothing), instead of iterating the MultiStream:
        read each in its own thread, or in turn with threaded=False."""
        self._start()
        return [iter(s) if s is not None else iter(()) for s in self.streams]

    def __iter__(self) -> Iterator[Packet]:
        self._start()
        live = [s for s in self.streams if s is not None]
        if not self.threaded:
            return self._in_turn(live)
        self._merge = _Merge(live, self._fault)
        return self._merge.packets()

    def _start(self) -> None:
        if self._iterating:
            raise UsageError("a MultiStream runs once: make a new one")
        self._iterating = True

    def _fault(self, stream: Stream, exc: BaseException) -> None:
        self.faults[stream.source_index] = str(exc)
        others = sum(1 for i, s in enumerate(self.streams) if s is not None and i not in self.faults)
        log.warning("source %d (%s) failed: %s; %s on", stream.source_index, self.names[stream.source_index], exc,
                    "1 other source goes" if others == 1 else f"{others} other sources go")

    def _in_turn(self, streams: list[Stream]) -> Iterator[Packet]:
        """Inline (threaded=False): one packet of each source in turn, in the caller's thread."""
        active = [(stream, iter(stream)) for stream in streams]
        try:
            while active:
                for stream, packets in list(active):
                    try:
                        yield next(packets)
                    except StopIteration:
                        active.remove((stream, packets))
                    except SourceError as exc:
                        self._fault(stream, exc)
                        active.remove((stream, packets))
        finally:
            for stream in streams:
                stream.close()

    def stop(self) -> None:
        for stream in self.streams:
            if stream is not None:
                stream.stop()
        if self._merge is not None:
            self._merge.stop()

    def close(self) -> None:
        """Stop every source, end the iteration, close the sources, and stop the shared models' threads."""
        self.stop()
        if self._merge is not None:
            self._merge.close()
        self._close_streams()
        if getattr(self, "shared", None) is not None:
            self.shared.close()

    def _close_streams(self) -> None:
        for stream in self.streams:
            if stream is not None:
                stream.close()

    def __enter__(self) -> "MultiStream":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class _Merge:
    """The packets of several streams, each iterated on its own thread, handed out in turn (round robin over
    the sources with a packet ready). A source's thread waits once it has _READY_PER_SOURCE packets ready, so
    a slow consumer slows the live sources to their latest frame (their capture drops), never piles them up."""

    def __init__(self, streams: list[Stream], on_fault):
        self.streams, self.on_fault = streams, on_fault
        self._cond = threading.Condition()
        self._ready = {s.source_index: deque() for s in streams}
        self._running = {s.source_index for s in streams}
        self._error: BaseException | None = None
        self._faults: dict[int, tuple] = {}  # sources that failed: (stream, error), said after their last packet
        self._stopped = False
        self._threads = [threading.Thread(target=self._produce, args=(s,), name=f"source:{s.source_index}",
                                          daemon=True) for s in streams]
        self._turn = 0

    def _produce(self, stream: Stream) -> None:
        key = stream.source_index
        packets = iter(stream)
        try:
            for packet in packets:
                with self._cond:
                    while len(self._ready[key]) >= _READY_PER_SOURCE and not self._stopped:
                        self._cond.wait(_POLL_S)
                    if self._stopped:
                        return
                    self._ready[key].append(packet)
                    self._cond.notify_all()
        except SourceError as exc:  # this source alone ends, once its packets ready before the fault are out
            with self._cond:
                self._faults[key] = (stream, exc)
        except BaseException as exc:  # a model's error (or a bug): ends the whole run
            with self._cond:
                self._error = exc
        finally:
            packets.close()
            with self._cond:
                self._running.discard(key)
                self._cond.notify_all()

    def _next(self) -> Packet | None:
        """The next packet in turn; None once every source has ended."""
        keys = list(self._ready)
        with self._cond:
            while True:
                if self._error is not None:
                    raise self._error
                for key in [k for k in self._faults if not self._ready[k]]:
                    self.on_fault(*self._faults.pop(key))
                for step in range(len(keys)):
                    key = keys[(self._turn + step) % len(keys)]
                    if self._ready[key]:
                        self._turn = (self._turn + step + 1) % len(keys)
                        packet = self._ready[key].popleft()
                        self._cond.notify_all()
                        return packet
                if (not self._running and not self._faults) or self._stopped:
                    return None
                self._cond.wait(_POLL_S)

    def packets(self) -> Iterator[Packet]:
        for thread in self._threads:
            thread.start()
        try:
            while (packet := self._next()) is not None:
                yield packet
        finally:
            self.close()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def close(self) -> None:
        self.stop()
        for stream in self.streams:
            stream.stop()
            stream.source.close()  # a source waiting on a stalled camera gives up now
        started = [t for t in self._threads if t.ident is not None and t is not threading.current_thread()]
        if started:
            join_all(started, "the sources' loops")

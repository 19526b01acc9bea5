"""Scheduling `livevision batch`: which files run, on which workers (this process or Ray actors),
retries, the progress bar, the summary and the exit code. The work on one file is batch.Worker's."""

from __future__ import annotations

import collections
import logging
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

from . import interrupts
from .batch import SCRATCH_PREFIX, Job, Worker, check_outputs_are_not_inputs, options_key, outputs_exist
from .batch_manifest import MANIFEST, Manifest, Outcome
from .batch_sources import VIDEO_EXTENSIONS, Item
from .batch_ray import check_ray_reachable, ray_address, run_on_ray, say, with_threads
from .errors import UsageError
from .sinks.progress import ProgressBar

log = logging.getLogger(__name__)

EXIT_SOME_FAILED = 1
EXIT_INTERRUPTED = 130


def run_batch(items: list[Item], job: Job, *, ray: str = "auto", workers: int | str = "auto", force: bool = False,
              stream=None) -> int:
    """Process `items` (skipping those done with the same options unless `force`); returns the exit code.
    ray: --ray (see ray_address). workers: in this process, how many files run side by side ("auto":
    see local_workers)."""
    stream = stream or sys.stderr
    check_outputs_are_not_inputs(items, job)
    address = ray_address(ray)
    if address is not None and workers != "auto":
        raise UsageError("--workers is for workers in this process (--ray off); on Ray, a worker per core or GPU "
                         "of the cluster")
    check_ray_reachable(address)
    key = options_key(job.options, job.video, job.arrays)
    manifest = Manifest(job.output_dir)
    todo, skipped = _todo(items, job, manifest, key, force)
    outcomes: list[Outcome] = []
    started = time.monotonic()
    total_frames = sum(_frame_count(i.source) for i in todo) or None
    interrupted = False
    quiet = _NoScratchPaths()
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        with ProgressBar(total_frames, desc=f"{len(todo)} files", stream=stream) as progress, \
                interrupts.deferred(lambda: say(stream, "stopping: the files being processed are abandoned, the "
                                                 "finished ones kept; Ctrl-C again quits at once")):
            frames = _FrameTally(progress)

            def finished(outcome: Outcome) -> None:
                outcomes.append(outcome)
                manifest.add(outcome, key)
                frames.count(outcome.source, outcome.frames)
                if outcome.status == "failed":
                    log.warning("%s failed: %s", outcome.source, outcome.error)

            try:
                if address is None:
                    _run_here(todo, job, finished, frames.count, workers, stream)
                else:
                    run_on_ray(todo, job, address, finished, frames.count, stream)
                interrupts.raise_if_requested()  # the runners stop early on a signal; SIGTERM ends here
            except KeyboardInterrupt:
                interrupted = True
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)
    failed = [o for o in outcomes if o.status == "failed"]
    where = f"manifest: {os.path.join(job.output_dir, MANIFEST)}" if manifest.exists() else \
        "no manifest written (no file finished)"
    print(f"livevision batch: {len(outcomes) - len(failed)} done, {len(failed)} failed, {len(skipped)} skipped "
          "(already done)" + (f", {len(todo) - len(outcomes)} not run (interrupted)" if interrupted else "")
          + f" in {time.monotonic() - started:.1f} s; {where}", file=stream)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if failed else 0


def _todo(items: list[Item], job: Job, manifest: Manifest, key: str, force: bool) -> tuple[list[Item], list[Item]]:
    """(the items to process, largest first: they bound the batch's length; the items skipped, done before
    with the same options and their outputs still there, each recorded in the manifest as skipped)."""
    done = set() if force else manifest.done_with(key)
    todo, skipped = [], []
    for item in sorted(items, key=lambda i: -i.size):
        (skipped if item.source in done and outputs_exist(item, job) else todo).append(item)
    for item in skipped:
        manifest.add(Outcome(item.source, "skipped"), key)
    return todo, skipped


class _FrameTally:
    """Each file's frames done, as its worker reports them, on the progress bar. A count never goes back:
    a file tried again on a new Ray worker counts on from where it had got."""

    def __init__(self, progress: ProgressBar):
        self.progress = progress
        self.frames: dict[str, int] = {}

    def count(self, source: str, frames: int) -> None:
        more = frames - self.frames.get(source, 0)
        if more > 0:
            self.frames[source] = frames
            self.progress.update(more)


class _NoScratchPaths(logging.Filter):
    """Drops messages that name a worker's private folder (the run loop's "stopping: ... already holds what
    was written so far", the video's "writing ... without audio"): those files are deleted when the file ends."""

    def filter(self, record: logging.LogRecord) -> bool:
        return SCRATCH_PREFIX not in record.getMessage()


def _frame_count(source: str) -> int:
    """The container's frame count (0 when unknown: remote files, images count 1)."""
    if "://" in source:
        return 0
    if os.path.splitext(source)[1].lower() not in VIDEO_EXTENSIONS:
        return 1
    import cv2

    cap = cv2.VideoCapture(source)
    try:
        return max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        cap.release()


def local_workers(job: Job, workers: int | str = "auto") -> tuple[int, Job]:
    """How many files run side by side in this process, and the job each worker runs.

    On the CPU provider "auto" is a worker per physical core, each model with one ONNX Runtime thread:
    whole files side by side, as the Ray actors do. That beats one file at a time on every core twice
    over: two 1-thread sessions run more frames per second than one 2-thread session (SegFormer-B0 at
    512x512 on this project's 2-core machine: 10.4 against 9.8), and a worker busy with pre- or
    post-processing holds up only its own model, not a parallel operator of one shared by the cores.
    On an accelerator "auto" is one worker: the device is shared, the host stages already overlap it.
    (_run_here then lowers "auto" to what memory allows.)"""
    from .models.providers import CPU, provider_names, resolve_providers
    from .models.session import physical_cores

    model = job.options.model.load_options
    providers = resolve_providers(model.device, allow_fallback=model.allow_fallback)
    on_cpu = provider_names(providers)[0] == CPU
    cores = physical_cores()
    if workers == "auto":
        workers = max(1, cores // (model.intra_op_threads or 1)) if on_cpu else 1
    workers = int(workers)
    if workers > 1 and on_cpu and model.intra_op_threads is None:  # share the cores out between the workers
        job = with_threads(job, max(1, cores // workers))
    return workers, job


def _run_here(todo: list[Item], job: Job, finished, count_frames, workers: int | str, stream) -> None:
    """Worker threads in this process, each with its own models, taking the next file until none is
    left. `finished` (an Outcome) and `count_frames` (a file's frames so far) are called here, in the
    calling thread. A worker's error (its models failed to load; Ctrl-C, raised out of its run) stops
    the handing out of files and is raised once every worker has ended."""
    if not todo:
        return
    asked = job
    count, job = local_workers(asked, workers)
    count = min(count, len(todo))
    said = _SayOnce()  # every worker loads the same models: say where they run once
    logging.getLogger("livevision.predictor").addFilter(said)
    pending = collections.deque(todo)
    reports: queue.Queue = queue.Queue()  # _Frames, Outcome, an exception, or None when a worker ends

    def report(source: str, frames: int) -> None:
        reports.put(_Frames(source, frames))

    def serve(worker: Worker | None, job: Job) -> None:
        try:
            worker = worker or Worker(job, report)
            while not interrupts.requested():
                try:
                    item = pending.popleft()
                except IndexError:
                    break
                reports.put(worker.process(item))
        except BaseException as exc:  # noqa: BLE001 - raised in the calling thread
            reports.put(exc)
        finally:
            reports.put(None)

    threads = []
    try:
        first, count, job = _first_worker(asked, job, count, workers, report)
        threads = [threading.Thread(target=serve, args=(first if i == 0 else None, job), name=f"batch-worker-{i}",
                                    daemon=True) for i in range(count)]
        say(stream, f"{len(todo)} file{'s' if len(todo) > 1 else ''} on {count} worker{'s' if count > 1 else ''} "
             "in this process (a Ray cluster: --ray ADDRESS, or RAY_ADDRESS)")
        for thread in threads:
            thread.start()
        error = _collect(reports, len(threads), pending, finished, count_frames)
    finally:  # Ctrl-C here: the workers' runs stop at their next frame (interrupts.deferred), then end
        pending.clear()
        for thread in threads:
            thread.join()
        logging.getLogger("livevision.predictor").removeFilter(said)
        while not reports.empty():  # files finished while this thread was interrupted: still recorded
            message = reports.get()
            if isinstance(message, Outcome):
                finished(message)
            elif isinstance(message, _Frames):
                count_frames(message.source, message.frames)
    if error is not None:
        raise error


def _first_worker(asked: Job, job: Job, count: int, workers: int | str, report) -> tuple[Worker | None, int, Job]:
    """(the first worker, loaded here so that its errors are the batch's, or None when it must load again;
    the number of workers; their job). Its models say how many workers fit in memory: with fewer than
    `count`, the job is made again for fewer workers (more ONNX Runtime threads each)."""
    first = Worker(job, report)
    if count > 1 and workers == "auto":
        fit = _workers_that_fit(_model_bytes(first.models))
        if fit < count:
            log.warning("memory allows %d of %d workers side by side (each holds its own models)", fit, count)
            count, job = local_workers(asked, fit)
            first = None  # loaded for more workers than fit (fewer ONNX Runtime threads): load again
    return first, count, job


def _collect(reports: queue.Queue, running: int, pending: collections.deque, finished, count_frames):
    """Take the workers' reports until all `running` have ended: frames go to count_frames, outcomes to
    finished; the first error stops the handing out of files and is returned (None without one)."""
    error = None
    while running:
        message = reports.get()
        if message is None:
            running -= 1
        elif isinstance(message, _Frames):
            count_frames(message.source, message.frames)
        elif isinstance(message, BaseException):
            error = error or message
            pending.clear()
        else:
            finished(message)
    return error


class _Frames(NamedTuple):
    """A worker's report: a file's frames done so far."""

    source: str
    frames: int


def _model_bytes(models: dict) -> int | None:
    """The size of the ONNX files (with external weights) behind a worker's models; None if unknown."""
    total = 0
    for model in models.values():
        entry = getattr(model, "entry", None)
        if entry is None:
            return None
        onnx = Path(entry.onnx_path)
        total += sum(f.stat().st_size for f in onnx.parent.iterdir() if f.name.startswith(onnx.name))
    return total


def _available_bytes() -> int | None:
    """Memory the system can still give (Linux MemAvailable; None elsewhere)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _workers_that_fit(model_bytes: int | None) -> int:
    """How many workers fit in half of the memory still available after the first: each holds its
    models' weights, and about as much again plus 256 MB in inference buffers and frames."""
    available = _available_bytes()
    if model_bytes is None or available is None:
        return 1 << 30  # unknown: no cap
    return 1 + max(0, int(available // 2 // (2 * model_bytes + (256 << 20))))


class _SayOnce(logging.Filter):
    """Lets each distinct message through once."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        with self._lock:
            new = message not in self._seen
            self._seen.add(message)
        return new


__all__ = ["local_workers", "run_batch"]

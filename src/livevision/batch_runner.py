"""Scheduling `livevision batch`: which files run, on which workers (this process or Ray actors),
retries, the progress bar, the summary and the exit code. The work on one file is batch.Worker's."""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

from . import interrupts
from .batch import (
    MANIFEST,
    SCRATCH_PREFIX,
    VIDEO_EXTENSIONS,
    Item,
    Job,
    Manifest,
    Outcome,
    Worker,
    check_outputs_are_not_inputs,
    options_key,
    outputs_exist,
)
from .errors import MissingDependencyError, UsageError
from .sinks.progress import ProgressBar

log = logging.getLogger(__name__)

EXIT_SOME_FAILED = 1
EXIT_INTERRUPTED = 130
REPORT_INTERVAL_S = 0.25  # how often a Ray worker sends its file's frame count to the driver
STOP_WAIT_S = 30.0  # after Ctrl-C, how long Ray workers get to stop and clean up before they are killed


def ray_address(ray: str) -> str | None:
    """Where the batch runs, from --ray: None for workers in this process; else what ray.init takes
    ("local": a Ray started on this machine). "auto" is Ray only when there is a cluster to use:
    RAY_ADDRESS names one, or this process has joined one (from Python); otherwise this process,
    because starting a local Ray costs seconds a small batch does not win back (README)."""
    if ray == "off":
        return None
    if ray != "auto":
        return ray
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    joined = sys.modules.get("ray")  # imported by whoever joined a Ray (importing it here costs a second)
    return "auto" if joined is not None and joined.is_initialized() else None


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
    key = options_key(job.options, job.video, job.arrays)
    manifest = Manifest(job.output_dir)
    done = set() if force else manifest.done_with(key)
    todo, skipped = [], []
    for item in sorted(items, key=lambda i: -i.size):  # the largest first: they bound the batch's length
        (skipped if item.source in done and outputs_exist(item, job) else todo).append(item)
    for item in skipped:
        manifest.add(Outcome(item.source, "skipped"), key)
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
                interrupts.deferred(lambda: _say(stream, "stopping: the files being processed are abandoned, the "
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
                    _run_on_ray(todo, job, address, finished, frames.count, stream)
                interrupts.raise_if_requested()  # the runners stop early on a signal; SIGTERM ends here
            except KeyboardInterrupt:
                interrupted = True
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)
    failed = [o for o in outcomes if o.status == "failed"]
    ok = len(outcomes) - len(failed)
    where = f"manifest: {os.path.join(job.output_dir, MANIFEST)}" if manifest.exists() else \
        "no manifest written (no file finished)"
    print(f"livevision batch: {ok} done, {len(failed)} failed, {len(skipped)} skipped (already done)"
          + (f", {len(todo) - len(outcomes)} not run (interrupted)" if interrupted else "")
          + f" in {time.monotonic() - started:.1f} s; {where}", file=stream)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if failed else 0


def _say(stream, text: str) -> None:
    print(f"livevision batch: {text}", file=stream, flush=True)


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
    """Drops messages that name a worker's private folder (app.run's "stopping: ... already holds what was
    written so far", the video's "writing ... without audio"): those files are deleted when the file ends."""

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
    from .models.providers import provider_names, resolve_providers
    from .models.session import physical_cores

    model = job.options.model.load_options
    providers = resolve_providers(model.device, allow_fallback=model.allow_fallback)
    on_cpu = provider_names(providers)[0] == "CPUExecutionProvider"
    cores = physical_cores()
    if workers == "auto":
        workers = max(1, cores // (model.intra_op_threads or 1)) if on_cpu else 1
    workers = int(workers)
    if workers > 1 and on_cpu and model.intra_op_threads is None:  # share the cores out between the workers
        job = _with_threads(job, max(1, cores // workers))
    return workers, job


def _with_threads(job: Job, threads: int) -> Job:
    """`job` with each model on `threads` ONNX Runtime threads."""
    load = dataclasses.replace(job.options.model.load_options, intra_op_threads=threads)
    model = dataclasses.replace(job.options.model, load_options=load)
    return dataclasses.replace(job, options=dataclasses.replace(job.options, model=model))


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
        first = Worker(job, report)  # here: its errors are the batch's, and its models say how many workers fit
        if count > 1 and workers == "auto":
            fit = _workers_that_fit(_model_bytes(first.models))
            if fit < count:
                log.warning("memory allows %d of %d workers side by side (each holds its own models)", fit, count)
                count, job = local_workers(asked, fit)
                first = None  # loaded for more workers than fit (fewer ONNX Runtime threads): load again
        threads = [threading.Thread(target=serve, args=(first if i == 0 else None, job), name=f"batch-worker-{i}",
                                    daemon=True) for i in range(count)]
        _say(stream, f"{len(todo)} file{'s' if len(todo) > 1 else ''} on {count} worker{'s' if count > 1 else ''} "
             "in this process (a Ray cluster: --ray ADDRESS, or RAY_ADDRESS)")
        for thread in threads:
            thread.start()
        error, running = None, len(threads)
        while running:
            report = reports.get()
            if report is None:
                running -= 1
            elif isinstance(report, _Frames):
                count_frames(report.source, report.frames)
            elif isinstance(report, BaseException):
                error = error or report
                pending.clear()
            else:
                finished(report)
    finally:  # Ctrl-C here: the workers' runs stop at their next frame (interrupts.deferred), then end
        pending.clear()
        for thread in threads:
            thread.join()
        logging.getLogger("livevision.predictor").removeFilter(said)
        while not reports.empty():  # files finished while this thread was interrupted: still recorded
            report = reports.get()
            if isinstance(report, Outcome):
                finished(report)
            elif isinstance(report, _Frames):
                count_frames(report.source, report.frames)
    if error is not None:
        raise error


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


def _run_on_ray(todo: list[Item], job: Job, address: str, finished, count_frames, stream) -> None:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("livevision batch runs on Ray: pip install 'livevision[ray]' "
                                     "(or --ray off to run in this process)") from None
    if not todo:
        return
    started_here = not ray.is_initialized()
    if started_here:  # seconds, with nothing else to show
        _say(stream, "starting a local Ray on this machine's cores and GPUs..." if address == "local"
             else f"connecting to Ray at {address}...")
        ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
    try:
        _schedule(ray, todo, job, finished, count_frames, stream)
    finally:
        if started_here:  # now, not in Ray's exit hook, where a second Ctrl-C would print a traceback
            try:
                ray.shutdown()
            except KeyboardInterrupt:
                pass


class _RayWorker(Worker):
    """A Worker as a Ray actor (two calls at once: stop() while process() runs)."""

    def process(self, item: Item) -> Outcome | None:
        """None when stopped: the file was not finished (and its private folder is gone)."""
        try:
            return super().process(item)
        except KeyboardInterrupt:
            return None

    def stop(self) -> None:
        """End the file being processed at its next frame, as Ctrl-C does in this process."""
        interrupts.request()


class _FrameReports:
    """A Ray actor that keeps the workers' frame counts (source, frames) until the driver takes them."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, int]] = []

    def add(self, source: str, frames: int) -> None:
        self.reports.append((source, frames))

    def take(self) -> list[tuple[str, int]]:
        taken, self.reports = self.reports, []
        return taken


class _ReportToDriver:
    """A Ray worker's `report`: a file's frame count sent to the _FrameReports actor, the first of each
    file at once and then at most every REPORT_INTERVAL_S. Each send is waited for, so a file's counts
    are all in before its outcome."""

    def __init__(self, reports) -> None:
        self.reports = reports
        self.source, self.sent_at = None, 0.0

    def __call__(self, source: str, frames: int) -> None:
        import ray

        now = time.monotonic()
        if source != self.source or now - self.sent_at >= REPORT_INTERVAL_S:
            self.source, self.sent_at = source, now
            try:
                ray.get(self.reports.add.remote(source, frames))
            except ray.exceptions.RayActorError:  # progress is not worth failing a file
                pass


def _schedule(ray, todo: list[Item], job: Job, finished, count_frames, stream) -> None:
    """Actors per GPU or core, the largest files first, a dead worker's file once more; frame counts
    taken as they come; after Ctrl-C, the busy actors told to stop (their private folders removed)."""
    resources = ray.available_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    # On GPUs, an actor per GPU. On CPUs, an actor per core, each with one ONNX Runtime thread: whole
    # files side by side, as local_workers does in one process (why: its docstring).
    actors_wanted = gpus if gpus else cpus
    options = dict(num_gpus=1, num_cpus=1) if gpus else dict(num_cpus=1)
    if not gpus:
        job = _with_threads(job, 1)
    reports = ray.remote(num_cpus=0)(_FrameReports).remote()
    remote_worker = ray.remote(max_restarts=0, max_concurrency=2)(_RayWorker).options(**options)

    def new_actor():
        return remote_worker.remote(job, _ReportToDriver(reports))

    actors = [new_actor() for _ in range(min(actors_wanted, len(todo)))]
    _say(stream, f"{len(todo)} file{'s' if len(todo) > 1 else ''} on {len(actors)} Ray worker"
         f"{'s' if len(actors) > 1 else ''}")
    waiting = list(todo)
    attempts: dict[str, int] = {}
    running = {}  # ObjectRef -> (item, actor)

    def submit(actor) -> None:
        if waiting:
            item = waiting.pop(0)
            attempts[item.source] = attempts.get(item.source, 0) + 1
            running[actor.process.remote(item)] = (item, actor)

    def take_reports() -> None:
        try:
            taken = ray.get(reports.take.remote())
        except ray.exceptions.RayActorError:  # its node went: the files go on, their counts when they end
            taken = []
        for source, frames in taken:
            count_frames(source, frames)

    for actor in actors:
        submit(actor)
    try:
        while running and not interrupts.requested():
            ready, _ = ray.wait(list(running), num_returns=1, timeout=REPORT_INTERVAL_S)
            take_reports()  # before the outcomes: every count of a finished file is in (_ReportToDriver)
            for ref in ready:
                item, actor = running.pop(ref)
                try:
                    outcome = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                    actor = new_actor()  # the actor is gone: a new one takes its place
                    if attempts[item.source] < 2:
                        log.warning("%s: its worker died (%s); trying once more", item.source, type(exc).__name__)
                        waiting.insert(0, item)
                    else:
                        finished(Outcome(item.source, "failed", error="its worker died twice"))
                else:
                    finished(outcome)
                submit(actor)
        if running:  # Ctrl-C: the busy actors stop at their next frame and remove their private folders
            for _item, actor in running.values():
                actor.stop.remote()
            ready, _ = ray.wait(list(running), num_returns=len(running), timeout=STOP_WAIT_S)
            take_reports()
            for ref in ready:
                running.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError:
                    continue
                if outcome is not None:  # it finished before it heard
                    finished(outcome)
    finally:  # an error (or Ctrl-C outside the CLI's handling): end the workers still busy
        for _item, actor in list(running.values()):
            ray.kill(actor)


__all__ = ["run_batch"]

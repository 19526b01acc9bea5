"""`livevision batch` on Ray: where it runs (--ray, RAY_ADDRESS), checking the address, and the pool of
actors that run whole files, report their frames as they go, and stop at a Ctrl-C."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time

from . import interrupts
from .batch import Job, Worker
from .batch_manifest import Outcome
from .batch_sources import Item
from .errors import MissingDependencyError, UsageError

log = logging.getLogger(__name__)

REPORT_INTERVAL_S = 0.25  # how often a Ray worker sends its file's frame count to the driver
STOP_WAIT_S = 30.0  # after Ctrl-C, how long Ray workers get to stop and clean up before they are killed


def say(stream, text: str) -> None:
    print(f"livevision batch: {text}", file=stream, flush=True)


def with_threads(job: Job, threads: int) -> Job:
    """`job` with each model on `threads` ONNX Runtime threads."""
    load = dataclasses.replace(job.options.model.load_options, intra_op_threads=threads)
    model = dataclasses.replace(job.options.model, load_options=load)
    return dataclasses.replace(job, options=dataclasses.replace(job.options, model=model))


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


def check_ray_reachable(address: str | None, timeout_s: float = 5.0) -> None:
    """UsageError (one line) when a Ray cluster address ("HOST:PORT" or "ray://HOST:PORT") has nothing
    listening: ray.init itself retries such an address for minutes without a word. "local" and "auto"
    (ray.init's own discovery, which fails at once when it finds nothing) are left to Ray."""
    if address in (None, "local", "auto"):
        return
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number
        host = port = None
    if not host or port is None:
        raise UsageError(f"--ray {address}: a Ray cluster address is HOST:PORT (or ray://HOST:PORT), 'local', "
                         "'auto' or 'off'")
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        raise UsageError(f"--ray {address}: nothing answers at {host}:{port} ({exc.strerror or exc}): is the Ray "
                         "head running there (`ray start --head`)?") from None


def run_on_ray(todo: list[Item], job: Job, address: str, finished, count_frames, stream) -> None:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("livevision batch runs on Ray: pip install 'livevision[ray]' "
                                     "(or --ray off to run in this process)") from None
    if not todo:
        return
    started_here = not ray.is_initialized()
    if started_here:  # seconds, with nothing else to show
        say(stream, "starting a local Ray on this machine's cores and GPUs..." if address == "local"
             else f"connecting to Ray at {address}...")
        # "local": a new Ray, where address=None would join the one RAY_ADDRESS (or a `ray start`) names
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
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


def _actors(ray, job: Job):
    """(how many actors the cluster takes, a function making a new one, the actor the frame counts go
    through). On GPUs, an actor per GPU. On CPUs, an actor per core, each with one ONNX Runtime thread:
    whole files side by side, as local_workers does in one process (why: its docstring)."""
    resources = ray.available_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    options = dict(num_gpus=1, num_cpus=1) if gpus else dict(num_cpus=1)
    if not gpus:
        job = with_threads(job, 1)
    reports = ray.remote(num_cpus=0)(_FrameReports).remote()
    remote_worker = ray.remote(max_restarts=0, max_concurrency=2)(_RayWorker).options(**options)

    def new_actor():
        return remote_worker.remote(job, _ReportToDriver(reports))

    return gpus or cpus, new_actor, reports


def _stop_busy(ray, running: dict, take_reports, finished) -> None:
    """After Ctrl-C: tell the busy actors to stop (at their next frame; they remove their private folders),
    wait for them a while, and record the files that finished before they heard."""
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


def _schedule(ray, todo: list[Item], job: Job, finished, count_frames, stream) -> None:
    """Actors per GPU or core, the largest files first, a dead worker's file once more; frame counts
    taken as they come; after Ctrl-C, the busy actors told to stop (their private folders removed)."""
    actors_wanted, new_actor, reports = _actors(ray, job)
    actors = [new_actor() for _ in range(min(actors_wanted, len(todo)))]
    say(stream, f"{len(todo)} file{'s' if len(todo) > 1 else ''} on {len(actors)} Ray worker"
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
            _stop_busy(ray, running, take_reports, finished)
    finally:  # an error (or Ctrl-C outside the CLI's handling): end the workers still busy
        for _item, actor in list(running.values()):
            ray.kill(actor)


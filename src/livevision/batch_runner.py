"""Scheduling `livevision batch`: which files run, on which workers (this process or Ray actors),
retries, the progress bar, the summary and the exit code. The work on one file is batch.Worker's."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time

from .batch import Item, Job, Manifest, Outcome, Worker, options_key, outputs_exist
from .errors import MissingDependencyError
from .sinks.progress import ProgressBar

log = logging.getLogger(__name__)

EXIT_SOME_FAILED = 1
EXIT_INTERRUPTED = 130


def run_batch(items: list[Item], job: Job, *, ray: str = "auto", force: bool = False, stream=None) -> int:
    """Process `items` (skipping those done with the same options unless `force`); returns the exit code."""
    stream = stream or sys.stderr
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
    with ProgressBar(total_frames, desc=f"{len(todo)} files", stream=stream) as progress:
        def finished(outcome: Outcome) -> None:
            outcomes.append(outcome)
            manifest.add(outcome, key)
            progress.update(outcome.frames)
            if outcome.status == "failed":
                log.warning("%s failed: %s", outcome.source, outcome.error)

        try:
            if ray == "off":
                _run_here(todo, job, finished)
            else:
                _run_on_ray(todo, job, ray, finished)
        except KeyboardInterrupt:
            interrupted = True
    failed = [o for o in outcomes if o.status == "failed"]
    ok = len(outcomes) - len(failed)
    print(f"livevision batch: {ok} done, {len(failed)} failed, {len(skipped)} skipped (already done)"
          + (f", {len(todo) - len(outcomes)} not run (interrupted)" if interrupted else "")
          + f" in {time.monotonic() - started:.1f} s; manifest: {os.path.join(job.output_dir, 'manifest.jsonl')}",
          file=stream)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if failed else 0


def _frame_count(source: str) -> int:
    """The container's frame count (0 when unknown: remote files, images count 1)."""
    from .batch import VIDEO_EXTENSIONS

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


def _run_here(todo: list[Item], job: Job, finished) -> None:
    if not todo:
        return
    worker = Worker(job)
    for item in todo:
        finished(worker.process(item))


def _run_on_ray(todo: list[Item], job: Job, address: str, finished) -> None:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("livevision batch runs on Ray: pip install 'livevision[ray]' "
                                     "(or --ray off to run here, one file after another)") from None
    if not todo:
        return
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=None if address == "auto" else address, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
    try:
        _schedule(ray, todo, job, finished)
    finally:
        if started_here:  # now, not in Ray's exit hook, where a second Ctrl-C would print a traceback
            try:
                ray.shutdown()
            except KeyboardInterrupt:
                pass


def _schedule(ray, todo: list[Item], job: Job, finished) -> None:
    """Actors per GPU or core, the largest files first, a dead worker's file once more."""
    resources = ray.available_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    # On GPUs, an actor per GPU. On CPUs, an actor per core, each with one ONNX Runtime thread: whole
    # files side by side, which scales with the cores (on this project's 2-core machine it measured the
    # same as one file on two threads: BENCHMARKS.md, "livevision batch").
    actors_wanted = gpus if gpus else cpus
    options = dict(num_gpus=1, num_cpus=1) if gpus else dict(num_cpus=1)
    if not gpus:
        job = dataclasses.replace(job, options=dataclasses.replace(
            job.options, model=dataclasses.replace(job.options.model, intra_op_threads=1)))
    remote_worker = ray.remote(max_restarts=0)(Worker).options(**options)
    actors = [remote_worker.remote(job) for _ in range(min(actors_wanted, len(todo)))]
    queue = list(todo)
    attempts: dict[str, int] = {}
    running = {}  # ObjectRef -> (item, actor)

    def submit(actor) -> None:
        if queue:
            item = queue.pop(0)
            attempts[item.source] = attempts.get(item.source, 0) + 1
            running[actor.process.remote(item)] = (item, actor)

    for actor in actors:
        submit(actor)
    try:
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            item, actor = running.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                actor = remote_worker.remote(job)  # the actor is gone: a new one takes its place
                if attempts[item.source] < 2:
                    log.warning("%s: its worker died (%s); trying once more", item.source, type(exc).__name__)
                    queue.insert(0, item)
                else:
                    finished(Outcome(item.source, "failed", error="its worker died twice"))
            else:
                finished(outcome)
            submit(actor)
    finally:  # Ctrl-C (or an error): end the workers still busy; their files were not finished
        for _item, actor in list(running.values()):
            ray.kill(actor)


__all__ = ["run_batch"]

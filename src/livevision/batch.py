"""`livevision batch`: many video files (or images) through the same models, on this machine or a Ray
cluster (livevision[ray]).

    livevision batch clips/ 'more/*.mp4' @list.txt --task segmentation --output-dir out/ --video

- Sources: files, folders (every video and image inside, recursively), globs, `@list.txt` (one path
  or URL per line), and fsspec URLs (s3://, gs://, memory://...) for all of these, copied to a local
  temporary file first. Outputs go under --output-dir (an fsspec URL too) named after each input,
  its folders mirrored below the inputs' common folder: `a/b.mp4` -> `DIR/a/b.jsonl` (and `b.mp4`
  with --video, `b/` arrays with --arrays).
- Workers: worker threads in this process (see batch_runner.local_workers), or a pool of Ray actors
  (`--ray ADDRESS` or RAY_ADDRESS: an existing cluster; `--ray local`: a Ray started on this
  machine's cores and GPUs; see batch_ray.ray_address). Each worker loads the models once and
  runs whole files through them with the `every` pipeline (a Stream) into the sinks (outputs.Outputs),
  no window (Worker), counting the frames it processed and reporting them as it goes. GPU actors ask
  for a GPU each. The largest files go first. A file whose actor dies is tried once more, on a new
  actor.
- Each file's outputs are made in a private folder and moved into place only when the file is done,
  so nothing half-written looks complete. DIR/manifest.jsonl gets a line per file: status (ok,
  failed, skipped), frames, fps, seconds, error (one line), and the key of the models and options
  that made it. A rerun skips files whose outputs exist and were made with the same key; --force
  redoes them. One bad file never stops the batch: it is marked failed. Exit code 0 when every file
  succeeded, 1 when some failed, 130 after Ctrl-C (the manifest says what finished; the files being
  processed stop at their next frame, their private folders removed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import interrupts
from .batch_manifest import MANIFEST, Outcome
from .batch_sources import VIDEO_EXTENSIONS, Item, is_url, remote
from .engine.pacing import Pacing
from .errors import LiveVisionError
from .sources.base import FrameSource
from .sources.images import IMAGE_EXTENSIONS, ImageSource
from .sources.opencv import VideoCaptureSource

log = logging.getLogger(__name__)

SCRATCH_PREFIX = "livevision-batch-"  # each file's private folder in the temporary folder
CRASH_ONCE_ENV = "LIVEVISION_BATCH_CRASH_ONCE"  # fault injection for the tests: "<marker file>:<name part>"


# ---- the work on one file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """What every worker needs: the run's options (without a source) and where outputs go."""

    options: object  # options.RunOptions
    output_dir: str
    video: bool
    arrays: bool


def options_key(options, video: bool, arrays: bool) -> str:
    """A digest of everything that changes a file's outputs: models, tasks, model and output options."""
    from . import __version__

    described = {"tasks": [t.value for t in options.tasks], "model": repr(options.model),
                 "outputs": [video, arrays, options.output.depth_format], "livevision": __version__}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


def output_names(item: Item, job: Job) -> list[str]:
    """The outputs of one input, relative to the output folder."""
    stem = str(Path(item.relative).with_suffix(""))
    names = [stem + ".jsonl"]
    if job.video:
        names.append(stem + (".mp4" if Path(item.relative).suffix.lower() in VIDEO_EXTENSIONS else ".png"))
    if job.arrays:
        names.append(stem)
    return names


def check_outputs_are_not_inputs(items: list[Item], job: Job) -> None:
    """Refuse (OutputIsInputError, before anything is written) a batch whose output file or folder is one
    of its inputs, by path or link: `batch clips/ --output-dir clips/ --video` would write clips/a.mp4
    over the input clips/a.mp4. A remote --output-dir holds no local input."""
    from .sinks._paths import check_not_an_input

    if is_url(job.output_dir):
        return
    root = Path(job.output_dir).expanduser()
    outputs = [("output", root / MANIFEST)]
    outputs += [("output", root / name) for item in items for name in output_names(item, job)]
    check_not_an_input(outputs, [Path(item.source) for item in items if not is_url(item.source)])


class Worker:
    """Loads the models once; then runs whole files, each into a private folder moved into place at the end.
    `report(source, frames)`, if given, hears of each file's frames as they are done (its thread)."""

    def __init__(self, job: Job, report=None):
        self.job = job
        self.report = report
        self.models = job.options.model.load(job.options.tasks)

    def process(self, item: Item) -> Outcome:
        started = time.monotonic()
        _maybe_crash(item)
        worker = f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"
        try:
            frames = self._run(item)
        except LiveVisionError as exc:
            return Outcome(item.source, "failed", error=_one_line(exc), worker=worker)
        except Exception as exc:  # a bug or an unreadable file: the batch goes on
            return Outcome(item.source, "failed", error=f"{type(exc).__name__}: {_one_line(exc)}", worker=worker)
        return Outcome(item.source, "ok", frames=frames, seconds=round(time.monotonic() - started, 3), worker=worker)

    def _run(self, item: Item) -> int:
        """The file's outputs made in a private folder, then moved into place; returns its frames."""
        with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX) as scratch:
            scratch = Path(scratch)
            local = _local_copy(item.source, scratch)
            made = scratch / "out"
            names = output_names(item, self.job)
            (made / names[0]).parent.mkdir(parents=True, exist_ok=True)
            output = dataclasses.replace(
                self.job.options.output, results=made / names[0], video=made / names[1] if self.job.video else None,
                arrays=made / names[-1] if self.job.arrays else None, display=False, stats=None, progress=False)
            options = dataclasses.replace(
                self.job.options, output=output,
                source=dataclasses.replace(self.job.options.source, source=str(local), pacing=Pacing.EVERY.value))
            if self.job.arrays:
                (made / names[-1]).mkdir(parents=True, exist_ok=True)
            try:
                source = _open_copy(local, item.source) if local != Path(item.source) else str(local)
                frames = self._play(options, source, _FileFrames(item.source, self.report) if self.report else None)
            except Exception as exc:  # an error about the local copy is about the URL to the user
                exc.args = tuple(a.replace(str(local), item.source) if isinstance(a, str) else a for a in exc.args)
                raise
            for name in names:
                _publish(made / name, self.job.output_dir, name)
            return frames

    def _play(self, options, source, progress) -> int:
        """`source` through the loaded models into the outputs of `options` (a RunOptions): the `every` engine,
        each frame processed, no window; returns the frames processed. Ctrl-C and SIGTERM stop it at its
        next frame, the outputs closed, then raise (as `livevision run` does: run_loop.play_to_outputs)."""
        from .app import Renderer
        from .outputs import Outputs, check_metric_depth, check_outputs
        from .run_loop import play_to_outputs
        from .sources import open_source
        from .stream import Stream

        src, out = options.source, options.output
        deferral = contextlib.ExitStack()  # outlives `stack`: signals stay deferred while the outputs close
        with deferral, contextlib.ExitStack() as stack:
            opened = open_source(source, reconnect=src.reconnect)
            stack.callback(opened.close)
            check_outputs(options, opened.info)
            stream = Stream(opened, {t: self.models[t] for t in options.tasks}, Pacing.EVERY, max_fps=src.max_fps,
                            rates=src.rates or None, depth_stabilize=options.model.depth_stabilize,
                            track=options.model.track)
            if out.arrays is not None and out.depth_format == "ply":
                check_metric_depth(stream)
            names = {t: getattr(m, "name", type(m).__name__) for t, m in stream.models.items()}
            outputs = Outputs.open(stack, out, opened.info, src.max_frames, names)
            renderer = Renderer(options.tasks, out.view, out.alpha, full_size_tiles=out.full_size_tiles)
            frames = play_to_outputs(stack, deferral, stream, opened, outputs, out, renderer, progress,
                                     src.max_frames)
        interrupts.raise_if_requested()
        return frames


class _FileFrames:
    """What the run loop counts one file's frames on (run_loop.play's progress), passed on to a Worker's
    `report`."""

    def __init__(self, source: str, report):
        self.source, self.report, self.n = source, report, 0

    def update(self, n: int = 1) -> None:
        self.n += n
        self.report(self.source, self.n)


def _one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _maybe_crash(item: Item) -> None:
    """Fault injection for the tests: end this process, once, on an input whose name holds the part
    named in LIVEVISION_BATCH_CRASH_ONCE (the marker file records that it happened)."""
    spec = os.environ.get(CRASH_ONCE_ENV)
    if not spec:
        return
    marker, part = spec.rsplit(":", 1)
    if part in item.relative and not os.path.exists(marker):
        Path(marker).write_text("crashed\n")
        os._exit(3)


def _local_copy(source: str, scratch: Path) -> Path:
    if not is_url(source):
        return Path(source)
    import fsspec

    local = scratch / ("input" + Path(source.split("?")[0]).suffix)
    with fsspec.open(source, "rb") as remote, open(local, "wb") as f:
        shutil.copyfileobj(remote, f, 1 << 20)
    return local


def _open_copy(local: Path, url: str) -> FrameSource:
    """The local copy of a remote file, its frames and errors named by its URL (results name their
    source; the copy is deleted when the file is done)."""
    if local.suffix.lower() in IMAGE_EXTENSIONS:
        return _NamedSource(ImageSource([local], name=url))
    return _NamedSource(VideoCaptureSource(str(local), is_live=False, name=url))


class _NamedSource(FrameSource):
    """A source whose frames say they come from its name (an image's frames name their file)."""

    def __init__(self, inner: FrameSource):
        self._inner = inner
        self.info = inner.info
        self.supports_grab = inner.supports_grab

    def frames(self):
        for frame in self._inner.frames():
            yield dataclasses.replace(frame, source=self.info.name)

    def grab(self) -> bool:
        return self._inner.grab()

    def close(self) -> None:
        self._inner.close()

    @property
    def frames_bad(self) -> int:
        return self._inner.frames_bad

    @property
    def reconnects(self) -> int:
        return self._inner.reconnects


def _publish(made: Path, output_dir: str, name: str) -> None:
    """Move a finished output (a file or a folder) to output_dir/name: renamed locally (atomic for a
    file), uploaded for an fsspec URL."""
    if is_url(output_dir):
        fs, target = remote(output_dir, name)
        fs.put(str(made), target, recursive=made.is_dir())
        return
    target = Path(output_dir) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if made.is_dir():
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(made), str(target))
        return
    partial = target.with_name(f".{target.name}.partial")
    shutil.copyfile(made, partial)
    os.replace(partial, target)


def outputs_exist(item: Item, job: Job) -> bool:
    for name in output_names(item, job):
        if is_url(job.output_dir):
            fs, path = remote(job.output_dir, name)
            if not fs.exists(path):
                return False
        elif not (Path(job.output_dir) / name).exists():
            return False
    return True


__all__ = ["Job", "Worker", "check_outputs_are_not_inputs", "options_key", "output_names", "outputs_exist"]

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
  machine's cores and GPUs; see batch_runner.ray_address). Each worker loads the models once and
  runs whole files with the `every` pipeline (`app.run`), reporting frames as it goes. GPU actors ask
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

import dataclasses
import glob
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

from .errors import LiveVisionError, UsageError
from .sources.base import FrameSource
from .sources.images import IMAGE_EXTENSIONS, ImageSource
from .sources.opencv import VideoCaptureSource

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv"})
MANIFEST = "manifest.jsonl"
SCRATCH_PREFIX = "livevision-batch-"  # each file's private folder in the temporary folder
CRASH_ONCE_ENV = "LIVEVISION_BATCH_CRASH_ONCE"  # fault injection for the tests: "<marker file>:<name part>"


@dataclass(frozen=True)
class Item:
    """One input: where it is, its path below the inputs' common folder, its size (largest first)."""

    source: str
    relative: str
    size: int


@dataclass(frozen=True)
class Outcome:
    source: str
    status: str  # ok, failed, skipped
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None
    worker: str | None = None  # host:pid:thread of the worker that ran it (which Ray node, which thread)

    @property
    def fps(self) -> float:
        return round(self.frames / self.seconds, 2) if self.seconds > 0 else 0.0


# ---- sources and names -----------------------------------------------------------------------------


def _is_url(text: str) -> bool:
    return "://" in text


def expand_sources(specs: list[str]) -> list[Item]:
    """Files, folders, globs, @lists and fsspec URLs -> one Item per media file, with its path below the
    common folder of all of them."""
    found: list[tuple[str, int]] = []
    for spec in specs:
        if spec.startswith("@"):
            lines = Path(spec[1:]).expanduser().read_text(encoding="utf-8").splitlines() \
                if not _is_url(spec[1:]) else _read_remote_text(spec[1:]).splitlines()
            entries = [line.strip() for line in lines]
            found += [found_one for entry in entries if entry and not entry.startswith("#")
                      for found_one in _expand_one(entry)]
        else:
            found += _expand_one(spec)
    if not found:
        raise UsageError("no video or image files found in " + ", ".join(specs))
    unique = list(dict.fromkeys(found))
    root = os.path.commonpath([os.path.dirname(_path_part(s)) or "." for s, _ in unique]) if len(unique) > 1 \
        else os.path.dirname(_path_part(unique[0][0]))
    return [Item(s, os.path.relpath(_path_part(s), root or "."), size) for s, size in unique]


def _path_part(source: str) -> str:
    """The path of a local file or of a URL's object (s3://bucket/a/b.mp4 -> /bucket/a/b.mp4)."""
    return "/" + source.split("://", 1)[1].lstrip("/") if _is_url(source) else os.path.abspath(source)


def _is_media(name: str) -> bool:
    return Path(name).suffix.lower() in VIDEO_EXTENSIONS | IMAGE_EXTENSIONS


def _expand_one(spec: str) -> list[tuple[str, int]]:
    if _is_url(spec):
        return _expand_remote(spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        return [(str(p), p.stat().st_size) for p in sorted(path.rglob("*")) if p.is_file() and _is_media(p.name)]
    if path.is_file():
        return [(str(path), path.stat().st_size)]
    matches = sorted(glob.glob(str(path), recursive=True))
    if matches:
        return [(m, os.path.getsize(m)) for m in matches if os.path.isfile(m) and _is_media(m)]
    raise UsageError(f"no such file, folder or glob: {spec}")


def _expand_remote(url: str) -> list[tuple[str, int]]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    protocol = url.split("://", 1)[0]

    def full(p: str) -> str:
        return f"{protocol}://{p.lstrip('/')}" if protocol != "file" else f"file:///{p.lstrip('/')}"

    if any(c in path for c in "*?["):
        entries = [p for p in fs.glob(path) if fs.isfile(p)]
    elif fs.isdir(path):
        entries = [p for p in fs.find(path) if _is_media(p)]
    elif fs.exists(path):
        entries = [path]
    else:
        raise UsageError(f"no such file, folder or glob: {url}")
    return [(full(p), int(fs.size(p) or 0)) for p in sorted(entries) if _is_media(p)]


def _read_remote_text(url: str) -> str:
    import fsspec

    with fsspec.open(url, "rt", encoding="utf-8") as f:
        return f.read()


# ---- the work on one file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """What every worker needs: the run's options (without a source) and where outputs go."""

    options: object  # app.RunOptions
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

    if _is_url(job.output_dir):
        return
    root = Path(job.output_dir).expanduser()
    outputs = [("output", root / MANIFEST)]
    outputs += [("output", root / name) for item in items for name in output_names(item, job)]
    check_not_an_input(outputs, [Path(item.source) for item in items if not _is_url(item.source)])


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
        from .app import run

        with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX) as scratch:
            scratch = Path(scratch)
            local = _local_copy(item.source, scratch)
            made = scratch / "out"
            names = output_names(item, self.job)
            (made / names[0]).parent.mkdir(parents=True, exist_ok=True)
            out = self.job.options.output
            output = dataclasses.replace(
                out, results=made / names[0], video=made / names[1] if self.job.video else None,
                arrays=made / names[-1] if self.job.arrays else None, display=False, stats=made / ".stats.json",
                progress=False)
            options = dataclasses.replace(
                self.job.options, output=output,
                source=dataclasses.replace(self.job.options.source, source=str(local), pacing="every"))
            if self.job.arrays:
                (made / names[-1]).mkdir(parents=True, exist_ok=True)
            try:
                source = _open_copy(local, item.source) if local != Path(item.source) else str(local)
                run(options, source=source, models=self.models,
                    progress=_FileFrames(item.source, self.report) if self.report else None)
            except Exception as exc:  # an error about the local copy is about the URL to the user
                exc.args = tuple(a.replace(str(local), item.source) if isinstance(a, str) else a for a in exc.args)
                raise
            frames = json.loads((made / ".stats.json").read_text())["frames"]["displayed"]
            for name in names:
                _publish(made / name, self.job.output_dir, name)
            return int(frames)


class _FileFrames:
    """What app.run counts one file's frames on, passed on to a Worker's `report`."""

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
    if not _is_url(source):
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


def _remote(output_dir: str, name: str):
    """(filesystem, path) of output_dir/name for an fsspec URL output folder."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(output_dir)
    return fs, f"{root.rstrip('/')}/{name}"


def _publish(made: Path, output_dir: str, name: str) -> None:
    """Move a finished output (a file or a folder) to output_dir/name: renamed locally (atomic for a
    file), uploaded for an fsspec URL."""
    if _is_url(output_dir):
        fs, target = _remote(output_dir, name)
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


# ---- the manifest ----------------------------------------------------------------------------------------


class Manifest:
    """DIR/manifest.jsonl: one line per file and attempt, appended as files finish (an fsspec URL
    folder, where objects cannot be appended to, gets the whole manifest written again)."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self._text = self._read_text()
        self.lines: list[dict] = []
        for line in self._text.splitlines():
            try:
                self.lines.append(json.loads(line))
            except ValueError:  # a line cut short by a crash: ignored
                continue

    def _read_text(self) -> str:
        if _is_url(self.output_dir):
            fs, path = _remote(self.output_dir, MANIFEST)
            return fs.cat_file(path).decode() if fs.exists(path) else ""
        path = Path(self.output_dir) / MANIFEST
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def done_with(self, key: str) -> set[str]:
        """Sources whose latest line says ok (or skipped) with this key."""
        latest = {}
        for line in self.lines:
            latest[line["source"]] = line
        return {s for s, line in latest.items() if line["status"] in ("ok", "skipped") and line.get("key") == key}

    def exists(self) -> bool:
        if _is_url(self.output_dir):
            fs, path = _remote(self.output_dir, MANIFEST)
            return bool(fs.exists(path))
        return (Path(self.output_dir) / MANIFEST).exists()

    def add(self, outcome: Outcome, key: str) -> None:
        line = {"source": outcome.source, "status": outcome.status, "frames": outcome.frames, "fps": outcome.fps,
                "seconds": outcome.seconds, "error": outcome.error, "worker": outcome.worker, "key": key}
        self.lines.append(line)
        # after a line cut short by a crash, start on a line of its own
        text = ("\n" if self._text and not self._text.endswith("\n") else "") + json.dumps(line) + "\n"
        self._text += text
        if _is_url(self.output_dir):
            fs, path = _remote(self.output_dir, MANIFEST)
            fs.pipe_file(path, self._text.encode())
            return
        path = Path(self.output_dir) / MANIFEST
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def outputs_exist(item: Item, job: Job) -> bool:
    for name in output_names(item, job):
        if _is_url(job.output_dir):
            fs, path = _remote(job.output_dir, name)
            if not fs.exists(path):
                return False
        elif not (Path(job.output_dir) / name).exists():
            return False
    return True


__all__ = ["Item", "Job", "Manifest", "Outcome", "Worker", "check_outputs_are_not_inputs", "expand_sources",
           "options_key", "output_names", "outputs_exist"]

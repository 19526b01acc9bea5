"""The outputs of a run with several sources: a short label per source, each path option resolved per
source (plan_outputs, before anything opens), and every resolved path checked as one source's are
(check_multi_outputs, once the sources are open and before a model loads).

The rules, per path option (--output, --results, --arrays, --rerun FILE.rrd, --mcap, --stats):
- "{source}" (the source's label, see source_labels) or "{index}" (its position in the list given, from 0)
  in the path: one file per source, the placeholder replaced;
- else a folder (one that exists, a path ending in "/", or one with no extension): one file per source in
  it, `<folder>/<label><extension>` (--arrays: a folder per source, `<folder>/<label>/`);
- else --results: one JSON Lines file for every source (each line names its source), and --stats: one file
  with every source's section; --output, --mcap and --rerun FILE.rrd: refused (several videos cannot
  share a file).
--foxglove (one server, whose channels carry no source) is refused with several sources; the window and
--serve show every source in one mosaic, so the per-source options have them off.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Sequence
from urllib.parse import urlsplit

from .errors import UsageError
from .outputs import check_outputs, input_paths
from .sinks._paths import check_not_an_input
from .sinks.results import STDOUT

if TYPE_CHECKING:
    from .options import OutputOptions, RunOptions

PLACEHOLDERS = ("{source}", "{index}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_LABEL = 48
_WILDCARDS = "*?["

# option -> (its OutputOptions field, the extension of the files it writes in a folder; None: a folder each)
_PATH_OPTIONS = {"--output": ("video", ".mp4"), "--results": ("results", ".jsonl"), "--arrays": ("arrays", None),
                 "--rerun": ("rerun", ".rrd"), "--mcap": ("mcap", ".mcap"), "--stats": ("stats", ".json")}
_SHARED = ("--results", "--stats")  # without a placeholder or a folder: one file for every source


def source_label(name: str) -> str:
    """A short, filesystem-safe name for one source (not yet unique): camera0 for "0" or "camera 0", the
    file's stem (front for /data/front.mp4), a folder's or a glob's folder name, a URL's host and path
    (10.0.0.5_cam1 for rtsp://user:pw@10.0.0.5:554/cam1: no credentials, no port). Letters, digits, ".",
    "_" and "-" only, at most 48 characters; "source" when nothing is left."""
    text = str(name).strip()
    camera = re.fullmatch(r"(?:camera\s*)?(\d+)", text)
    if camera:
        raw = f"camera{camera.group(1)}"
    elif "://" in text:
        parts = urlsplit(text)
        raw = "_".join([parts.hostname or "", *(p for p in parts.path.split("/") if p)])
    else:
        path = PurePath(os.path.expanduser(text))
        plain = [p for p in path.parts if not any(ch in p for ch in _WILDCARDS)]
        if len(plain) < len(path.parts):  # a glob: the folder its matches are in
            raw = plain[-1] if plain else ""
        else:
            raw = path.name if Path(path).is_dir() else path.stem
    label = _UNSAFE.sub("_", raw).strip("._-")[:_MAX_LABEL].strip("._-")
    return label or "source"


def source_labels(names: Sequence[str]) -> list[str]:
    """source_label of each, made unique: the first of a name keeps it, the next ones get -2, -3... (told
    apart without regard to case, as some filesystems do: Front and front are one name there)."""
    labels: list[str] = []
    taken: set[str] = set()
    for name in names:
        base = label = source_label(name)
        count = 1
        while label.casefold() in taken:
            count += 1
            label = f"{base}-{count}"
        taken.add(label.casefold())
        labels.append(label)
    return labels


@dataclass(frozen=True)
class MultiOutputs:
    """What a run with several sources writes. per_source: each source's OutputOptions (aligned with the
    sources given), its own files only: no window and no web view (one mosaic shows every source), and no
    results or stats file when those are shared. results: the one JSON Lines file of every source (None:
    none, or one per source); stats: the one stats file with every source (None: none, or one per source)."""

    labels: tuple[str, ...]
    per_source: tuple[OutputOptions, ...]
    results: Path | None
    stats: Path | None


def plan_outputs(out: OutputOptions, sources: Sequence[str]) -> MultiOutputs:
    """Each path option of `out` resolved for each of `sources` (see the module's rules). Pure: nothing is
    opened or checked on disk but whether a path is a folder. UsageError (one line) for an output several
    sources cannot share, --foxglove, and two outputs resolved to the same path."""
    if out.foxglove is not None:
        raise UsageError(f"--foxglove serves one camera's channels (their topics name no source), and {len(sources)} "
                         "sources run: write --mcap {source}.mcap instead, or run one source")
    labels = source_labels(sources)
    per_source = [replace(out, display=False, serve=None) for _ in sources]
    shared: dict[str, Path | None] = dict.fromkeys(_SHARED)
    for option, (name, extension) in _PATH_OPTIONS.items():
        value = getattr(out, name)
        if value is None or (option == "--rerun" and not _is_rerun_path(value)):
            continue  # not asked for, or a viewer (spawn, connect): one recording per source in it
        paths = _resolve(option, value, extension, labels, len(sources))
        if paths is None:  # one file for every source
            shared[option] = Path(value)
            paths = [None] * len(sources)
        for i, path in enumerate(paths):
            per_source[i] = replace(per_source[i], **{name: str(path) if option == "--rerun" and path else path})
    _check_distinct(per_source, labels, shared)
    return MultiOutputs(tuple(labels), tuple(per_source), shared["--results"], shared["--stats"])


def _is_rerun_path(target) -> bool:
    """--rerun names a recording file (or a folder of them), not a viewer (spawn, connect[=URL])."""
    kind = str(target).partition("=")[0]
    return kind not in ("spawn", "connect")


def fill_placeholders(out: OutputOptions, source: str) -> OutputOptions:
    """One source's `out` with {source} and {index} in its paths replaced (its label, 0), as they would be
    among several sources; the rest as given (a run of one source writes where it is told)."""
    label = source_label(source)
    filled = {name: _filled(getattr(out, name), label, 0, option) for option, (name, _) in _PATH_OPTIONS.items()
              if getattr(out, name) is not None and _has_placeholder(getattr(out, name))}
    return replace(out, **filled) if filled else out


def _has_placeholder(value) -> bool:
    return any(p in os.fspath(value) for p in PLACEHOLDERS)


def _filled(value, label: str, index: int, option: str):
    text = os.fspath(value).replace("{source}", label).replace("{index}", str(index))
    return text if option == "--rerun" else Path(text)  # --rerun's value is text: a file, spawn or connect


def _resolve(option: str, value, extension: str | None, labels: list[str], count: int) -> list[Path] | None:
    """One path per source for one option's value; None: the one file every source shares."""
    text = os.fspath(value)
    if _has_placeholder(text):
        return [Path(_filled(text, label, i, "")) for i, label in enumerate(labels)]
    if option == "--results" and text == STDOUT:
        return None
    if extension is None or _is_folder(text):
        return [Path(text) / (label + (extension or "")) for label in labels]
    if option in _SHARED:
        return None
    what = {"--output": "video", "--mcap": "MCAP file", "--rerun": "recording"}[option]
    suffix = Path(text).suffix
    raise UsageError(f"{option} {text}: {count} sources write a {what} each: put {{source}} or {{index}} in the "
                     f"name ({Path(text).stem}_{{source}}{suffix}), or give a folder ({Path(text).stem}/)")


def _is_folder(text: str) -> bool:
    """A path that names a folder: one that is, one ending in a separator, one without an extension."""
    path = Path(text).expanduser()
    return text.endswith(("/", os.sep)) or path.is_dir() or not path.suffix


def _check_distinct(per_source: list[OutputOptions], labels: list[str], shared: dict) -> None:
    """UsageError when two outputs (of any sources and options) resolve to the same path."""
    seen: dict[str, str] = {str(Path(p).expanduser().absolute()): f"{option} (every source)"
                            for option, p in shared.items() if p is not None and str(p) != STDOUT}
    for label, out in zip(labels, per_source):
        for option, (name, _) in _PATH_OPTIONS.items():
            path = getattr(out, name)
            if path is None or (option == "--rerun" and not _is_rerun_path(path)):
                continue
            key = str(Path(path).expanduser().absolute())
            mine = f"{option} of {label}"
            if key in seen:
                raise UsageError(f"{seen[key]} and {mine} are the same path, {path}: give each source its own "
                                 "(put {source} or {index} in the name)")
            seen[key] = mine


def check_multi_outputs(options: RunOptions, plan: MultiOutputs, infos: Sequence) -> None:
    """Every output of `plan` checked, before a model loads, as check_outputs checks one source's (each
    source with its SourceInfo; None: a source that did not open, which writes nothing), the shared files
    with the first source; and no output of any source is an input of another."""
    outputs, inputs = [], []
    first = True
    for spec, out, info in zip(options.source.sources, plan.per_source, infos):
        if info is None:
            continue
        if first:  # the shared files, and the window's snapshot folder, checked once
            out = replace(out, results=out.results or plan.results, stats=out.stats or plan.stats,
                          display=options.output.display)
            first = False
        one = replace(options, source=replace(options.source, source=spec, sources=(spec,)), output=out)
        check_outputs(one, info)
        inputs += input_paths(one, info)
        outputs += _named_outputs(out)
    check_not_an_input(outputs, inputs)


def _named_outputs(out: OutputOptions) -> list[tuple[str, Path]]:
    """(option, path) of each output file of `out`, as check_not_an_input takes them."""
    named = []
    for option, (name, _) in _PATH_OPTIONS.items():
        path = getattr(out, name)
        if path is None or (option == "--rerun" and not str(path).lower().endswith(".rrd")) or str(path) == STDOUT:
            continue
        named.append((option, Path(path).expanduser()))
    return named

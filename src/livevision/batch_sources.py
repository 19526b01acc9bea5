"""`livevision batch`'s inputs: files, folders, globs, @lists and fsspec URLs expanded to Items, and the
fsspec side of its output folder."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .sources.images import IMAGE_EXTENSIONS

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv"})


@dataclass(frozen=True)
class Item:
    """One input: where it is, its path below the inputs' common folder, its size (largest first)."""

    source: str
    relative: str
    size: int


def is_url(text: str) -> bool:
    return "://" in text


def expand_sources(specs: list[str]) -> list[Item]:
    """Files, folders, globs, @lists and fsspec URLs -> one Item per media file, with its path below the
    common folder of all of them."""
    found: list[tuple[str, int]] = []
    for spec in specs:
        if spec.startswith("@"):
            lines = Path(spec[1:]).expanduser().read_text(encoding="utf-8").splitlines() \
                if not is_url(spec[1:]) else _read_remote_text(spec[1:]).splitlines()
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
    return "/" + source.split("://", 1)[1].lstrip("/") if is_url(source) else os.path.abspath(source)


def _is_media(name: str) -> bool:
    return Path(name).suffix.lower() in VIDEO_EXTENSIONS | IMAGE_EXTENSIONS


def _expand_one(spec: str) -> list[tuple[str, int]]:
    if is_url(spec):
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


def remote(output_dir: str, name: str):
    """(filesystem, path) of output_dir/name for an fsspec URL output folder."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(output_dir)
    return fs, f"{root.rstrip('/')}/{name}"

"""What the export cache holds (`livevision models`), and emptying it (`--clear`).

Each entry is a folder with livevision's metadata file: an export (the ONNX model of a Hub id or a
local folder for one task) or a precision variant chosen for a device. Only such folders, the
cache's own lock folder and its record of variant speeds are ever removed: anything else a user put
in the cache folder stays.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .cache import CACHE_DIR_ENV, METADATA_FILE, ModelCache, checkout_models_dir, default_cache_dir
from .variant_history import HISTORY_FILE

LOCKS_FOLDER = ".locks"


@dataclass(frozen=True)
class CachedModel:
    folder: Path
    source: str  # the Hub id or local folder it was exported from
    task: str
    model_type: str
    what: str  # "export", or "variant: <chosen kind> for <provider>[, input N]"
    size_bytes: int  # its files', hard links included (a variant that chose fp32 links the export's model.onnx)
    files: frozenset[tuple[int, int, int]] = frozenset()  # (st_dev, st_ino, size) of each file


def disk_bytes(entries: list[CachedModel]) -> int:
    """The bytes `entries` take on disk: a file hard-linked into several entries counts once."""
    return sum(size for _, _, size in frozenset().union(*(m.files for m in entries)))


def shared_bytes(entry: CachedModel, entries: list[CachedModel]) -> int:
    """The bytes of `entry` that are hard links of another entry's files (not extra disk space)."""
    others = frozenset().union(*(m.files for m in entries if m is not entry))
    return sum(size for (dev, ino, size) in entry.files if (dev, ino, size) in others)


def cache_location(cache_dir: str | Path | None) -> tuple[Path, str]:
    """The cache folder a run with this --cache-dir uses, and why that one."""
    if cache_dir is not None:
        return Path(cache_dir), "--cache-dir"
    if os.environ.get(CACHE_DIR_ENV):
        return default_cache_dir(), f"${CACHE_DIR_ENV}"
    checkout = checkout_models_dir()
    if checkout is not None:
        return checkout, "the models/ folder of the livevision checkout this install runs from"
    return default_cache_dir(), "the user cache folder (no --cache-dir given)"


def cached_models(cache: ModelCache) -> list[CachedModel]:
    """The complete entries of `cache`, sorted by source then folder name."""
    found = []
    for meta_path in sorted(cache.root.glob(f"*/{METADATA_FILE}")):
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        notes, options = meta.get("notes") or {}, (meta.get("key") or {}).get("options") or {}
        folder = meta_path.parent
        stats = [p.stat() for p in folder.rglob("*") if p.is_file()]
        found.append(CachedModel(
            folder=folder,
            source=str(notes.get("source") or (meta.get("key") or {}).get("model") or "?"),
            task=str(notes.get("task") or options.get("task") or "?"),
            model_type=str(notes.get("model_type") or "?"),
            what=_what(options, notes),
            size_bytes=sum(st.st_size for st in stats),
            files=frozenset((st.st_dev, st.st_ino, st.st_size) for st in stats),
        ))
    return sorted(found, key=lambda m: (m.source, m.folder.name))


def _what(options: dict, notes: dict) -> str:
    if "precision" not in options:
        return "export"
    chosen = (notes.get("precision") or {}).get("chosen") or options["precision"]
    provider = str(options.get("provider") or "?").replace("ExecutionProvider", "")
    size = f", input {options['input_size']}" if options.get("input_size") else ""
    return f"variant: {chosen} for {provider}{size}"


def clear_cache(cache: ModelCache) -> list[Path]:
    """Remove every entry of `cache` (and its locks); return the entry folders removed."""
    removed = [m.folder for m in cached_models(cache)]
    # folders left half-built by a crash have no metadata file yet, only the temporary name
    removed += [p for p in cache.root.glob(".tmp-*") if p.is_dir()] if cache.root.is_dir() else []
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(cache.root / LOCKS_FOLDER, ignore_errors=True)
    (cache.root / HISTORY_FILE).unlink(missing_ok=True)
    return removed

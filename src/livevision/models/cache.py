"""The on-disk cache of exported models.

One entry is a folder named `<slug>-<digest>` holding `model.onnx`, the model's
`config.json` and `preprocessor_config.json`, and `livevision.json`: the key, the
files with their sizes, and export notes. The metadata file is written last and the
folder is renamed into place in one step, so a crash never leaves an entry that looks
complete; an entry whose files do not match its metadata is treated as missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..errors import CacheError

log = logging.getLogger(__name__)

METADATA_FILE = "livevision.json"
ONNX_FILE = "model.onnx"
CONFIG_FILE = "config.json"
PROCESSOR_FILE = "preprocessor_config.json"

# Bump when the way livevision exports changes, so old entries are rebuilt.
EXPORT_FORMAT = 1
# Libraries whose versions change what an export produces.
EXPORT_LIBRARIES = ("torch", "transformers", "optimum", "optimum-onnx", "onnx")


def export_library_versions() -> dict[str, str | None]:
    """Installed versions of the export libraries, read without importing them."""
    versions: dict[str, str | None] = {}
    for name in EXPORT_LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def checkout_models_dir() -> Path | None:
    """`models/` of the livevision checkout this code runs from (an editable install), else None."""
    root = Path(__file__).resolve().parents[3]
    if (root / "pyproject.toml").is_file() and (root / "models").is_dir() and (root / "src" / "livevision").is_dir():
        return root / "models"
    return None


#: An environment variable naming the cache folder, for when no cache_dir / --cache-dir is given.
CACHE_DIR_ENV = "LIVEVISION_CACHE_DIR"


def default_cache_dir() -> Path:
    """$LIVEVISION_CACHE_DIR when set, else `models/` of the checkout when running from one, else the
    user's cache directory."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    checkout = checkout_models_dir()
    if checkout is not None:
        return checkout
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "livevision" / "models"


@dataclass(frozen=True)
class CacheKey:
    """Everything an export depends on.

    model: a Hub id or the absolute path of a local folder.
    revision: the Hub revision, or a fingerprint of a local folder's files.
    options: export options (task, opset, ...), JSON-serialisable.
    versions: export library versions.
    """

    model: str
    revision: str
    options: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"model": self.model, "revision": self.revision, "options": self.options, "versions": self.versions}

    @property
    def digest(self) -> str:
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def folder_name(self) -> str:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_",
                      self.model.strip("/").split("/")[-1] if os.path.isabs(self.model) else self.model)
        return f"{slug[:60]}-{self.digest}"


@dataclass(frozen=True)
class CacheEntry:
    """path: the entry's folder. label: how messages name the model when not by its export's source: the
    folder the user passed, for an export copied from another machine (its source is a path over there)."""

    path: Path
    metadata: dict
    label: str | None = field(default=None, compare=False)

    @property
    def onnx_path(self) -> Path:
        return self.path / ONNX_FILE

    @property
    def source(self) -> str:
        """The model as messages name it: the label, else the Hub id or folder it was exported from."""
        return self.label or self.metadata.get("notes", {}).get("source") or self.path.name

    def read_json(self, name: str) -> dict:
        with open(self.path / name, encoding="utf-8") as f:
            return json.load(f)


class ModelCache:
    """A folder of exported models. `root=None` picks `default_cache_dir()`."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def lookup(self, key: CacheKey) -> CacheEntry | None:
        """The complete entry for key, or None."""
        return read_entry(self.root / key.folder_name)

    def lookup_any_version(self, key: CacheKey) -> CacheEntry | None:
        """The newest complete entry for the same model, revision and options, whatever
        library versions built it. For machines that run exports but cannot make them."""
        candidates = []
        for meta_path in self.root.glob(f"*/{METADATA_FILE}"):
            entry = read_entry(meta_path.parent)
            if entry is None:
                continue
            stored = entry.metadata.get("key", {})
            if (stored.get("model"), stored.get("revision"), stored.get("options")) == (
                key.model, key.revision, key.options
            ):
                candidates.append(entry)
        return max(candidates, key=lambda e: e.metadata.get("created", 0), default=None)

    def discard(self, key: CacheKey) -> None:
        """Remove key's entry, if any."""
        with self._lock(key):
            shutil.rmtree(self.root / key.folder_name, ignore_errors=True)

    def store(self, key: CacheKey, build: Callable[[Path], dict]) -> CacheEntry:
        """Build an entry with `build(tmp_folder) -> notes` unless one exists, atomically.

        A lock serialises builders of the same key across processes; the folder is built
        aside and renamed into place after its metadata is written.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / key.folder_name
        with self._lock(key):
            entry = read_entry(final)
            if entry is not None:
                return entry  # another process built it while we waited
            if final.exists():
                log.warning("cache entry %s is incomplete or corrupt; rebuilding it", final)
                shutil.rmtree(final, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key.digest}-", dir=self.root))
            try:
                notes = build(tmp)
                files = {}
                for path in sorted(tmp.iterdir()):
                    if path.is_file():
                        _fsync_file(path)
                        files[path.name] = path.stat().st_size
                if ONNX_FILE not in files:
                    raise CacheError(f"export produced no {ONNX_FILE} in {tmp}")
                metadata = {"key": key.as_dict(), "files": files, "created": time.time(), "notes": notes}
                write_json_atomic(tmp / METADATA_FILE, metadata)
                _fsync_dir(tmp)
                tmp.chmod(0o755)  # mkdtemp makes it private; an entry is as readable as its parent
                os.replace(tmp, final)
                _fsync_dir(self.root)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        entry = read_entry(final)
        if entry is None:
            raise CacheError(f"cache entry {final} is incomplete right after writing it")
        return entry

    def _lock(self, key: CacheKey) -> contextlib.AbstractContextManager[None]:
        return self.lock(key.digest)

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """An exclusive lock across processes, named `name` in this cache (entries use their key's digest)."""
        lock_dir = self.root / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with open(lock_dir / f"{name}.lock", "a+b") as handle:
            try:
                import fcntl
            except ImportError:  # Windows: no advisory locks; the atomic rename still holds
                yield
                return
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def read_entry(folder: Path) -> CacheEntry | None:
    """The complete cache entry in `folder` (its metadata read and every file the right size), or None.
    A folder copied out of a cache is still one: runtime-only machines run such copies."""
    try:
        with open(folder / METADATA_FILE, encoding="utf-8") as f:
            metadata = json.load(f)
        files = metadata["files"]
        for name, size in files.items():
            if (folder / name).stat().st_size != size:
                log.warning("cache entry %s: %s has the wrong size", folder, name)
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return CacheEntry(folder, metadata)


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

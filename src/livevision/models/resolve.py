"""Turn what the user names (a Hub id with an optional revision, or a local folder in
Hugging Face format) into a cache identity and, when an export is needed, a local folder."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelNotFoundError, UsageError

log = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json",
                "pytorch_model.bin", "pytorch_model.bin.index.json")
# What an export needs from the Hub; safetensors first, .bin only when a repo has no safetensors.
_HUB_PATTERNS = ["config.json", "preprocessor_config.json", "*.safetensors", "model.safetensors.index.json"]
_HUB_PATTERNS_BIN = ["config.json", "preprocessor_config.json", "pytorch_model*.bin", "pytorch_model.bin.index.json"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


@dataclass(frozen=True)
class ModelRef:
    """A resolved model name. `local_path` is set for local folders, `hub_id` for Hub models."""

    name: str
    revision: str
    local_path: Path | None = None
    hub_id: str | None = None

    @property
    def key_model(self) -> str:
        return str(self.local_path) if self.local_path is not None else self.hub_id


def parse_model_ref(model: str | Path, revision: str | None = None) -> ModelRef:
    """Classify `model` as a local folder or a Hub id without touching the network."""
    text = str(model).strip()
    path = Path(text).expanduser()
    if path.exists():
        if revision is not None:
            raise UsageError(f"--revision applies to Hub ids, not to the local folder {text!r}")
        folder = path.resolve()
        check_model_folder(folder)
        return ModelRef(name=text, revision=folder_fingerprint(folder), local_path=folder)
    if text.startswith((".", "/", "~")) or "\\" in text or text.count("/") > 1 or not _HUB_ID.match(text):
        raise ModelNotFoundError(f"model folder not found: {text}")
    return ModelRef(name=text, revision=revision or "main", hub_id=text)


def check_model_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise ModelNotFoundError(f"{folder} is not a folder: pass a Hub id or a Hugging Face model folder")
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(f"{folder} is not a Hugging Face model folder: it has no config.json")


def folder_fingerprint(folder: Path) -> str:
    """A cheap content fingerprint of a model folder: names, sizes and mtimes of its files."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        st = path.stat()
        h.update(f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return "local-" + h.hexdigest()[:16]


def read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ModelNotFoundError(f"missing {path.name} in {path.parent}") from None
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot read {path}: {exc}") from None


def materialize(ref: ModelRef) -> Path:
    """A local folder with the model's files (downloaded from the Hub for Hub ids)."""
    return ref.local_path if ref.local_path is not None else _download(ref)


def check_export_files(folder: Path, name: str) -> None:
    """An export needs the preprocessor settings and the weights besides config.json."""
    if not (folder / "preprocessor_config.json").is_file():
        raise ModelNotFoundError(f"{name} has no preprocessor_config.json: livevision needs it to prepare frames")
    if not any((folder / weights).is_file() for weights in WEIGHT_FILES):
        raise ModelNotFoundError(f"{name} has no weights ({' or '.join(WEIGHT_FILES[::2])})")


def _download(ref: ModelRef) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        raise ModelNotFoundError("huggingface_hub is not installed: pass a local model folder instead") from None
    try:
        folder = Path(snapshot_download(ref.hub_id, revision=ref.revision, allow_patterns=_HUB_PATTERNS))
        if not any((folder / name).is_file() for name in WEIGHT_FILES):
            folder = Path(snapshot_download(ref.hub_id, revision=ref.revision, allow_patterns=_HUB_PATTERNS_BIN))
    except Exception as exc:  # huggingface_hub raises many kinds: offline, 404, gated, network
        reason = _describe_hub_error(exc)
        raise ModelNotFoundError(
            f"cannot resolve model {ref.hub_id!r} (revision {ref.revision}): {reason}; nothing is cached for it. "
            "Download the model where the Hub is reachable (e.g. `huggingface-cli download "
            f"{ref.hub_id} --local-dir ./{ref.hub_id.split('/')[-1]}`) and pass that folder as the model"
        ) from None
    log.debug("resolved %s@%s to %s", ref.hub_id, ref.revision, folder)
    return folder


def _describe_hub_error(exc: Exception) -> str:
    name = type(exc).__name__
    if "RepositoryNotFound" in name:
        return "no such repository on the Hub (or it is private)"
    if "RevisionNotFound" in name:
        return "no such revision"
    if "GatedRepo" in name:
        return "the repository is gated: log in with `huggingface-cli login`"
    if "Offline" in name or "LocalEntryNotFound" in name or "Connection" in name or "Timeout" in name:
        return "the Hugging Face Hub is unreachable"
    return f"{name}: {str(exc).splitlines()[0][:120] if str(exc) else ''}".rstrip(": ")

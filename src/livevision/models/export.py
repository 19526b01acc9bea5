"""Export a Hugging Face model to ONNX with Optimum, into the model cache.

This module is the only one that imports torch, transformers and optimum, and only
inside `export_model`'s build step: loading a cached model never imports them.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path

from ..errors import ExportError, MissingDependencyError
from ..types import Task
from .cache import (
    CONFIG_FILE,
    EXPORT_FORMAT,
    ONNX_FILE,
    PROCESSOR_FILE,
    CacheEntry,
    CacheKey,
    ModelCache,
    export_library_versions,
)
from .registry import architecture_for
from .resolve import ModelRef, check_export_files, materialize, parse_model_ref, read_json

log = logging.getLogger(__name__)

def export_options(task: Task, opset: int | None) -> dict:
    """The options that go into a cache key. opset None lets Optimum pick each model's default."""
    return {"format": EXPORT_FORMAT, "task": task.value, "opset": opset}


def cache_key(ref: ModelRef, task: Task, opset: int | None = None) -> CacheKey:
    return CacheKey(ref.key_model, ref.revision, export_options(task, opset), export_library_versions())


def export_model(
    model: str | Path,
    task: Task | str,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    opset: int | None = None,
    force: bool = False,
) -> CacheEntry:
    """Export `model` (a Hub id or a local Hugging Face folder) for `task`, or return the
    cached export. `force=True` rebuilds the entry."""
    task = Task.parse(task)
    ref = parse_model_ref(model, revision)
    cache = ModelCache(cache_dir)
    key = cache_key(ref, task, opset)
    if force:
        cache.discard(key)
    elif (entry := cache.lookup(key)) is not None:
        return entry
    return cache.store(key, lambda tmp: _build(ref, task, key.options["opset"], tmp))


def _build(ref: ModelRef, task: Task, opset: int | None, out: Path) -> dict:
    folder = materialize(ref)
    config = read_json(folder / CONFIG_FILE)
    arch = architecture_for(config, task)  # fails fast, before importing torch
    check_export_files(folder, ref.name)
    _require_export_dependencies()
    from optimum.exporters.onnx import main_export
    from transformers import AutoConfig

    from .onnx_configs import custom_onnx_config

    _quiet_export_libraries()
    hf_config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    # Our own configs: for types Optimum cannot export, and for types it exports wrongly
    # (MaskFormer's Swin traced below its window size); None means Optimum's own.
    onnx_config = custom_onnx_config(hf_config, arch.optimum_task)
    custom = {"model": onnx_config} if onnx_config is not None else None
    log.info("exporting %s (%s) to ONNX, first use only: later runs load the cached export", ref.name, arch.model_type)
    onnx_dir = out / "optimum"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            main_export(
                str(folder),
                onnx_dir,
                task=arch.optimum_task,
                opset=opset,
                library_name="transformers",
                trust_remote_code=False,
                custom_onnx_configs=custom,
                do_validation=True,
                local_files_only=True,
            )
        except Exception as exc:  # Optimum raises plain ValueError/RuntimeError from deep inside
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExportError(f"exporting {ref.name} to ONNX failed: {first_line}") from exc
    tolerance_warnings = [str(w.message).splitlines()[0] for w in caught if "tolerance" in str(w.message)]
    if not (onnx_dir / ONNX_FILE).is_file():
        raise ExportError(f"exporting {ref.name} produced no {ONNX_FILE}")
    for path in onnx_dir.iterdir():
        if path.name.startswith(ONNX_FILE):  # model.onnx and, for > 2 GB models, model.onnx_data
            shutil.move(str(path), out / path.name)
    shutil.rmtree(onnx_dir)

    _save_configs(folder, out, hf_config, arch.has_text_queries)
    return {
        "model_type": arch.model_type,
        "task": task.value,
        "optimum_task": arch.optimum_task,
        "outputs": list(arch.outputs),
        "source": ref.name,
        "validation_warnings": tolerance_warnings,
    }


def _save_configs(folder: Path, out: Path, hf_config, text_queries: bool) -> None:
    """The processor's full settings and the model config (class defaults filled in), so the runtime can
    rebuild the pre- and post-processing from JSON alone; a zero-shot detector's tokenizer files too (its
    labels are tokenized at load: tasks/detection/text_queries)."""
    from transformers import AutoImageProcessor, AutoTokenizer

    processor = AutoImageProcessor.from_pretrained(folder, use_fast=False, trust_remote_code=False)
    processor_config = processor.to_dict()
    processor_config["image_processor_type"] = type(processor).__name__
    _write_json(out / PROCESSOR_FILE, processor_config)
    _write_json(out / CONFIG_FILE, hf_config.to_dict())
    if text_queries:
        AutoTokenizer.from_pretrained(folder, trust_remote_code=False).save_pretrained(out)


def _quiet_export_libraries() -> None:
    """transformers and optimum reset their loggers to WARNING on import and then talk about
    deprecations and optional extras; keep that off the terminal unless we are verbose."""
    if log.isEnabledFor(logging.DEBUG):
        return
    for name in ("transformers", "optimum"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _require_export_dependencies() -> None:
    missing = []
    for module in ("torch", "transformers", "optimum.exporters.onnx"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module.split(".")[0])
    if missing:
        raise MissingDependencyError(
            f"exporting a model needs {', '.join(missing)}: install torch first (e.g. `pip install torch`), "
            "then `pip install 'livevision[export]'`"
        )


def _write_json(path: Path, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, default=_json_value)


def _json_value(value) -> str:
    """What json cannot write: a torch dtype as transformers writes one ("float32": a config's dtype can
    still be a torch.dtype after from_pretrained, and "torch.float32" is not read back), else its text."""
    text = str(value)
    return text.removeprefix("torch.") if type(value).__name__ == "dtype" else text

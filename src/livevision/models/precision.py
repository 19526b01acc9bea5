"""Precision variants in the cache: `--precision auto|fp32|fp16|int8` and `--calibrate`.

A variant is a cache entry of its own, keyed by the FP32 export's key plus what the choice
depends on (precision, execution provider, ONNX Runtime version, CPU features, calibration
frames, gate thresholds). Building it runs `variants.choose_variant`: candidates are
measured on this machine and checked against FP32 by the accuracy gate; the report (every
candidate's latency, speed-up, agreement, and the choice) goes into the entry's metadata.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..types import Task
from .cache import CONFIG_FILE, ONNX_FILE, PROCESSOR_FILE, CacheEntry, CacheKey, ModelCache
from .variant_history import VariantHistory, machine_key, shape_key

log = logging.getLogger(__name__)

CALIBRATION_FRAMES = 16  # spread over a --calibrate clip
SYNTHETIC_CALIBRATION_FRAMES = 8
# The default when no --calibrate is given: synthetic photo-like frames (see
# variants.synthetic_calibration_frames). A clip from the real camera calibrates better.
SYNTHETIC_CALIBRATION = "synthetic-v1"


def calibration_id(source: str | Path | None) -> str:
    """What the cache key records about the calibration frames, from file names, sizes and
    modification times only: a warm cache must not read a calibration clip on every load."""
    if source is None:
        return SYNTHETIC_CALIBRATION
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        if not files:
            raise UsageError(f"--calibrate {source}: the folder has no files (give a video, image folder or glob)")
    elif path.exists():
        files = [path]
    else:  # a glob
        files = sorted(Path(p) for p in glob.glob(str(path)))
    if not files:
        raise UsageError(f"--calibrate {source}: no such file, folder or matching images")
    digest = hashlib.sha256()
    for file in files:
        st = file.stat()
        digest.update(f"{file.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return "files-" + digest.hexdigest()[:16]


def calibration_frames(source: str | Path | None, count: int | None = None) -> list[np.ndarray]:
    """`count` BGR frames to calibrate and check variants on: spread evenly over a video, an image
    folder or glob (default CALIBRATION_FRAMES), or the synthetic default (SYNTHETIC_CALIBRATION_FRAMES)."""
    if source is None:
        from .variants import synthetic_calibration_frames

        return synthetic_calibration_frames(count=count or SYNTHETIC_CALIBRATION_FRAMES)
    count = count or CALIBRATION_FRAMES
    from ..sources import open_source

    with open_source(source) as opened:
        total = opened.info.frame_count or count
        step = max(1, total // count)
        frames = [f.image for i, f in enumerate(opened.frames()) if i % step == 0][:count]
    if not frames:
        raise UsageError(f"--calibrate {source}: no frames could be read")
    return frames


def find_or_build_variant(fp32: CacheEntry, task: Task, *, precision: str, device: str, preprocess,
                          cache: ModelCache, calibrate: str | Path | None = None,
                          input_size: int | None = None, intra_op_threads: int | None = None,
                          allow_fallback: bool = False, config: dict | None = None) -> CacheEntry:
    """The cache entry to run for `precision` ("fp32" is the export itself; checked by check_precision).
    `preprocess` turns calibration frames into model inputs, at the input size the model will run at.
    allow_fallback: as for create_session: without it, a device whose provider is missing is an error.
    config: fp32's config.json when the caller has read it already."""
    if precision == "fp32":
        return fp32
    from .providers import provider_names, resolve_providers
    from .variant_kinds import check_precision
    from .variants import choose_variant, format_report, variant_key_options

    provider = provider_names(resolve_providers(device, allow_fallback=allow_fallback))[0]
    check_precision(precision, provider)  # before a variant is looked for or built
    calibrated_on = calibration_id(calibrate)
    stored = fp32.metadata["key"]
    key = CacheKey(stored["model"], stored["revision"],
                   {**stored["options"], **variant_key_options(precision, provider, calibrated_on),
                    "input_size": input_size},
                   stored["versions"])
    entry = cache.lookup(key)
    if entry is not None:
        return dataclasses.replace(entry, label=fp32.label)
    config = config if config is not None else fp32.read_json(CONFIG_FILE)
    model_type = config.get("model_type")

    def build(tmp: Path) -> dict:
        inputs = [preprocess(frame).pixel_values for frame in calibration_frames(calibrate)]
        history = VariantHistory(cache, machine_key(provider), shape_key(fp32.onnx_path, model_type, inputs[0].shape))
        chosen, report = choose_variant(
            fp32.onnx_path, tmp / "candidates", task=task, model_type=model_type, calibration_inputs=inputs,
            device=device, precision=precision, config=config,
            calibration_note=calibrated_on, intra_op_threads=intra_op_threads, allow_fallback=allow_fallback,
            skip=history.slower_kinds(), label=fp32.source,
        )
        history.record(report, fp32.source, report["measurement"]["min_speedup"])
        _link_or_copy(chosen, tmp / ONNX_FILE)
        shutil.rmtree(tmp / "candidates", ignore_errors=True)
        for name in (CONFIG_FILE, PROCESSOR_FILE):
            shutil.copy2(fp32.path / name, tmp / name)
        log.info("%s: %s", fp32.source, format_report(report))
        return {**fp32.metadata.get("notes", {}), "precision": report}

    return dataclasses.replace(cache.store(key, build), label=fp32.label)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)

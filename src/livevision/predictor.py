"""Load a model for a task and run it on frames: preprocess -> ONNX Runtime -> postprocess.

`load_model` finds the cached export (exporting on first use) and never imports torch or
transformers when the cache is warm.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import CacheError, MissingDependencyError, UsageError
from .graphs.chain import DeviceInput
from .heads import ClassificationOptions, Head, Result, SegmentationOptions, head_for
from .models.cache import CONFIG_FILE, METADATA_FILE, PROCESSOR_FILE, CacheEntry, ModelCache, read_entry
from .models.registry import DEFAULT_MODELS, Architecture, architecture_for
from .models.resolve import parse_model_ref
from .models.session import create_session
from .preprocessing.input_size import require_dynamic_input, with_input_size
from .preprocessing.preprocess import build_preprocessor
from .types import PreparedInput, Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PostprocessOptions:
    """Per-task knobs. top_k, function_to_apply: classification. segmentation_mode: for MaskFormer/Mask2Former
    ("panoptic" like the HF pipeline's default, "instance" or "semantic"); threshold,
    mask_threshold and overlap_mask_area_threshold as in the HF post-processing."""

    top_k: int = ClassificationOptions.top_k
    function_to_apply: str | None = ClassificationOptions.function_to_apply
    segmentation_mode: str = SegmentationOptions.mode
    threshold: float = SegmentationOptions.threshold
    mask_threshold: float = SegmentationOptions.mask_threshold
    overlap_mask_area_threshold: float = SegmentationOptions.overlap_mask_area_threshold

    def classification(self) -> ClassificationOptions:
        return ClassificationOptions(top_k=self.top_k, function_to_apply=self.function_to_apply)

    def segmentation(self) -> SegmentationOptions:
        return SegmentationOptions(mode=self.segmentation_mode, threshold=self.threshold,
                                   mask_threshold=self.mask_threshold,
                                   overlap_mask_area_threshold=self.overlap_mask_area_threshold)


@dataclass(frozen=True)
class RuntimeOptions:
    """How a model runs.

    device: auto (best available), cpu, cuda, tensorrt, openvino, coreml, directml (see
        models.providers); allow_fallback: run on the CPU, with a warning, when the device's
        provider is missing, instead of failing. fp16: FP16 TensorRT engines.
    intra_op_threads: ONNX Runtime threads (default: one per physical core).
    live: the model waits for frames between runs (no thread spinning).
    resize: "exact" (identical to the HF processors) or "fast" (OpenCV's resize).
    input_size: a lower (or higher) model input, short side in pixels, where the model takes it.
    pre_post: where pre- and post-processing run: "host" (numpy/OpenCV, `resize` applies), "device"
        (ONNX graphs on the model's provider, tensors kept there: see livevision.graphs) or "auto"
        (device on GPU providers, host on the CPU; see PRE_POST_AUTO).
    batch: in `every` mode, how many consecutive frames may go through the model as one batch
        (models with a dynamic batch axis): a number, or "auto" (1 on the CPU provider, where
        batching measured no faster; on other providers the fastest of BATCH_SIZES per frame,
        measured on the first frames, see Predictor.choose_batch_size). The live modes run one frame.
    """

    device: str = "auto"
    allow_fallback: bool = False
    fp16: bool = False
    intra_op_threads: int | None = None
    live: bool = False
    resize: str = "exact"
    input_size: int | None = None
    pre_post: str = "auto"
    batch: int | str = "auto"

    def __post_init__(self) -> None:
        if self.batch != "auto" and (isinstance(self.batch, bool) or not isinstance(self.batch, int)
                                     or self.batch < 1):
            raise UsageError(f"batch must be a positive number or 'auto', got {self.batch!r}")


#: Batch sizes "auto" tries, and how much faster per frame a batch must be to be kept (timing noise).
BATCH_SIZES = (1, 2, 4, 8)
BATCH_MIN_GAIN = 1.1

PRE_POST_CHOICES = ("auto", "host", "device")
#: What "auto" picks per provider: on the CPU the numpy path measured faster (BENCHMARKS.md), on a GPU
#: the host pre/post-processing was the limit (3-35 % of the session's rate on an H200).
PRE_POST_AUTO = {"CPUExecutionProvider": "host"}


class Predictor:
    """One exported model ready to run on BGR uint8 frames: preprocess -> infer -> postprocess
    (the engine's StagedModel), or all three with `predictor(frame)`. Its task's head is chosen once."""

    def __init__(self, entry: CacheEntry, task: Task, *, runtime: RuntimeOptions | None = None,
                 options: PostprocessOptions | None = None):
        runtime = runtime or RuntimeOptions()
        self.entry = entry
        self.task = task
        self.runtime = runtime
        self.config = entry.read_json(CONFIG_FILE)
        self.processor_config = entry.read_json(PROCESSOR_FILE)
        self.architecture: Architecture = architecture_for(self.config, task)
        if runtime.input_size is not None:
            self.processor_config = with_input_size(self.processor_config, self.config, runtime.input_size,
                                                    name=self.name)
        self.options = options or PostprocessOptions()
        self.head: Head = head_for(task, self.architecture, self.config,
                                   classification=self.options.classification(),
                                   segmentation=self.options.segmentation())
        self.preprocessor = build_preprocessor(self.processor_config, resize=runtime.resize)
        self.session = create_session(
            entry.onnx_path, runtime.device, intra_op_threads=runtime.intra_op_threads, live=runtime.live,
            engine_cache_dir=entry.path.parent / ".engines" / entry.path.name, fp16=runtime.fp16,
            allow_fallback=runtime.allow_fallback,
        )
        provider = self.session.get_providers()[0]
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        if runtime.input_size is not None:
            require_dynamic_input(model_input.shape, self.name)
        outputs = {x.name: x for x in self.session.get_outputs()}
        missing = [o for o in self.architecture.outputs if o not in outputs]
        if missing:
            raise CacheError(f"ONNX model {entry.onnx_path} lacks outputs {missing}: re-export it with --force")
        self.depth_kind = self.head.kind if task is Task.DEPTH else None
        self.provider = provider
        # A fixed batch axis (some exports) takes one frame: no batching.
        self.batchable = not isinstance(model_input.shape[0], int)
        self._batcher = None
        self.pre_post = _resolve_pre_post(runtime.pre_post, provider)
        log.info("%s runs on %s, pre/post-processing on the %s", self.name, provider, self.pre_post)
        self._device_pre = self._device_post = self._binder = None
        if self.pre_post == "device":
            self._build_device_stages([outputs[o].shape for o in self.architecture.outputs])

    def _build_device_stages(self, output_shapes) -> None:
        from .graphs.chain import Binder
        from .graphs.device_stages import DevicePreprocessor, device_postprocessor

        kwargs = dict(intra_op_threads=self.runtime.intra_op_threads, live=self.runtime.live)
        self._device_pre = DevicePreprocessor(self.preprocessor, self.session, **kwargs)
        self._device_post = device_postprocessor(self.head, output_shapes, self.session, **kwargs)
        self._binder = Binder(self.session)
        if self._device_post is None:
            log.info("%s: post-processing stays on the host (no device graph for it)", self.name)

    @property
    def model_type(self) -> str:
        return self.architecture.model_type

    @property
    def name(self) -> str:
        return self.entry.source

    def preprocess(self, frame: np.ndarray) -> PreparedInput | DeviceInput:
        """The model input: a PreparedInput, or with device pre-processing a DeviceInput."""
        return self._device_pre(frame) if self._device_pre is not None else self.preprocessor(frame)

    def infer(self, prepared: PreparedInput | DeviceInput) -> list:
        """Raw model outputs, in the order of `architecture.outputs`: numpy arrays, or OrtValues left on
        the device when device post-processing follows."""
        if self._binder is None:
            return self.session.run(list(self.architecture.outputs), {self.input_name: prepared.pixel_values})
        value = prepared.value if isinstance(prepared, DeviceInput) else prepared.pixel_values
        return self._binder.run(self.session, {self.input_name: value}, self.architecture.outputs,
                                to_host=self._device_post is None)

    @property
    def host_workers(self) -> int:
        """Threads for each host stage (pre-, post-processing) in `every` mode: one on the CPU provider,
        where the model needs every core; on an accelerator a few, so that those stages keep up with it."""
        from .models.session import physical_cores

        return 1 if self.provider == "CPUExecutionProvider" else max(1, min(4, physical_cores() // 4))

    @property
    def max_batch(self) -> int:
        """The largest batch `every` mode may form for this model (choose_batch_size picks within it)."""
        if not self.batchable:
            return 1
        if self.runtime.batch == "auto":
            return 1 if self.provider == "CPUExecutionProvider" else max(BATCH_SIZES)
        return int(self.runtime.batch)

    def choose_batch_size(self, prepared: PreparedInput | DeviceInput) -> int:
        """The batch size to run at: `batch` when it is a number; for "auto", the size in BATCH_SIZES
        (up to max_batch) with the lowest time per frame on `prepared` repeated, kept only when it
        beats one frame at a time by BATCH_MIN_GAIN."""
        if self.runtime.batch != "auto" or self.max_batch == 1:
            return self.max_batch
        per_frame = {}
        for size in (s for s in BATCH_SIZES if s <= self.max_batch):
            batch = [prepared] * size
            self.infer_batch(batch)  # warm-up: the provider tunes for the new shape
            runs, started = 0, time.perf_counter()
            while runs < 3 or time.perf_counter() - started < 0.2:
                self.infer_batch(batch)
                runs += 1
            per_frame[size] = (time.perf_counter() - started) / (runs * size)
        best = min(per_frame, key=per_frame.get)
        chosen = best if per_frame[1] >= BATCH_MIN_GAIN * per_frame[best] else 1
        log.info("%s: batch size %d (ms per frame: %s)", self.name, chosen,
                 ", ".join(f"{k}: {v * 1e3:.1f}" for k, v in per_frame.items()))
        return chosen

    def infer_batch(self, prepared: Sequence[PreparedInput | DeviceInput]) -> list[list]:
        """infer() of each input, run as one batch: the outputs of each, in order. The inputs must have
        the same shape (consecutive frames of one source do)."""
        if len(prepared) == 1:
            return [self.infer(prepared[0])]
        count = len(prepared)
        names = list(self.architecture.outputs)
        if self._binder is None:
            batch = np.concatenate([p.pixel_values for p in prepared])
            outputs = self.session.run(names, {self.input_name: batch})
        else:
            from .graphs.batch import Batcher

            if self._batcher is None:
                self._batcher = Batcher(self.session)
            values = [p.value if isinstance(p, DeviceInput) else self._binder.upload(p.pixel_values)
                      for p in prepared]
            outputs = self._binder.run(self.session, {self.input_name: self._batcher.concat(values)}, names,
                                       to_host=self._device_post is None)
            if self._device_post is not None:  # outputs stay on the device, split there
                per_output = [self._batcher.split(o, count) for o in outputs]
                return [[split[i] for split in per_output] for i in range(count)]
        return [[o[i : i + 1] for o in outputs] for i in range(count)]

    def postprocess(self, outputs: list, prepared: PreparedInput | DeviceInput) -> Result:
        if self._device_post is not None:
            result = self._device_post(outputs, prepared)
            if result is not None:
                return result
            outputs = [o if isinstance(o, np.ndarray) else o.numpy() for o in outputs]
        if isinstance(prepared, DeviceInput):
            prepared = prepared.to_host()
        return self.head.postprocess(outputs, prepared)

    def __call__(self, frame: np.ndarray) -> Result:
        prepared = self.preprocess(frame)
        return self.postprocess(self.infer(prepared), prepared)


def _resolve_pre_post(choice: str, provider: str) -> str:
    if choice not in PRE_POST_CHOICES:
        raise UsageError(f"pre_post must be one of {', '.join(PRE_POST_CHOICES)}, got {choice!r}")
    if choice != "auto":
        return choice
    return PRE_POST_AUTO.get(provider, "device")


def load_model(
    model: str | Path | None,
    task: Task | str,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    options: PostprocessOptions | None = None,
    precision: str = "auto",
    calibrate: str | Path | None = None,
    **runtime,
) -> Predictor:
    """A Predictor for `model` (Hub id, local folder, or None for the task's default).

    precision: "auto" (the fastest variant that passes the accuracy gate on this machine,
        FP32 otherwise), "fp32", "fp16" (GPU providers) or "int8"; see models.precision.
    calibrate: a video, image folder or glob to calibrate and check variants on (default:
        synthetic frames).
    runtime: RuntimeOptions fields (device, resize, input_size, live, ...).
    A warm cache loads without torch or transformers; a cold one exports first, which
    needs `livevision[export]`, and builds the precision variant once.
    """
    task = Task.parse(task)
    runtime = RuntimeOptions(**runtime)
    entry = find_model_entry(model, task, revision=revision, cache_dir=cache_dir, precision=precision,
                             calibrate=calibrate, runtime=runtime)
    return Predictor(entry, task, runtime=runtime, options=options)


def find_model_entry(model: str | Path | None, task: Task | str, *, revision: str | None = None,
                     cache_dir: str | Path | None = None, precision: str = "auto",
                     calibrate: str | Path | None = None, runtime: RuntimeOptions | None = None) -> CacheEntry:
    """The cache entry load_model runs, without opening a session: the export, then the precision
    variant for `runtime`'s device and input size (found in the cache, or built and timed now)."""
    task = Task.parse(task)
    runtime = runtime or RuntimeOptions()
    entry = find_or_export(model if model is not None else DEFAULT_MODELS[task], task, revision=revision,
                           cache_dir=cache_dir)
    processor_config = entry.read_json(PROCESSOR_FILE)
    if runtime.input_size is not None:  # checked here too, for callers that make no Predictor
        processor_config = with_input_size(processor_config, entry.read_json(CONFIG_FILE), runtime.input_size)
    if precision == "fp32" and calibrate is not None:
        log.warning("--calibrate %s has no effect with --precision fp32: nothing is quantized", calibrate)
    if precision == "fp32":
        return entry
    from .models.precision import find_or_build_variant

    return find_or_build_variant(
        entry, task, precision=precision, device=runtime.device, cache=ModelCache(cache_dir),
        preprocess=build_preprocessor(processor_config, resize=runtime.resize), calibrate=calibrate,
        input_size=runtime.input_size, intra_op_threads=runtime.intra_op_threads,
        allow_fallback=runtime.allow_fallback,
    )


def load_models(tasks, models=None, *, options=None, input_size=None, **kwargs) -> dict[Task, Predictor]:
    """One Predictor per task. models: {task: Hub id or folder}, default models otherwise;
    options: PostprocessOptions for all, or {task: PostprocessOptions}; input_size: {task: N}.
    Several models share the cores: each session gets its share of the intra-op threads,
    so they do not fight."""
    from .models.session import physical_cores

    models = models or {}
    if len(tasks) > 1 and kwargs.get("intra_op_threads") is None:
        kwargs["intra_op_threads"] = max(1, physical_cores() // len(tasks))
    per_task = options if isinstance(options, dict) else {t: options for t in tasks}
    sizes = input_size or {}
    return {t: load_model(models.get(t), t, options=per_task.get(t), input_size=sizes.get(t), **kwargs)
            for t in tasks}


def find_or_export(model: str | Path, task: Task, *, revision: str | None = None,
                   cache_dir: str | Path | None = None) -> CacheEntry:
    from .models.export import cache_key  # light: export.py imports torch only inside its build step

    copied = _export_folder(model, task)
    if copied is not None:
        return copied
    ref = parse_model_ref(model, revision)
    cache = ModelCache(cache_dir)
    key = cache_key(ref, task)
    entry = cache.lookup(key)
    if entry is not None:
        return entry
    if not _can_export():
        # A runtime-only install: any complete export of this model will do.
        entry = cache.lookup_any_version(key)
        if entry is not None:
            return entry
        raise MissingDependencyError(
            f"{ref.name} is not exported yet and exporting needs torch, transformers and optimum: "
            "install `livevision[export]`, or run `livevision export` on a machine that has them"
        )
    from .models.export import export_model

    return export_model(model, task, revision=revision, cache_dir=cache_dir)


def _export_folder(model: str | Path, task: Task) -> CacheEntry | None:
    """`model` when it is an export itself (a cache entry folder, copied from the machine that
    exported it: `livevision export` says which): it runs as it is, no torch needed."""
    path = Path(str(model)).expanduser()
    if not (path / METADATA_FILE).is_file():
        return None
    entry = read_entry(path)
    if entry is None:
        raise CacheError(f"{path} is an incomplete export (a file is missing or cut short): copy the folder again")
    options = entry.metadata.get("key", {}).get("options", {})
    if "precision" in options:  # a variant is chosen per machine from the export: copy that instead
        raise UsageError(f"{path} is a {options['precision']} precision variant chosen on another machine: copy "
                         "the export it was built from (the folder `livevision export` names) and pass that")
    exported_for = options.get("task")
    if exported_for != task.value:
        raise UsageError(f"{path} is an export for {exported_for}, not {task.value}")
    return replace(entry, label=str(model))  # messages name this folder, not the one exported from


def _can_export() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "optimum"))

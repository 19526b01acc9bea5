"""Run a loaded model on frames: preprocess -> ONNX Runtime -> postprocess.

`load_model` is the Python edge: it parses its keyword options into LoadOptions, resolves the model once
(livevision.loader: the cached export, exported on first use, its precision variant, its session) and
hands the LoadedModel to a Predictor, which only runs it. A warm cache loads without torch or transformers.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .errors import UsageError
from .graphs.chain import DeviceInput
from .models.openvino_session import runs_on_the_host_cpu
from .tasks.base import Head
from .tasks.registry import definition
from .loader import (  # noqa: F401  (find_model_entry, find_or_export: their callers import them from here)
    LoadedModel,
    find_model_entry,
    find_or_export,
    open_model,
    resolve_model,
)
from .models.cache import CacheEntry
from .options import BATCH_AUTO, LoadOptions, PostprocessOptions
from .placement import (
    CPU_REASON,
    DeviceStages,
    Placement,
    build_device_stages,
    log_placement,
    measure,
    measured_on,
)
from .types import PreparedInput, PrePost, Result, Task

log = logging.getLogger(__name__)

#: The options of one model's load and run, by their older name (tests and scripts build them).
RuntimeOptions = LoadOptions

#: Batch sizes "auto" tries, and how much faster per frame a batch must be to be kept (timing noise).
BATCH_SIZES = (1, 2, 4, 8)
BATCH_MIN_GAIN = 1.1


class Predictor:
    """One loaded model ready to run on BGR uint8 frames: preprocess -> infer -> postprocess (the engine's
    StagedModel), or all three with `predictor(frame)`. Its task's head is chosen once, from `options`.

    model: a LoadedModel (livevision.loader), or a cache entry to open with `runtime` (LoadOptions) for `task`."""

    def __init__(self, model: LoadedModel | CacheEntry, task: Task | str | None = None, *,
                 runtime: LoadOptions | None = None, options: PostprocessOptions | None = None):
        if not isinstance(model, LoadedModel):
            model = open_model(model, Task.parse(task), runtime or LoadOptions())
        self.loaded = model
        self.entry, self.task, self.runtime, self.session = model.entry, model.task, model.options, model.session
        self.config, self.processor_config = model.model.config, model.model.processor_config
        self.architecture, self.preprocessor = model.model.architecture, model.model.preprocessor
        self.input_name, self.provider, self.batchable = model.input_name, model.provider, model.batchable
        self.pre_post = model.pre_post  # the option: AUTO until the first frame is measured (place)
        self.options = options or PostprocessOptions()
        self.head: Head = definition(self.task).head(self.architecture, self.config, self.options)
        self.depth_kind = getattr(self.head, "kind", None)  # a depth head's DepthKind
        self._batcher = None
        self._device_pre = self._device_post = self._binder = None
        self._placing = threading.Lock()
        self.placement: Placement | None = None  # where each stage runs (livevision.placement)
        self.text_inputs = model.text_inputs  # a zero-shot detector's labels, the same for every frame
        if self.text_inputs and self.pre_post is PrePost.DEVICE:
            raise UsageError(f"--pre-post device: {self.name} takes text inputs; its pre- and post-processing "
                             "run on the host (use --pre-post host or auto)")
        unmeasured = self.pre_post is PrePost.AUTO and not measured_on(self.provider)  # the host's own cores
        unmeasured = unmeasured or bool(self.text_inputs)  # no device graphs for the text-query models
        where = ("on the host (" + CPU_REASON + ")" if unmeasured else "placed on the first frame"
                 if self.pre_post is PrePost.AUTO else f"on the {self.pre_post}")
        log.info("%s runs on %s, pre/post-processing %s", self.name, self.provider, where)
        if unmeasured:
            self.placement = Placement(PrePost.HOST, PrePost.HOST, why=CPU_REASON)
        elif self.pre_post is PrePost.HOST:
            self.placement = Placement(PrePost.HOST, PrePost.HOST)
        elif self.pre_post is PrePost.DEVICE:
            stages = build_device_stages(self)
            if stages.post is None:
                log.info("%s: post-processing stays on the host (no device graph for it)", self.name)
            self._use(Placement(PrePost.DEVICE, PrePost.DEVICE if stages.post is not None else PrePost.HOST),
                      stages)

    def place(self, frame: np.ndarray, clock=time.perf_counter) -> Placement:
        """Where pre- and post-processing run, chosen once: as `pre_post` says, or for "auto" each stage
        timed on the host and the device on `frame` (the first frame: preprocess calls this) and placed
        where it is faster (livevision.placement). clock: the seconds the stages are timed with."""
        with self._placing:
            if self.placement is None:
                try:
                    stages = build_device_stages(self)
                except Exception as exc:  # noqa: BLE001  (a provider that cannot run the graphs: the host)
                    log.warning("%s: the device pre/post-processing graphs do not run here (%s): the host does "
                                "them", self.name, exc)
                    placement = Placement(PrePost.HOST, PrePost.HOST, {})
                    stages = None
                else:
                    placement = measure(self, frame, stages, clock)
                log_placement(self.name, placement)
                self._use(placement, stages)
            return self.placement

    def _use(self, placement: Placement, stages: DeviceStages | None) -> None:
        """Run each stage where `placement` says, with `stages`' device graphs."""
        if stages is not None:
            self._device_pre = stages.pre if placement.pre is PrePost.DEVICE else None
            self._device_post = stages.post if placement.post is PrePost.DEVICE else None
            if self._device_pre is not None or self._device_post is not None:
                self._binder = stages.binder
        self.placement = placement  # last: a thread that sees it sees the stages

    @property
    def model_type(self) -> str:
        return self.architecture.model_type

    @property
    def name(self) -> str:
        return self.entry.source

    def preprocess(self, frame: np.ndarray) -> PreparedInput | DeviceInput:
        """The model input: a PreparedInput, or with device pre-processing a DeviceInput. The first frame
        places the stages (place)."""
        if self.placement is None:
            self.place(frame)
        return self._device_pre(frame) if self._device_pre is not None else self.preprocessor(frame)

    def infer(self, prepared: PreparedInput | DeviceInput) -> list:
        """Raw model outputs, in the order of `architecture.outputs`: numpy arrays, or OrtValues left on
        the device when device post-processing follows."""
        if self._binder is None:
            return self.session.run(list(self.architecture.outputs),
                                    {self.input_name: prepared.pixel_values, **self.text_inputs})
        value = prepared.value if isinstance(prepared, DeviceInput) else prepared.pixel_values
        return self._binder.run(self.session, {self.input_name: value}, self.architecture.outputs,
                                to_host=self._device_post is None)

    @property
    def host_workers(self) -> int:
        """Threads for each host stage (pre-, post-processing) in `every` mode: one on the CPU provider,
        where the model needs every core; on an accelerator a few, so that those stages keep up with it."""
        from .models.session import physical_cores

        return 1 if runs_on_the_host_cpu(self.provider) else max(1, min(4, physical_cores() // 4))

    @property
    def max_batch(self) -> int:
        """The largest batch `every` mode may form for this model (choose_batch_size picks within it)."""
        if not self.batchable:
            return 1
        if self.runtime.batch == BATCH_AUTO:
            return 1 if runs_on_the_host_cpu(self.provider) else max(BATCH_SIZES)
        return int(self.runtime.batch)

    def choose_batch_size(self, prepared: PreparedInput | DeviceInput) -> int:
        """The batch size to run at: `batch` when it is a number; for "auto", the size in BATCH_SIZES
        (up to max_batch) with the lowest time per frame on `prepared` repeated, kept only when it
        beats one frame at a time by BATCH_MIN_GAIN."""
        if self.runtime.batch != BATCH_AUTO or self.max_batch == 1:
            return self.max_batch
        per_frame = time_per_frame(self.infer_batch, prepared, [s for s in BATCH_SIZES if s <= self.max_batch])
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


def time_per_frame(infer_batch, prepared, sizes: Sequence[int]) -> dict[int, float]:
    """Seconds per frame of `infer_batch` on `prepared` repeated to each batch size: after a warm-up run
    (the provider tunes for the new shape), at least 3 runs and 0.2 s."""
    per_frame = {}
    for size in sizes:
        batch = [prepared] * size
        infer_batch(batch)
        runs, started = 0, time.perf_counter()
        while runs < 3 or time.perf_counter() - started < 0.2:
            infer_batch(batch)
            runs += 1
        per_frame[size] = (time.perf_counter() - started) / (runs * size)
    return per_frame


def load_model(model: str | Path | None, task: Task | str, *, options: PostprocessOptions | None = None,
               load: LoadOptions | None = None, **kwargs) -> Predictor:
    """A Predictor for `model` (Hub id, local folder, an export folder, or None for the task's default).

    kwargs: LoadOptions fields (precision="int8", device="cpu", cache_dir, resize, input_size, ...), parsed
    here; or `load`, LoadOptions built already. options: the task's PostprocessOptions.
    A warm cache loads without torch or transformers; a cold one exports first, which needs
    `livevision[export]`, and builds the precision variant once.
    """
    task = Task.parse(task)
    return Predictor(resolve_model(model, task, _load_options(load, kwargs)), options=options)


def load_models(tasks, models: Mapping | None = None, *, options=None, input_size: Mapping | None = None,
                load: LoadOptions | None = None, **kwargs) -> dict[Task, Predictor]:
    """One Predictor per task. models: {task: Hub id or folder}, default models otherwise;
    options: PostprocessOptions for all, or {task: PostprocessOptions}; input_size: {task: N};
    kwargs or `load`: the LoadOptions of them all, as load_model's.
    Several models share the cores: each session gets its share of the intra-op threads,
    so they do not fight."""
    from .models.session import physical_cores

    tasks = [Task.parse(t) for t in tasks]
    load = _load_options(load, kwargs)
    if len(tasks) > 1 and load.intra_op_threads is None:
        load = replace(load, intra_op_threads=max(1, physical_cores() // len(tasks)))
    models, sizes = models or {}, input_size or {}
    per_task = options if isinstance(options, Mapping) else {t: options for t in tasks}
    return {t: Predictor(resolve_model(models.get(t), t, replace(load, input_size=sizes.get(t, load.input_size),
                                                                 labels=_labels_for(t, load.labels, tasks))),
                         options=per_task.get(t))
            for t in tasks}


def _labels_for(task: Task, labels: tuple[str, ...] | None, tasks: list[Task]) -> tuple[str, ...] | None:
    """`labels` (a zero-shot detector's text queries) go to the detection model of several."""
    if labels is not None and Task.DETECTION not in tasks:
        raise UsageError("--labels names what a zero-shot detector finds: run it with --task detection")
    return labels if task is Task.DETECTION else None


def _load_options(load: LoadOptions | None, kwargs: dict) -> LoadOptions:
    """The edge of load_model and load_models: keyword options parsed, or LoadOptions as they are."""
    if load is None:
        return LoadOptions.parse(kwargs)
    if kwargs:
        raise TypeError(f"give load options as `load` or as keywords, not both (got {', '.join(kwargs)})")
    return load

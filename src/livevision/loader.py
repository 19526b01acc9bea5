"""Resolve a model once into a LoadedModel: the cache entry that runs (the export, exported on first use,
or its precision variant), its configs read once, the input size applied, its preprocessor, its ONNX
Runtime session and where pre- and post-processing run (the option: the Predictor measures `auto` on the
first frame). `Predictor` then only runs it.

    loaded = resolve_model("Intel/dpt-hybrid-midas", Task.DEPTH, LoadOptions(precision="int8"))

A warm cache resolves without torch or transformers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import CacheError, MissingDependencyError, UsageError
from .models.cache import CONFIG_FILE, METADATA_FILE, PROCESSOR_FILE, CacheEntry, ModelCache, read_entry
from .models.openvino_session import is_openvino_runtime
from .models.registry import DEFAULT_MODELS, Architecture, architecture_for
from .models.resolve import parse_model_ref
from .options import LoadOptions
from .preprocessing.input_size import require_dynamic_input, with_input_size
from .preprocessing.preprocess import Preprocessor, build_preprocessor
from .types import Precision, PrePost, Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelConfig:
    """What an export's files say, read once: config.json, the processor config at the input size asked
    for, the architecture, and the preprocessor built from them."""

    config: dict
    processor_config: dict
    architecture: Architecture
    preprocessor: Preprocessor


@dataclass(frozen=True)
class LoadedModel:
    """A model resolved for a task and LoadOptions, its session open: what a Predictor runs.

    provider: the session's primary provider (after any fallback). pre_post: the option (AUTO: the Predictor
    measures each stage on the first frame, livevision.placement). output_shapes: of architecture.outputs.
    batchable: the input has a dynamic batch axis (some exports fix it at one frame)."""

    entry: CacheEntry
    task: Task
    options: LoadOptions
    model: ModelConfig
    session: Any  # onnxruntime.InferenceSession
    provider: str
    input_name: str
    output_shapes: tuple
    batchable: bool
    pre_post: PrePost
    text_inputs: dict = field(default_factory=dict)  # a zero-shot detector's tokenized labels, fed every frame

    @property
    def name(self) -> str:
        return self.entry.source


def resolve_model(model: str | Path | None, task: Task, options: LoadOptions) -> LoadedModel:
    """`model` (Hub id, local folder, an export folder, or None for the task's default) for `task`: the
    export, then the precision variant for the options' device and input size (found in the cache, or
    built and timed now), its session open."""
    export = find_or_export(model if model is not None else DEFAULT_MODELS[task], task,
                            revision=options.revision, cache_dir=options.cache_dir)
    config = read_model_config(export, task, options)
    return open_model(choose_entry(export, task, options, config), task, options, config)


def find_model_entry(model: str | Path | None, task: Task | str, *, revision: str | None = None,
                     cache_dir: str | Path | None = None, precision: str = "auto",
                     calibrate: str | Path | None = None, runtime: LoadOptions | None = None) -> CacheEntry:
    """The cache entry resolve_model runs, without opening a session (`livevision export` builds the
    variant a run would choose). runtime: the other LoadOptions (device, input size...)."""
    task = Task.parse(task)
    options = LoadOptions.parse(dict(revision=revision, cache_dir=cache_dir, precision=precision,
                                     calibrate=calibrate), base=runtime)
    export = find_or_export(model if model is not None else DEFAULT_MODELS[task], task, revision=revision,
                            cache_dir=cache_dir)
    return choose_entry(export, task, options, read_model_config(export, task, options))


def read_model_config(entry: CacheEntry, task: Task, options: LoadOptions) -> ModelConfig:
    """entry's configs, the input size applied (a size the model cannot take is a UsageError here, before
    any variant is built), and its preprocessor."""
    config = entry.read_json(CONFIG_FILE)
    processor_config = entry.read_json(PROCESSOR_FILE)
    architecture = architecture_for(config, task)
    if options.input_size is not None:
        processor_config = with_input_size(processor_config, config, options.input_size, name=entry.source)
    return ModelConfig(config, processor_config, architecture,
                       build_preprocessor(processor_config, resize=options.resize))


def choose_entry(export: CacheEntry, task: Task, options: LoadOptions, model: ModelConfig) -> CacheEntry:
    """The export itself for fp32, else its precision variant (a variant keeps the export's configs)."""
    if model.architecture.has_text_queries and options.precision is not Precision.FP32:
        if options.precision is not Precision.AUTO:  # variants are built and gated on pixel_values alone
            raise UsageError(f"--precision {options.precision.value}: {model.architecture.model_type} (text "
                             "queries) runs its FP32 export only; use --precision fp32 or auto")
        return export
    if options.precision is Precision.FP32:
        if options.calibrate is not None:
            log.warning("--calibrate %s has no effect with --precision fp32: nothing is quantized", options.calibrate)
        return export
    from .models.precision import find_or_build_variant

    return find_or_build_variant(
        export, task, precision=options.precision.value, device=options.device, cache=ModelCache(options.cache_dir),
        preprocess=model.preprocessor, calibrate=options.calibrate, input_size=options.input_size,
        intra_op_threads=options.intra_op_threads, allow_fallback=options.allow_fallback, config=model.config,
    )


def open_model(entry: CacheEntry, task: Task, options: LoadOptions, model: ModelConfig | None = None) -> LoadedModel:
    """entry's session, opened as `options` say; `model`: entry's configs when already read."""
    from .models.session import create_session, openvino_has_cpu

    model = model or read_model_config(entry, task, options)
    model, text_inputs = _with_text_queries(entry, model, options.labels)
    # --device auto may time OpenVINO against ORT (models.session): only then is the input shape worth finding
    may_time = (options.device == "auto" and options.pre_post is not PrePost.DEVICE and openvino_has_cpu()
                and not model.architecture.has_text_queries)  # the timing feeds pixel_values alone
    fixed = _fixed_input_shape(model) if may_time else None
    session = create_session(
        entry.onnx_path, options.device, intra_op_threads=options.intra_op_threads, live=options.live,
        engine_cache_dir=entry.path.parent / ".engines" / entry.path.name, fp16=options.fp16,
        allow_fallback=options.allow_fallback, auto_input_shape=fixed,
        auto_openvino=fixed is not None,
    )
    inputs = session.get_inputs()
    model_input = next((i for i in inputs if i.name == "pixel_values"), inputs[0])  # OWL: text inputs first
    if options.input_size is not None:
        require_dynamic_input(model_input.shape, entry.source)
    outputs = {x.name: x for x in session.get_outputs()}
    missing = [o for o in model.architecture.outputs if o not in outputs]
    if missing:
        raise CacheError(f"ONNX model {entry.onnx_path} lacks outputs {missing}: re-export it with --force")
    provider = session.get_providers()[0]
    return LoadedModel(
        entry=entry, task=task, options=options, model=model, session=session, provider=provider,
        input_name=model_input.name, output_shapes=tuple(outputs[o].shape for o in model.architecture.outputs),
        batchable=not isinstance(model_input.shape[0], int) and not text_inputs,
        pre_post=pre_post_for(options.pre_post, provider), text_inputs=text_inputs,
    )


def with_labels(loaded: LoadedModel, labels: tuple[str, ...]) -> LoadedModel:
    """`loaded` with other labels (a zero-shot detector's text queries), its session shared. The labels are
    taken as they are (transformers' pipeline keeps the spaces of "cat, dog" in the labels it gives back)."""
    model, text_inputs = _with_text_queries(loaded.entry, loaded.model, tuple(labels))
    return replace(loaded, options=replace(loaded.options, labels=tuple(labels)), model=model,
                   text_inputs=text_inputs)


def _with_text_queries(entry: CacheEntry, model: ModelConfig, labels: tuple[str, ...] | None
                       ) -> tuple[ModelConfig, dict]:
    """A zero-shot detector's labels tokenized from the export's tokenizer, and put in its
    config as "text_queries" for the head; other models refuse labels (theirs are in config.json)."""
    name = model.architecture.model_type
    if not model.architecture.has_text_queries:
        if labels is not None:
            raise UsageError(f"--labels is for zero-shot detectors (owlvit, owlv2); {entry.source} ({name}) has "
                             "its own labels")
        return model, {}
    if labels is None:
        raise UsageError(f"{entry.source} ({name}) detects what its labels name: give them, e.g. "
                         "--labels \"person,cup\" (labels=[...] in Python)")
    from .tasks.detection.text_queries import tokenize

    queries = tokenize(entry.path, labels)
    return replace(model, config={**model.config, "text_queries": list(queries.labels)}), queries.inputs()


def _fixed_input_shape(model: ModelConfig) -> tuple[int, ...] | None:
    """The model input's shape where it is the same for every frame size (SegFormer's 512x512, ViT's 224x224),
    else None (Depth Anything's follows the frame's aspect ratio). `--device auto` times OpenVINO against
    ORT only on a fixed shape: OpenVINO compiles each input shape, and a shape guessed at load would be
    compiled again at the first frame (Depth Anything V2 Small: 37 s for that frame on a busy 2-core machine)."""
    import numpy as np

    shapes = {tuple(model.preprocessor(np.zeros(hw + (3,), np.uint8)).pixel_values.shape)
              for hw in ((480, 640), (720, 1280), (640, 480))}
    return shapes.pop() if len(shapes) == 1 else None


def pre_post_for(choice: PrePost, provider: str) -> PrePost:
    """The --pre-post choice, but on the OpenVINO runtime, which runs the model only (no IO binding, so no
    device graphs): the host there, and `device` refused."""
    if not is_openvino_runtime(provider):
        return choice
    if choice is PrePost.DEVICE:
        raise UsageError("--pre-post device: OpenVINO runs the model only, pre- and post-processing run on "
                         "the host (use --pre-post host or auto)")
    return PrePost.HOST


def find_or_export(model: str | Path, task: Task, *, revision: str | None = None,
                   cache_dir: str | Path | None = None) -> CacheEntry:
    """The export of `model` for `task`: an export folder as it is, the cached one, or a new export."""
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

"""`livevision.pipeline`: transformers' `pipeline(...)` calls, unchanged, on livevision's ONNX models.

    from livevision import pipeline            # instead of: from transformers import pipeline
    pipe = pipeline("depth-estimation", model="Intel/zoedepth-nyu-kitti")
    out = pipe("photo.jpg")                   # {"predicted_depth": ..., "depth": PIL.Image}

Tasks: "depth-estimation", "image-classification", "image-segmentation", "object-detection" (livevision's
own names work too), "zero-shot-object-detection" (OWL-ViT, OWLv2: `candidate_labels=` and `top_k=` per call,
hf_pipeline_zero_shot). Inputs (hf_pipeline_inputs): a PIL image, an RGB numpy array (H, W, 3) uint8 (as PIL gives it;
OpenCV's BGR frames go to `load_model` / `Stream` instead), a path, an http(s) URL, a data:image URI or
base64 image text, a list of these (a list back), a generator or a torch Dataset such as transformers'
KeyDataset (an iterator back, as transformers); `batch_size=` groups them for the model.
Keywords as in transformers (hf_pipeline_args), at construction or per call: `top_k` (None: transformers'
default, 5), `function_to_apply` (classification), `subtask` (instance or panoptic on a semantic-only
model: ValueError, as transformers), `threshold`, `mask_threshold`, `overlap_mask_area_threshold`
(segmentation), `threshold` (detection: 0.5 unless given, as transformers; segmentation's is 0.9), depth's
`parameters={"timeout": ...}`, `timeout` (URL downloads), `num_workers` (taken, no effect); other keywords
as transformers' pipeline for the task takes them: a TypeError for classification, ignored for depth,
segmentation and detection. livevision's load options (`precision`, `device`,
`cache_dir`, `revision`, `resize`, `pre_post`, `input_size`) at construction. `precision` defaults to
"fp32", the export itself, so that the numbers are transformers' ("auto" opts in to the fastest variant
that passes the accuracy gate); transformers' `dtype` / `torch_dtype` picks it instead: float32 (or
"auto") the export, float16 the FP16 variant (GPU providers; an error on the CPU, never FP32 in its
place), anything else an error. `device` as in transformers: an index >= 0 (or "cuda:N", a torch.device)
is that CUDA device, an error where ONNX Runtime has no CUDA (never the CPU instead), -1 or "cpu" the CPU;
`device_map` "auto" (the best available), "cpu" or a CUDA device, others refused. A `tokenizer` object is
kept, unused; `processor`, `config` only as None. `model=` a transformers model object (with
`image_processor=`, as transformers needs) is exported (hf_pipeline_objects); `image_processor=` is taken
where it is the model's own configuration, refused where it differs.
A model's first use (its export, its precision variants) says so on stderr where logging would not.
Attributes (hf_pipeline_attributes): `task` (transformers' name), `model.config` (a PretrainedConfig),
`image_processor`, `device`, `save_pretrained(folder)` (the ONNX export, which `pipeline` loads again).

Outputs are transformers' formats:
- depth: {"predicted_depth": float32 (H, W) at the image's size, "depth": PIL "L" image, the map scaled
  to 0..255 by its min and max}: predicted_depth a torch tensor, as transformers gives it, where torch is
  installed, else the numpy array (torch is not needed to run models);
- classification: [{"label", "score"}, ...], best first;
- segmentation: [{"score", "label", "mask"}, ...] with "mask" a PIL "L" image (255 inside); semantic
  models give one entry per class present, score None; MaskFormer / Mask2Former panoptic (the default),
  or `subtask="instance"` / `"semantic"`. Instance masks do not overlap, as in transformers: they come
  in its order and are painted as it paints them (the later of two overlapping instances keeps the pixels);
- detection: [{"score", "label", "box": {"xmin", "ymin", "xmax", "ymax"}}, ...] in transformers' order,
  the corners in image pixels as ints cut toward zero (its `box.int()`); a list of such lists for a list
  of images.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterable, Iterator, Sized
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from . import hf_pipeline_args as args
from . import hf_pipeline_zero_shot as zero_shot
from .errors import OptionError
from .hf_pipeline_attributes import ModelView, device_of, hf_task, image_processor, save_pretrained
from .hf_pipeline_inputs import Outputs, bgr, dataset_items, is_one_image
from .hf_pipeline_inputs import pil as _pil
from .hf_pipeline_objects import check_image_processor, is_model_object, model_folder
from .models.cache import PROCESSOR_FILE
from .models.providers import CPU, ProviderUnavailableError
from .models.registry import DEFAULT_MODELS
from .options import LoadOptions, PostprocessOptions
from .predictor import load_model
from .tasks.registry import definition, definition_of
from .types import Precision, Task

log = logging.getLogger(__name__)

_SUBTASK = {"segmentation_mode": "subtask"}


def pipeline(task: str, model: str | Path | None = None, **kwargs) -> "LivePipeline":
    """A transformers-style pipeline for `task` running `model` (a Hub id, a local folder, an export folder,
    a transformers model object, or None: the task's default model) exported to ONNX. See the module
    docstring for inputs, keywords and outputs."""
    return LivePipeline(task, model, **kwargs)


# The notes the first use of a model logs (export, precision variants: seconds to minutes of silence
# otherwise), by logger: the start of their message.
_FIRST_USE_NOTES = {"livevision.models.export": "exporting ", "livevision.models.variants": "precision "}


class _FirstUseNotes(logging.Filter):
    """Prints the first-use notes to stderr, and passes on only what its logger logged before."""

    def __init__(self, prefix: str, threshold: int):
        super().__init__()
        self.prefix, self.threshold = prefix, threshold

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= self.threshold:
            return True
        if record.levelno == logging.INFO and record.getMessage().startswith(self.prefix):
            print(f"livevision: {record.getMessage()}", file=sys.stderr, flush=True)
        return False


@contextlib.contextmanager
def _first_use_notes_on_stderr():
    """While a pipeline loads its model: say on stderr when it exports it or builds its precision variants,
    once each, where logging would not show it (pipeline users rarely configure logging); nothing when the
    cache has them."""
    changed = []
    for name, prefix in _FIRST_USE_NOTES.items():
        logger = logging.getLogger(name)
        threshold = logger.getEffectiveLevel()
        if threshold > logging.INFO:  # at INFO or below, the user's logging shows the note
            notes = _FirstUseNotes(prefix, threshold)
            changed.append((logger, logger.level, notes))
            logger.addFilter(notes)
            logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level, notes in changed:
            logger.setLevel(level)
            logger.removeFilter(notes)


class LivePipeline:
    """Call it like a transformers pipeline: `pipe(images, **options)`."""

    feature_extractor = processor = None  # transformers' attributes; image models have none here
    _zero_shot = False  # "zero-shot-object-detection": candidate_labels per call (hf_pipeline_zero_shot)

    def __init__(self, task: str, model: str | Path | None = None, *, batch_size: int = 1, **kwargs):
        self._task = Task.parse(task)
        self._zero_shot = task == zero_shot.TASK  # OWL-ViT, OWLv2: candidate_labels per call
        self.task = zero_shot.TASK if self._zero_shot else hf_task(self._task)  # transformers' task string
        given = args.construction(self._task, kwargs)
        self.batch_size, self.num_workers = _positive(batch_size, "batch_size"), given.num_workers
        self.tokenizer = given.tokenizer  # kept, unused, as transformers keeps it for image models
        self.options = given.options
        post = self._postprocess_options(self.options)
        load = self._load_options(given.load, given.dtype)
        if self._zero_shot and load.labels is None:
            load = replace(load, labels=zero_shot.LOAD_LABELS)
        from_object = is_model_object(model)
        source = (str(getattr(model.config, "_name_or_path", "") or "") if from_object
                  else str(model if model is not None else DEFAULT_MODELS[self._task]))
        if from_object:
            model = model_folder(model, given.image_processor, load.cache_dir)
        try:
            with _first_use_notes_on_stderr():
                self.predictor = load_model(model, self._task, options=post, load=load)
        except ProviderUnavailableError as exc:  # its text names the CLI's --device; say which argument it was
            raise ProviderUnavailableError(f"pipeline({given.device_label}): {exc}") from None
        if load.device not in ("auto", "cpu") and not load.allow_fallback and self.predictor.provider == CPU:
            # The provider is compiled in but could not start (no GPU, driver or CUDA library): ONNX Runtime
            # moved the session to the CPU, which is no answer to an explicit device.
            raise ProviderUnavailableError(
                f"pipeline({given.device_label}): ONNX Runtime could not start {load.device} (no such "
                "device, or a missing driver or CUDA/cuDNN library) and would run on the CPU; pass device=-1 for "
                "the CPU")
        if not from_object:
            check_image_processor(given.image_processor, self.predictor.entry.read_json(PROCESSOR_FILE), source)
        self._check_subtask(self.options)
        self._model_ref, self._load, self._image_processor = model, load, None
        self.model = ModelView(self.predictor, source)  # transformers' `pipe.model`: its config, name, device
        self._heads: dict[PostprocessOptions, Any] = {}  # per-call options other than the construction ones
        self._labelled = zero_shot.LabelledPredictors(self.predictor) if self._zero_shot else None

    @property
    def device(self):
        """transformers' `pipe.device`: a torch.device (cpu, cuda:N) where torch is importable, else its name."""
        return device_of(self.predictor)

    @property
    def image_processor(self):
        """transformers' image processor for the configuration the model runs with (a read-only view of it
        where transformers is not importable)."""
        if self._image_processor is None:
            self._image_processor = image_processor(self.predictor.entry, self.predictor.processor_config)
        return self._image_processor

    def save_pretrained(self, save_directory: str | Path, **_) -> None:
        """Writes the ONNX export with its config.json and preprocessor_config.json into `save_directory`:
        `pipeline(task, model=save_directory)` loads it again, here or on a machine without torch (the
        precision variant, chosen per machine, is not saved: `precision=` picks it again there)."""
        entry = self.predictor.entry
        if "precision" in entry.metadata.get("key", {}).get("options", {}):  # a variant: its export
            from .loader import find_or_export

            entry = find_or_export(self._model_ref if self._model_ref is not None else DEFAULT_MODELS[self._task],
                                   self._task, revision=self._load.revision, cache_dir=self._load.cache_dir)
        save_pretrained(entry, save_directory)

    def _load_options(self, values: dict, dtype=None) -> LoadOptions:
        """The pipeline's edge for load options: transformers' dtype and batch_size translated (its device
        already is, by hf_pipeline_args), then parsed."""
        if dtype is not None:
            if "precision" in values:
                raise OptionError("pipeline(): give precision or dtype, not both")
            values["precision"] = args.precision_of(dtype)
        # transformers' answers unless asked otherwise: the FP32 export itself; a faster variant (INT8...)
        # that passed the gate on calibration frames can still round (or, near a tie, flip) an answer
        values.setdefault("precision", Precision.FP32)
        if self.batch_size > 1 and "batch" not in values:
            values["batch"] = self.batch_size
        return LoadOptions.parse(values)

    def _check_subtask(self, options: dict) -> None:
        """transformers' ValueError for an instance or panoptic subtask on a model that only segments
        semantically (SegFormer and the other per-pixel-logit models)."""
        subtask = options.get("subtask")
        if subtask in ("instance", "panoptic") and not self.predictor.architecture.is_mask_classification:
            raise OptionError(f"subtask {subtask!r} is not supported for {self.predictor.architecture.model_type}, "
                              "a semantic segmentation model: use subtask='semantic' (or none)")

    @staticmethod
    def _postprocess_options(options: dict) -> PostprocessOptions:
        """Per-call or construction keywords as PostprocessOptions: transformers' `subtask` is the
        segmentation mode (and named so in messages); `subtask=None` and `top_k=None` are their defaults,
        as in transformers (top_k=None is 5 classes there, not all)."""
        values = {("segmentation_mode" if k == "subtask" else k): v for k, v in options.items()
                  if k not in args.CALL_KEYS and not (k in ("subtask", "top_k") and v is None)}
        return PostprocessOptions.parse(values, spell=lambda name: _SUBTASK.get(name, name))

    def _head(self, options: dict):
        """The head for per-call options; None when they are the predictor's own."""
        post = self._postprocess_options(options)
        if post == self.predictor.options:
            return None
        if post not in self._heads:
            p = self.predictor
            self._heads[post] = definition(p.task).head(p.architecture, p.config, post)
        return self._heads[post]

    def __call__(self, inputs=None, **options):
        if "images" in options:  # transformers' other name for the inputs
            inputs = options.pop("images")
        if inputs is None:
            raise OptionError(f"the {self.task} pipeline needs inputs: pipe(image), pipe([images]) or pipe(dataset)")
        batch_size = options.pop("batch_size", None)
        batch_size = _positive(self.batch_size if batch_size is None else batch_size, "batch_size")
        args.workers(options.pop("num_workers", None))
        top_k = None
        if self._zero_shot:  # this call's labels: their Predictor (the session shared), their heads
            labels, top_k = zero_shot.call_labels(options)
            if labels != self._labelled.current:
                self.predictor, self._heads = self._labelled.get(labels), {}
        call_options = {**self.options, **args.call_options(self._task, options)}
        self._check_subtask(call_options)
        if is_one_image(inputs):
            return _cut(self._run_batch([inputs], call_options)[0], top_k)
        if isinstance(inputs, (list, tuple)):
            return [_cut(out, top_k) for chunk in _chunks(inputs, batch_size)
                    for out in self._run_batch(chunk, call_options)]
        if isinstance(inputs, Iterable):  # a generator, an IterableDataset: an iterator back, as transformers
            return Outputs(self._iterate(inputs, batch_size, call_options),
                           len(inputs) if isinstance(inputs, Sized) else None)
        items = dataset_items(inputs)  # a torch Dataset (KeyDataset...): read by index, an iterator back
        if items is not None:
            return Outputs(self._iterate(items[0], batch_size, call_options), items[1])
        raise TypeError(f"pipeline inputs must be images, paths, a list or iterable of them or a torch Dataset, "
                        f"got {type(inputs).__name__}")

    def _iterate(self, inputs: Iterable, batch_size: int, options: dict) -> Iterator:
        for chunk in _chunks(inputs, batch_size):
            yield from self._run_batch(chunk, options)

    def _run_batch(self, images: list, options: dict) -> list:
        p = self.predictor
        prepared = [p.preprocess(bgr(image, options.get("timeout"))) for image in images]
        outputs = p.infer_batch(prepared) if len(prepared) > 1 and p.batchable else [p.infer(x) for x in prepared]
        head = self._head(options)
        results = []
        for out, prep in zip(outputs, prepared):
            if head is None:
                results.append(p.postprocess(out, prep))
            else:  # other options than the predictor's: its numpy head for them, on the host
                host = [o if isinstance(o, np.ndarray) else o.numpy() for o in out]
                results.append(head.postprocess(host, prep.to_host() if hasattr(prep, "to_host") else prep))
        return [_formatted(r) for r in results]


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionError(f"{name} must be a positive integer, got {value!r}")
    return value


def _cut(objects, top_k: int | None):
    """A zero-shot detection's objects, the best top_k of them (None: all; other tasks never have one)."""
    return objects if top_k is None else objects[:top_k]


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _formatted(result):
    """A livevision result in transformers' output format (its task's, tasks/<task>/formats.py)."""
    _pil()  # a one-line error where Pillow is missing
    return definition_of(result).transformers_output(result)

"""`livevision.pipeline`: transformers' `pipeline(...)` calls, unchanged, on livevision's ONNX models.

    from livevision import pipeline            # instead of: from transformers import pipeline
    pipe = pipeline("depth-estimation", model="Intel/zoedepth-nyu-kitti")
    out = pipe("photo.jpg")                   # {"predicted_depth": ..., "depth": PIL.Image}

Tasks: "depth-estimation", "image-classification", "image-segmentation" (livevision's own names work
too). Inputs: a PIL image, an RGB numpy array (H, W, 3) uint8 (as PIL gives it; OpenCV's BGR frames go to
`load_model` / `Stream` instead), a path, an http(s) URL, a data:image URI or base64 image text, or a list /
iterable of these (`batch_size=` groups them for the model). Keywords as in transformers, at construction
or per call: `top_k` (None: transformers' default, 5), `function_to_apply` (classification), `subtask`
(instance or panoptic on a semantic-only model: ValueError, as transformers), `threshold`,
`mask_threshold`, `overlap_mask_area_threshold` (segmentation), `timeout` (URL downloads); livevision's
load options (`precision`, `device`, `cache_dir`, `revision`, `resize`, `pre_post`, `input_size`) at
construction. `precision` defaults to "fp32", the export itself, so that the numbers are transformers'
("auto" opts in to the fastest variant that passes the accuracy gate); transformers' `dtype` /
`torch_dtype` picks it instead: float32 (or "auto") the export, float16 the FP16 variant (GPU providers;
an error on the CPU, never FP32 in its place), anything else an error.
`device` as in transformers: an index >= 0 (or "cuda:N") is that CUDA device, an error where ONNX
Runtime has no CUDA (never the CPU instead), -1 or "cpu" the CPU.
A model's first use (its export, its precision variants) says so on stderr where logging would not.

Outputs are transformers' formats:
- depth: {"predicted_depth": float32 (H, W) at the image's size, "depth": PIL "L" image, the map scaled
  to 0..255 by its min and max}. transformers returns predicted_depth as a torch tensor; livevision
  returns a numpy array (torch is not needed to run models);
- classification: [{"label", "score"}, ...], best first;
- segmentation: [{"score", "label", "mask"}, ...] with "mask" a PIL "L" image (255 inside); semantic
  models give one entry per class present, score None; MaskFormer / Mask2Former panoptic (the default),
  or `subtask="instance"` / `"semantic"`. Instance masks do not overlap, as in transformers: they come
  in its order and are painted as it paints them (the later of two overlapping instances keeps the pixels).
"""

from __future__ import annotations

import contextlib
import logging
import numbers
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .errors import MissingDependencyError, OptionError, UsageError
from .tasks.registry import definition, definition_of
from .models.providers import CPU, ProviderUnavailableError
from .options import LOAD_KEYS, LoadOptions, PostprocessOptions
from .predictor import load_model
from .types import Precision, Task

log = logging.getLogger(__name__)

_CLASSIFICATION_KEYS = ("top_k", "function_to_apply")
_SEGMENTATION_KEYS = ("subtask", "threshold", "mask_threshold", "overlap_mask_area_threshold")
_SUBTASK = {"segmentation_mode": "subtask"}
# transformers' pipeline() keywords that have no meaning here: accepted, so course code runs, and ignored.
_IGNORED_KEYS = ("framework", "use_fast", "image_processor", "feature_extractor", "trust_remote_code",
                 "model_kwargs", "token")
# transformers' dtype (or torch_dtype) as a precision: float16 is the FP16 variant (GPU providers), float32 and
# "auto" the FP32 export; others (bfloat16...) have no variant here and are refused.
_DTYPES = {"float16": Precision.FP16, "half": Precision.FP16, "fp16": Precision.FP16, "float32": Precision.FP32,
           "float": Precision.FP32, "fp32": Precision.FP32, "auto": Precision.FP32}
# Keywords every call takes, whatever the task: how long a URL input may take to download (seconds).
_CALL_KEYS = ("timeout",)


def pipeline(task: str, model: str | Path | None = None, **kwargs) -> "LivePipeline":
    """A transformers-style pipeline for `task` running `model` (a Hub id or a local folder; None: the
    task's default model) exported to ONNX. See the module docstring for inputs, keywords and outputs."""
    return LivePipeline(task, model, **kwargs)


def _device(value) -> str:
    """transformers' device (-1, 0, "cpu", "cuda:0", torch.device) as livevision's: an index >= 0 is that
    CUDA device (an error where there is none, never the CPU), -1 the CPU."""
    if value is None:
        return "auto"
    if isinstance(value, bool):
        raise OptionError(f"pipeline(device=...) takes a device index, a name or a torch.device, got {value!r}")
    if isinstance(value, numbers.Integral):
        return "cpu" if value < 0 else f"cuda:{int(value)}"
    return str(value)


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

    def __init__(self, task: str, model: str | Path | None = None, *, batch_size: int = 1, **kwargs):
        self.task = Task.parse(task)
        self._task_keys = {Task.CLASSIFICATION: _CLASSIFICATION_KEYS, Task.SEGMENTATION: _SEGMENTATION_KEYS}.get(
            self.task, ())
        unknown = [k for k in kwargs if k not in (*self._task_keys, *LOAD_KEYS, *_IGNORED_KEYS, *_CALL_KEYS,
                                                   "dtype", "torch_dtype")]
        if unknown:
            raise TypeError(f"pipeline() got keyword arguments it does not take for {self.task.value}: "
                            f"{', '.join(unknown)}")
        ignored = [k for k in kwargs if k in _IGNORED_KEYS]
        if ignored:
            log.info("pipeline(): ignoring %s (no meaning for an ONNX model)", ", ".join(ignored))
        self.batch_size = _positive(batch_size, "batch_size")
        self.options = {k: kwargs[k] for k in (*self._task_keys, *_CALL_KEYS) if k in kwargs}
        post = self._postprocess_options(self.options)
        load = self._load_options({k: kwargs[k] for k in LOAD_KEYS if k in kwargs},
                                  kwargs.get("dtype", kwargs.get("torch_dtype")))
        try:
            with _first_use_notes_on_stderr():
                self.predictor = load_model(model, self.task, options=post, load=load)
        except ProviderUnavailableError as exc:  # its text names the CLI's --device; say which argument it was
            raise ProviderUnavailableError(f"pipeline(device={kwargs.get('device')!r}): {exc}") from None
        if load.device not in ("auto", "cpu") and not load.allow_fallback and self.predictor.provider == CPU:
            # The provider is compiled in but could not start (no GPU, driver or CUDA library): ONNX Runtime
            # moved the session to the CPU, which is no answer to an explicit device.
            raise ProviderUnavailableError(
                f"pipeline(device={kwargs.get('device')!r}): ONNX Runtime could not start {load.device} (no such "
                "device, or a missing driver or CUDA/cuDNN library) and would run on the CPU; pass device=-1 for "
                "the CPU")
        self._check_subtask(self.options)
        self.model = self.predictor  # transformers' `pipe.model`, for code that reads its name or config
        self._heads: dict[PostprocessOptions, Any] = {}  # per-call options other than the construction ones

    def _load_options(self, values: dict, dtype=None) -> LoadOptions:
        """The pipeline's edge for load options: transformers' device, dtype and batch_size translated, then
        parsed."""
        if dtype is not None:
            if "precision" in values:
                raise OptionError("pipeline(): give precision or dtype, not both")
            values["precision"] = _precision_of(dtype)
        # transformers' answers unless asked otherwise: the FP32 export itself; a faster variant (INT8...)
        # that passed the gate on calibration frames can still round (or, near a tie, flip) an answer
        values.setdefault("precision", Precision.FP32)
        values["device"] = _device(values.get("device"))
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
                  if k not in _CALL_KEYS and not (k in ("subtask", "top_k") and v is None)}
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

    def __call__(self, inputs, **options):
        batch_size = _positive(options.pop("batch_size", self.batch_size), "batch_size")
        unknown = [k for k in options if k not in (*self._task_keys, *_CALL_KEYS)]
        if unknown:
            raise TypeError(f"this {self.task.value} pipeline takes no {', '.join(unknown)}")
        call_options = {**self.options, **options}
        self._check_subtask(call_options)
        if _is_one_image(inputs):
            return self._run_batch([inputs], call_options)[0]
        if isinstance(inputs, (list, tuple)):
            return [out for chunk in _chunks(inputs, batch_size) for out in self._run_batch(chunk, call_options)]
        if isinstance(inputs, Iterable):
            return self._iterate(inputs, batch_size, call_options)
        raise TypeError(f"pipeline inputs must be images, paths or a list of them, got {type(inputs).__name__}")

    def _iterate(self, inputs: Iterable, batch_size: int, options: dict) -> Iterator:
        for chunk in _chunks(inputs, batch_size):
            yield from self._run_batch(chunk, options)

    def _run_batch(self, images: list, options: dict) -> list:
        p = self.predictor
        prepared = [p.preprocess(_bgr(image, options.get("timeout"))) for image in images]
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


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependencyError("livevision.pipeline gives PIL images, as transformers does: "
                                     "pip install pillow") from None
    return Image


def _open_image(where: str | Path, timeout: float | None = None):
    """A path, an http(s) URL (given `timeout` seconds, 30 by default), a data URI or base64 text as an RGB
    PIL image, as transformers' load_image opens them (EXIF orientation applied)."""
    import io

    Image = _pil()
    from PIL import ImageOps

    text = str(where)
    if text.startswith(("http://", "https://")):
        import urllib.request

        try:
            with urllib.request.urlopen(text, timeout=timeout or 30) as response:  # noqa: S310 (the user's URL)
                data = io.BytesIO(response.read())
        except OSError as exc:
            raise UsageError(f"could not download {text}: {exc}") from None
        opened = Image.open(data)
    elif _is_file(text):
        opened = Image.open(text)
    else:
        opened = Image.open(io.BytesIO(_base64_image(text)))
    with opened:
        return ImageOps.exif_transpose(opened).convert("RGB")


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except OSError:  # a name too long for a path: base64 text, not a file
        return False


def _base64_image(text: str) -> bytes:
    """The bytes of a data:image/...;base64, URI or of base64 text; UsageError (one line) for text that is
    neither (nor a file)."""
    import base64
    import binascii

    shown = text if len(text) <= 60 else text[:57] + "..."
    payload = text.split(",", 1)[1] if text.startswith("data:image/") and "," in text else text
    try:
        data = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        data = b""
    if not data.startswith((b"\x89PNG", b"\xff\xd8", b"GIF8", b"BM", b"RIFF", b"II*", b"MM\x00*")):
        raise UsageError(f"no image at {shown}: not a file, an http(s) URL, a data URI or base64 image data")
    return data


def _precision_of(dtype) -> Precision:
    """transformers' dtype / torch_dtype (a torch.dtype or its name) as the precision that runs it."""
    name = str(dtype).removeprefix("torch.")
    if name not in _DTYPES:
        raise OptionError(f"pipeline(dtype={dtype!r}): livevision runs float32 (the export) or float16 (its FP16 "
                          "variant, GPU providers); give one of those, or precision=")
    return _DTYPES[name]


def _is_one_image(value) -> bool:
    if isinstance(value, (str, Path)) or isinstance(value, np.ndarray):
        return True
    return type(value).__module__.startswith("PIL.")


def _bgr(image, timeout: float | None = None) -> np.ndarray:
    """A pipeline input as the uint8 BGR frame livevision's models take."""
    if isinstance(image, (str, Path)):
        image = _open_image(image, timeout)
    if not isinstance(image, np.ndarray):
        image = np.asarray(image.convert("RGB"))
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise UsageError(f"an image array must be (H, W, 3) uint8 RGB, got {image.dtype} {image.shape}")
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGR)


def _formatted(result):
    """A livevision result in transformers' output format (its task's, tasks/<task>/formats.py)."""
    _pil()  # a one-line error where Pillow is missing
    return definition_of(result).transformers_output(result)

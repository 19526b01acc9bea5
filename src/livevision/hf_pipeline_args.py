"""transformers' `pipeline(...)` keywords, at construction and per call, as livevision's options: which are
taken, which are accepted and mean nothing for an ONNX model, which are refused (one line), and unknown
keywords handled as transformers' pipeline for that task handles them (its `_sanitize_parameters`:
classification takes named arguments only, a TypeError for others; depth, segmentation and detection
ignore them)."""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass, field

from .errors import OptionError
from .options import LOAD_KEYS
from .tasks.registry import definition
from .types import Precision, Task

log = logging.getLogger("livevision.hf_pipeline")

# Each task's own keywords (construction or call) are its TaskDefinition's pipeline_keywords; timeout: all.
CALL_KEYS = ("timeout",)
# transformers' pipeline() keywords that have no meaning here: accepted, so course code runs, and ignored.
IGNORED_KEYS = ("framework", "use_fast", "trust_remote_code", "model_kwargs", "token", "binary_output", "modelcard",
                "code_revision", "args_parser")
# transformers' pipeline() keywords taken only as None: a processor or a config of another model than the one
# given would change what runs. (A tokenizer object is kept on pipe.tokenizer, unused, as transformers keeps it.)
NONE_ONLY_KEYS = {"processor": "pass image_processor= instead",
                  "config": "the model's own config.json is used", "pipeline_class": "livevision has its own"}
#: transformers' per-call keywords of every pipeline (its Pipeline.__call__'s).
EVERY_CALL = ("batch_size", "num_workers")
# transformers' dtype (or torch_dtype) as a precision: float16 is the FP16 variant (GPU providers), float32 and
# "auto" the FP32 export; others (bfloat16...) have no variant here and are refused.
_DTYPES = {"float16": Precision.FP16, "half": Precision.FP16, "fp16": Precision.FP16, "float32": Precision.FP32,
           "float": Precision.FP32, "fp32": Precision.FP32, "auto": Precision.FP32}


@dataclass
class Construction:
    """pipeline()'s keywords sorted: options (the task's and timeout, for every call), load (LoadOptions
    values, the device resolved), dtype, image_processor (an object, a name or None), num_workers, and how
    messages name the device argument."""

    options: dict = field(default_factory=dict)
    load: dict = field(default_factory=dict)
    dtype: object = None
    image_processor: object = None
    num_workers: int | None = None
    device_label: str = "device=None"
    tokenizer: object = None


def _task_keys(task: Task) -> tuple[str, ...]:
    """The keywords a pipeline for `task` takes for its calls: the task's own and timeout."""
    return (*definition(task).pipeline_keywords, *CALL_KEYS)


def construction(task: Task, kwargs: dict) -> Construction:
    """transformers' pipeline() keywords (but task, model and batch_size) for `task`, sorted and checked."""
    for key, why in NONE_ONLY_KEYS.items():
        if kwargs.get(key) is not None:
            raise OptionError(f"pipeline({key}=...) is not taken ({why}): leave it out or pass None")
    if isinstance(kwargs.get("tokenizer"), (str, bytes)):  # transformers would load one by that name
        raise OptionError("pipeline(tokenizer=<a name>) is not taken (image models use no tokenizer): pass the "
                          "tokenizer object to keep it on pipe.tokenizer, or leave it out")
    named = (*_task_keys(task), *LOAD_KEYS, *IGNORED_KEYS, *NONE_ONLY_KEYS, "dtype", "torch_dtype", "device_map",
             "num_workers", "image_processor", "feature_extractor", "tokenizer")
    _unknown(task, [k for k in kwargs if k not in named], "pipeline()")
    ignored = [k for k in kwargs if k in IGNORED_KEYS]
    if ignored:
        log.info("pipeline(): ignoring %s (no meaning for an ONNX model)", ", ".join(ignored))
    dtypes = [kwargs[k] for k in ("dtype", "torch_dtype") if kwargs.get(k) is not None]
    load = {k: kwargs[k] for k in LOAD_KEYS if k in kwargs}
    label = (f"device={kwargs.get('device')!r}" if kwargs.get("device") is not None or "device_map" not in kwargs
             else f"device_map={kwargs['device_map']!r}")
    load["device"] = device_of(kwargs.get("device"), kwargs.get("device_map"))
    processor = kwargs.get("image_processor")
    return Construction(options=sanitized(task, {k: kwargs[k] for k in _task_keys(task) if k in kwargs}),
                        load=load, dtype=dtypes[0] if dtypes else None,
                        image_processor=processor if processor is not None else kwargs.get("feature_extractor"),
                        num_workers=workers(kwargs.get("num_workers")), device_label=label,
                        tokenizer=kwargs.get("tokenizer"))


def call_options(task: Task, options: dict) -> dict:
    """A call's keywords (but batch_size and num_workers) as the options that apply, as transformers' pipeline
    for `task` takes them: its keywords, timeout; livevision's load options are construction options
    (TypeError); others a TypeError for classification and ignored for depth, segmentation and detection."""
    load = [k for k in options if k in LOAD_KEYS]
    if load:
        raise TypeError(f"{', '.join(load)}: a construction option of pipeline(), not of a call")
    _unknown(task, [k for k in options if k not in _task_keys(task)], "this call")
    return sanitized(task, {k: v for k, v in options.items() if k in _task_keys(task)})


def sanitized(task: Task, options: dict) -> dict:
    """Depth's `parameters={...}` as transformers reads it (its "timeout", which wins over timeout=; nothing
    else in it has a meaning), the other options as they are."""
    options = dict(options)
    parameters = options.pop("parameters", None)
    if isinstance(parameters, dict) and "timeout" in parameters:
        options["timeout"] = parameters["timeout"]
    return options


def _unknown(task: Task, unknown: list, where: str) -> None:
    if not unknown:
        return
    # transformers: "_sanitize_parameters() got an unexpected keyword argument"
    if definition(task).refuses_unknown_keywords:
        raise TypeError(f"{where} got keyword arguments the {task.value} pipeline does not take: {', '.join(unknown)}")
    log.info("%s: ignoring %s, as transformers' %s pipeline does", where, ", ".join(unknown), task.value)


def workers(value) -> int | None:
    """transformers' num_workers (its DataLoader's preprocessing workers): taken, and without effect here
    (images are read in the calling thread; the model's session has its own threads)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise OptionError(f"num_workers must be a non-negative integer, got {value!r}")
    return int(value)


def device_of(device, device_map=None) -> str:
    """transformers' device and device_map as livevision's device: device_map "auto" the best available,
    "cpu" the CPU, a CUDA device as device= takes it, anything else an OptionError (a model runs on one
    device here); device wins over device_map, as in transformers (which warns)."""
    if device_map is None:
        return _device(device)
    mapped = _device_map(device_map)
    if device is not None:
        log.warning("pipeline(): both device and device_map are given: device wins, as in transformers")
        return _device(device)
    return mapped


def _device_map(value) -> str:
    name = str(value).strip().lower() if isinstance(value, str) or type(value).__name__ == "device" else None
    if name in ("auto", "cpu"):
        return name
    if (name is not None and (name == "cuda" or name.startswith("cuda:"))) or (
            isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0):
        return _device(value)
    raise OptionError(f"pipeline(device_map={value!r}): livevision runs a model on one device: give \"auto\", "
                      "\"cpu\", a CUDA device (\"cuda:0\", 0) or device=")


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


def precision_of(dtype) -> Precision:
    """transformers' dtype / torch_dtype (a torch.dtype or its name) as the precision that runs it."""
    name = str(dtype).removeprefix("torch.")
    if name not in _DTYPES:
        raise OptionError(f"pipeline(dtype={dtype!r}): livevision runs float32 (the export) or float16 (its FP16 "
                          "variant, GPU providers); give one of those, or precision=")
    return _DTYPES[name]

"""The attributes transformers users read from a pipeline, on livevision's: `pipe.task` (transformers' task
string), `pipe.model.config` (transformers' PretrainedConfig of the export's config.json where transformers is
importable, else a read-only view of it that answers the same: int-keyed id2label, label2id, num_labels,
problem_type, every config.json key), `pipe.image_processor` (transformers' image processor for the export's
preprocessor_config.json, else a read-only view of it), `pipe.device` (a torch.device where torch is
importable, else its name) and `pipe.save_pretrained(folder)` (the ONNX export with its configurations: a
folder `pipeline(task, model=folder)` loads again)."""

from __future__ import annotations

import copy
import importlib.util
import shutil
from pathlib import Path

from .models.cache import METADATA_FILE, PROCESSOR_FILE, CacheEntry
from .models.providers import COREML, CUDA, TENSORRT
from .tasks.registry import definition
from .types import Task


def hf_task(task: Task) -> str:
    """transformers' name of a task ("depth-estimation")."""
    return definition(task).hf_name


def importable(name: str) -> bool:
    """Whether `name` (torch, transformers) could be imported: the slim install has neither."""
    return importlib.util.find_spec(name) is not None


class ConfigView:
    """A read-only configuration: its keys as attributes (a missing one is an AttributeError, as on
    transformers' objects), `to_dict()`, and `defaults` for keys transformers' class gives every instance."""

    defaults: dict = {}

    def __init__(self, values: dict):
        object.__setattr__(self, "_values", copy.deepcopy(dict(values)))

    def __getattr__(self, name: str):
        values = object.__getattribute__(self, "_values")
        if name in values:
            return copy.deepcopy(values[name])
        if name in self.defaults:
            return copy.deepcopy(self.defaults[name])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only (the configuration saved with the export)")

    def __contains__(self, name: str) -> bool:
        return name in self._values or name in self.defaults

    def to_dict(self) -> dict:
        return {**copy.deepcopy(self.defaults), **copy.deepcopy(self._values)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._values!r})"


class PretrainedConfigView(ConfigView):
    """config.json as transformers' PretrainedConfig reads it: id2label with int keys (LABEL_i for
    num_labels, 2, when it has none), label2id, num_labels, name_or_path, and its defaults."""

    defaults = {"problem_type": None, "architectures": None, "finetuning_task": None, "output_hidden_states": False,
                "output_attentions": False, "return_dict": True, "is_encoder_decoder": False, "torchscript": False,
                "tie_word_embeddings": True, "pruned_heads": {}, "task_specific_params": None, "dtype": None,
                "tokenizer_class": None, "prefix": None, "bos_token_id": None, "pad_token_id": None,
                "eos_token_id": None, "sep_token_id": None}

    @property
    def id2label(self) -> dict[int, str]:
        given = self._values.get("id2label")
        if given:
            return {int(k): v for k, v in given.items()}
        return {i: f"LABEL_{i}" for i in range(int(self._values.get("num_labels", 2)))}

    @property
    def label2id(self) -> dict[str, int]:
        given = self._values.get("label2id")
        return {k: int(v) for k, v in given.items()} if given else {v: k for k, v in self.id2label.items()}

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @property
    def name_or_path(self) -> str:
        return self._values.get("_name_or_path", "")

    def to_dict(self) -> dict:
        return {**super().to_dict(), "id2label": {str(k): v for k, v in self.id2label.items()},
                "label2id": self.label2id}


class ModelView:
    """`pipe.model`: transformers' model attributes users read (config, name_or_path, device); the rest is the
    Predictor's (what `pipe.model` was before)."""

    def __init__(self, predictor, source: str):
        self._predictor, self._source, self._config = predictor, source, None

    @property
    def config(self):
        if self._config is None:
            try:
                self._config = model_config(self._predictor.config, self._source)
            except AttributeError as exc:  # not "no attribute config", which would ask the Predictor instead
                raise RuntimeError(f"reading {self._source}'s config.json: {exc}") from exc
        return self._config

    @property
    def name_or_path(self) -> str:
        return self._source

    @property
    def device(self):
        return device_of(self._predictor)

    def __getattr__(self, name: str):
        if name.startswith("_"):  # not set yet (copy, pickle): no Predictor to ask
            raise AttributeError(name)
        return getattr(self._predictor, name)


def model_config(values: dict, source: str):
    """transformers' PretrainedConfig (the model type's class) for the export's config.json, its name the model
    as the user named it, where transformers is importable, else PretrainedConfigView. Some exports write the
    dtype as "torch.float32", which transformers cannot read back: it is read as "float32"."""
    values = {**values, "_name_or_path": source}
    for key in ("dtype", "torch_dtype"):
        if isinstance(values.get(key), str):
            values[key] = values[key].removeprefix("torch.")
    if not importable("transformers"):
        return PretrainedConfigView(values)
    from transformers import CONFIG_MAPPING

    return CONFIG_MAPPING[values["model_type"]].from_dict(values)


def image_processor(entry: CacheEntry, values: dict):
    """transformers' image processor for the processor configuration the model runs with (the export's, or
    with input_size= applied), where transformers is importable; else a ConfigView of it."""
    if not importable("transformers"):
        return ConfigView(values)
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(entry.path)
    if entry.read_json(PROCESSOR_FILE) != values:  # input_size= changed the size the model takes
        processor = type(processor).from_dict(values)
    return processor


def device_of(predictor):
    """transformers' `pipe.device` for the provider the session runs on: cuda:N for CUDA and TensorRT, mps for
    Core ML, cpu for the CPU; a torch.device where torch is importable, else its name (OpenVINO and DirectML,
    which torch has no name for: the provider's device, e.g. "openvino")."""
    provider = predictor.provider
    if provider in (CUDA, TENSORRT):
        options = predictor.session.get_provider_options().get(provider, {})
        index = options.get("device_id", _index(predictor.runtime.device))
        name = f"cuda:{int(index)}"
    elif provider == COREML:
        name = "mps"
    elif provider == "CPUExecutionProvider":
        name = "cpu"
    else:
        return predictor.runtime.device
    if not importable("torch"):
        return name
    import torch

    return torch.device(name)


def _index(device: str) -> int:
    _, _, sub = device.partition(":")
    return int(sub) if sub.isdigit() else 0


def save_pretrained(export: CacheEntry, folder: str | Path) -> Path:
    """The export's files (model.onnx, config.json, preprocessor_config.json and livevision.json, which
    lists them) copied into `folder` (made where missing): an export folder that runs as it is."""
    folder = Path(folder).expanduser()
    if folder.is_dir() and folder.resolve() == export.path.resolve():  # loaded from this folder: saved already
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in [*export.metadata["files"], METADATA_FILE]:  # the metadata last: a cut copy is no export
        shutil.copyfile(export.path / name, folder / name)
    return folder

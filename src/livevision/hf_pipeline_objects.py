"""transformers objects given to `livevision.pipeline`: a model object (`model=AutoModelFor...from_pretrained(...)`)
is saved, with the image processor transformers then requires, to a folder named by its content and exported
from there as any model folder (the same object again finds that folder and its export in the cache); an
`image_processor=` object or name is taken where it is the model's own processor configuration and refused,
in one line, where it differs (livevision prepares frames from the configuration saved with the model)."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from .errors import OptionError
from .models.cache import PROCESSOR_FILE, ModelCache

#: Where model objects are saved, under the export cache's folder.
OBJECTS_DIR = ".pipeline-models"
# Keys of a processor's to_dict() that name it rather than configure it.
_NAMING_KEYS = ("_processor_class", "image_processor_type", "processor_class")


def is_model_object(model) -> bool:
    return not isinstance(model, (str, Path)) and model is not None and hasattr(model, "config")


def model_folder(model, image_processor, cache_dir) -> Path:
    """A transformers model object as a model folder (its weights, config and `image_processor`'s
    configuration), under the export cache; OptionError (one line) where it cannot be one."""
    name = type(model).__name__
    if not hasattr(model, "save_pretrained") or name.startswith(("TF", "Flax")):
        raise OptionError(f"pipeline(model=<{name}>): livevision exports PyTorch transformers models; pass a "
                          "PreTrainedModel, its folder or its Hub id")
    if isinstance(image_processor, (str, Path)):  # a folder or Hub id, as transformers loads it
        image_processor = _loaded(image_processor)
    if image_processor is None or not hasattr(image_processor, "save_pretrained"):
        raise OptionError(f"pipeline(model=<{name}>) needs image_processor= (an image processor, its folder or Hub "
                          "id), as in transformers: a model object does not say how to prepare its images")
    root = ModelCache(cache_dir).root / OBJECTS_DIR
    root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".saving-", dir=root))
    try:
        model.save_pretrained(building)
        image_processor.save_pretrained(building)
        folder = root / f"{_slug(model)}-{_digest(building)}"
        if not folder.is_dir():  # an existing one is kept as it is: its export in the cache stays valid
            try:
                building.rename(folder)
            except OSError:  # another process saved the same model at the same time
                if not folder.is_dir():
                    raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return folder


def _slug(model) -> str:
    name = str(getattr(model.config, "_name_or_path", "") or getattr(model.config, "model_type", "") or "model")
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name.rstrip("/").split("/")[-1])[:40] or "model"


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        h.update(f"{path.name}\0".encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def check_image_processor(image_processor, saved: dict, model_name: str) -> None:
    """`image_processor=` (an object, or a folder or Hub id transformers would load it from) against the
    processor configuration saved with the model: taken where they agree, else an OptionError naming the keys."""
    if image_processor is None or (isinstance(image_processor, (str, Path)) and str(image_processor) == model_name):
        return
    given = _loaded(image_processor)
    theirs, ours = _settings(given), _settings(type(given).from_dict(dict(saved)))
    kind = str(saved.get("image_processor_type", "")).removesuffix("Fast")
    if kind and type(given).__name__.removesuffix("Fast") != kind:
        differing = [f"a {type(given).__name__}, not a {kind}"]
    else:
        differing = sorted(k for k in theirs.keys() | ours.keys() if theirs.get(k) != ours.get(k))
    if differing:
        raise OptionError(f"pipeline(image_processor=...) differs from {model_name}'s {PROCESSOR_FILE} "
                          f"({', '.join(differing)}): livevision prepares frames from the saved configuration; save "
                          "this processor with the model (image_processor.save_pretrained(folder)) and pass the folder")


def _loaded(image_processor):
    if not isinstance(image_processor, (str, Path)):
        if not hasattr(image_processor, "to_dict") or not hasattr(type(image_processor), "from_dict"):
            raise OptionError(f"pipeline(image_processor=<{type(image_processor).__name__}>): give an image "
                              "processor (transformers' AutoImageProcessor.from_pretrained), a folder or a Hub id")
        return image_processor
    try:
        from transformers import AutoImageProcessor
    except ImportError:
        raise OptionError(f"pipeline(image_processor={str(image_processor)!r}): loading another processor needs "
                          "transformers; leave it out to use the model's own") from None
    return AutoImageProcessor.from_pretrained(str(image_processor))


def _settings(processor) -> dict:
    """A processor's configuration, comparable: naming keys dropped, values as JSON gives them back."""
    values = {k: v for k, v in processor.to_dict().items() if k not in _NAMING_KEYS}
    return json.loads(json.dumps(values, sort_keys=True, default=str))

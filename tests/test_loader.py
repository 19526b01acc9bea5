"""The loader resolves a model once (export, configs, input size, variant, session) into a LoadedModel that a
Predictor only runs: each of the export's files is read once, and the variant step gets what was read."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from livevision.loader import LoadedModel, resolve_model
from livevision.models.cache import CacheEntry
from livevision.options import LoadOptions
from livevision.predictor import Predictor, load_model
from livevision.types import Precision, PrePost, Task


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """How many times each file of a cache entry is read."""
    counted = Counter()
    read_json = CacheEntry.read_json

    def counting(self, name):
        counted[name] += 1
        return read_json(self, name)

    monkeypatch.setattr(CacheEntry, "read_json", counting)
    return counted


def test_a_load_reads_each_config_once(tiny_model, model_cache, exported, reads):
    exported("depth_anything")  # exported beforehand: the export's own reads are not the loader's
    reads.clear()
    predictor = load_model(tiny_model("depth_anything"), "depth", cache_dir=model_cache, precision="fp32",
                           input_size=56, device="cpu")
    assert reads == {"config.json": 1, "preprocessor_config.json": 1}
    assert predictor.processor_config["size"] == {"height": 56, "width": 56}  # the input size, applied once


def test_the_variant_step_gets_what_was_read(tiny_model, model_cache, exported, reads, monkeypatch):
    """A precision variant is calibrated with the preprocessor the predictor then runs, and its config is
    not read again (a variant keeps its export's configs)."""
    import livevision.models.precision

    export = exported("vit")
    asked = {}

    def find_or_build_variant(fp32, task, **kwargs):
        asked.update(kwargs)
        return fp32

    monkeypatch.setattr(livevision.models.precision, "find_or_build_variant", find_or_build_variant)
    reads.clear()
    loaded = resolve_model(tiny_model("vit"), Task.CLASSIFICATION,
                           LoadOptions(cache_dir=model_cache, precision="int8", device="cpu"))
    assert reads == {"config.json": 1, "preprocessor_config.json": 1}
    assert asked["preprocess"] is loaded.model.preprocessor and asked["config"] is loaded.model.config
    assert asked["precision"] == "int8" and loaded.entry == export


def test_a_predictor_runs_a_loaded_model(tiny_model, model_cache, exported):
    exported("segformer")
    loaded = resolve_model(tiny_model("segformer"), Task.SEGMENTATION,
                           LoadOptions(cache_dir=model_cache, precision=Precision.FP32, device="cpu"))
    assert isinstance(loaded, LoadedModel) and loaded.pre_post is PrePost.AUTO  # measured on the first frame
    frame = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
    ours = Predictor(loaded)(frame)
    again = Predictor(loaded.entry, Task.SEGMENTATION, runtime=loaded.options)(frame)  # from an entry
    assert np.array_equal(ours.label_map, again.label_map)

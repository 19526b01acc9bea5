"""The architecture table (models/registry): one row per (model_type, task), the head class picks the row."""

from __future__ import annotations

import pytest

from livevision.errors import UnsupportedModelError
from livevision.models import registry
from livevision.models.registry import (
    ARCHITECTURES,
    MASK_CLASSIFICATION_TYPES,
    architecture_for,
    profile_for,
    spec_for,
    spec_of_config,
    supported_model_types,
)
from livevision.types import Task


def _config(model_type: str, *heads: str) -> dict:
    return {"model_type": model_type, "architectures": list(heads)}


@pytest.mark.parametrize("model_type, head, task, optimum_task", [
    ("beit", "BeitForImageClassification", Task.CLASSIFICATION, "image-classification"),
    ("beit", "BeitForSemanticSegmentation", Task.SEGMENTATION, "semantic-segmentation"),
    ("data2vec-vision", "Data2VecVisionForSemanticSegmentation", Task.SEGMENTATION, "semantic-segmentation"),
    ("dpt", "DPTForDepthEstimation", Task.DEPTH, "depth-estimation"),
    ("dpt", "DPTForSemanticSegmentation", Task.SEGMENTATION, "semantic-segmentation"),
    ("mobilevit", "MobileViTForImageClassification", Task.CLASSIFICATION, "image-classification"),
    ("mobilevit", "MobileViTForSemanticSegmentation", Task.SEGMENTATION, "semantic-segmentation"),
    ("mobilevitv2", "MobileViTV2ForSemanticSegmentation", Task.SEGMENTATION, "semantic-segmentation"),
    ("upernet", "UperNetForSemanticSegmentation", Task.SEGMENTATION, "semantic-segmentation"),
    ("mask2former", "Mask2FormerForUniversalSegmentation", Task.SEGMENTATION, "image-segmentation"),
])
def test_the_head_class_picks_the_row(model_type, head, task, optimum_task):
    config = _config(model_type, head)
    arch = architecture_for(config)
    assert (arch.task, arch.optimum_task, arch.outputs) == (task, optimum_task, ARCHITECTURES[model_type, task].outputs)
    assert architecture_for(config, task) == arch  # asking for the head's own task is the same
    assert spec_of_config(config) is ARCHITECTURES[model_type, task]


def test_a_head_of_another_task_is_refused_in_one_line():
    with pytest.raises(UnsupportedModelError, match="BeitForSemanticSegmentation is a segmentation model, "
                                                    "not classification") as caught:
        architecture_for(_config("beit", "BeitForSemanticSegmentation"), Task.CLASSIFICATION)
    assert "\n" not in str(caught.value)
    with pytest.raises(UnsupportedModelError, match="not supported for depth"):
        architecture_for(_config("upernet", "UperNetForSemanticSegmentation"), Task.DEPTH)
    with pytest.raises(UnsupportedModelError, match="BeitModel has no segmentation head"):
        architecture_for(_config("beit", "BeitModel"), Task.SEGMENTATION)


def test_without_a_head_name_a_model_type_takes_its_first_row():
    assert architecture_for({"model_type": "dpt"}).task is Task.DEPTH
    assert architecture_for({"model_type": "beit"}).task is Task.CLASSIFICATION
    assert architecture_for({"model_type": "beit"}, Task.SEGMENTATION).task is Task.SEGMENTATION
    assert architecture_for({"model_type": "segformer"}).task is Task.SEGMENTATION  # its classifier row is last
    assert architecture_for(_config("segformer", "SegformerForImageClassification")).task is Task.CLASSIFICATION
    assert spec_for("upernet") is ARCHITECTURES["upernet", Task.SEGMENTATION]
    assert spec_for("bert") is None and spec_for("beit", Task.DEPTH) is None


def test_supported_types_per_task_and_profiles():
    for model_type in ("beit", "data2vec-vision", "mobilevit", "mobilevitv2"):
        assert model_type in supported_model_types(Task.CLASSIFICATION)
        assert model_type in supported_model_types(Task.SEGMENTATION)
    assert "dpt" in supported_model_types(Task.DEPTH) and "dpt" in supported_model_types(Task.SEGMENTATION)
    assert MASK_CLASSIFICATION_TYPES == {"maskformer", "mask2former"}
    # BEiT's classifier is all MatMul; its segmentation head adds convolutions (static INT8 is tried too)
    assert profile_for("beit") is profile_for("beit", Task.CLASSIFICATION)
    assert profile_for("beit", Task.SEGMENTATION).family == "mixed"
    assert profile_for("beit", Task.CLASSIFICATION).family == "transformer"
    assert profile_for("bert") is registry.DEFAULT_PROFILE

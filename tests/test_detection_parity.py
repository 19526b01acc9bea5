"""Object detection against transformers, architecture by architecture: `transformers.pipeline("object-detection")`
and livevision (its Predictor on the host and device paths, and `livevision.pipeline`) on the same tiny
random-weight model and frames give the same objects: labels in the same order, scores within 1e-4, box
corners within 1 px (transformers truncates them to ints; a corner a hair from an integer can land on
either side of it)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import livevision  # noqa: E402
from livevision.predictor import Predictor, RuntimeOptions  # noqa: E402
from livevision.tasks.registry import definition  # noqa: E402
from livevision.testing.tiny_models import ARCHITECTURES, ZERO_SHOT, reference_images  # noqa: E402
from livevision.types import Task  # noqa: E402

DETECTORS = [name for name, (task, _) in ARCHITECTURES.items() if task == "detection" and name not in ZERO_SHOT]
CORNERS = ("xmin", "ymin", "xmax", "ymax")


@pytest.fixture(scope="module")
def images():
    """Photo-like RGB images of other sizes than the models' inputs: landscape and portrait."""
    generator = torch.Generator().manual_seed(5)
    return reference_images(1, generator, size=(200, 150)) + reference_images(1, generator, size=(96, 144))


def _reference(folder):
    processor = transformers.AutoImageProcessor.from_pretrained(folder, use_fast=False)
    return transformers.pipeline("object-detection", model=str(folder), image_processor=processor, device="cpu")


def _in_tie_order(objects: list[dict]) -> list[dict]:
    """The objects with each run of equal scores (within 1e-6) ordered by label and box: transformers' top-k
    heads order equal scores as torch.topk leaves them, which is unspecified (a saturated sigmoid gives
    several 1.0), and livevision's as ONNX TopK does (lower index first)."""
    ordered, start = [], 0
    while start < len(objects):
        end = start + 1
        while end < len(objects) and abs(objects[end]["score"] - objects[start]["score"]) <= 1e-6:
            end += 1
        ordered += sorted(objects[start:end], key=lambda o: (o["label"], *(o["box"][k] for k in CORNERS)))
        start = end
    return ordered


def _assert_same_objects(got: list[dict], want: list[dict], what) -> None:
    got, want = _in_tie_order(got), _in_tie_order(want)
    assert [g["label"] for g in got] == [w["label"] for w in want], what
    assert [g["score"] for g in got] == pytest.approx([w["score"] for w in want], abs=1e-4), what
    for g, w in zip(got, want):
        assert all(isinstance(g["box"][k], int) for k in CORNERS), what
        assert max(abs(g["box"][k] - w["box"][k]) for k in CORNERS) <= 1, (what, g, w)


def test_every_detection_architecture_is_covered():
    model_types = {model_type for name, (_, model_type) in ARCHITECTURES.items() if name in DETECTORS}
    assert model_types >= {"detr", "conditional_detr", "deformable_detr", "yolos", "table-transformer", "rt_detr",
                           "rt_detr_v2", "d_fine"}


@pytest.mark.parametrize("pre_post", ["host", "device"])
@pytest.mark.parametrize("name", DETECTORS)
def test_predictor_matches_the_pipeline(name, pre_post, tiny_model, exported, images):
    reference = _reference(tiny_model(name))
    ours = Predictor(exported(name), Task.DETECTION, runtime=RuntimeOptions(device="cpu", pre_post=pre_post))
    compared = 0
    for image in images:
        want = reference(image)
        result = ours(np.ascontiguousarray(np.asarray(image)[:, :, ::-1]))  # BGR, as OpenCV reads frames
        _assert_same_objects(definition(Task.DETECTION).transformers_output(result), want, (name, pre_post))
        compared += len(want)
    assert compared >= 2, "too few objects to compare"


@pytest.mark.parametrize("name", DETECTORS)
def test_livevision_pipeline_is_transformers_pipeline(name, tiny_model, model_cache, images):
    reference = _reference(tiny_model(name))
    ours = livevision.pipeline("object-detection", model=str(tiny_model(name)), cache_dir=model_cache, device="cpu")
    for options in ({}, {"threshold": 0.3}, {"threshold": 0.9}):
        for image in images:
            _assert_same_objects(ours(image, **options), reference(image, **options), (name, options))
    assert ours(images) == [ours(image) for image in images]

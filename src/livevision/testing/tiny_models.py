"""Tiny random-weight Hugging Face models of every architecture livevision supports.

Tests build these on the fly (a few seconds each, no Hub access) and feed them to
the real loading / export / pre- and post-processing code, exactly as a Hub
checkpoint would be fed:

    folder = build_tiny_model("depth_anything_v2", tmp_path / "da2")
    # folder holds config.json, preprocessor_config.json, model.safetensors

Each entry mirrors a real checkpoint: same model class and ``model_type``, the same
image processor class with the same settings (resample, mean/std, aspect-ratio
handling, multiples, crop rules...) -- only the sizes are shrunk (hidden sizes,
layers, and the processor's target size, 56..128 px) so building, exporting and
running take seconds.

Random weights are adjusted so outputs are *not* degenerate: classifier logits
have a spread of a few units (top-5 is well defined, softmax is not uniform),
segmentation maps have several classes, depth maps are positive and vary. The
adjustments are deterministic (seeded), so two builds with the same seed give
identical files.

This module holds the table of architectures and the build; the builders are in tiny_depth,
tiny_classifiers (+ tiny_classifiers_more), tiny_segmentation, tiny_semantic and tiny_detection, the weight
adjustments in tiny_calibration, what they share in tiny_common.
"""

from __future__ import annotations

import pathlib
from typing import Callable

import torch

from . import (tiny_classifiers, tiny_classifiers_more, tiny_depth, tiny_detection, tiny_segmentation,
               tiny_semantic, tiny_zero_shot)
from .tiny_calibration import calibrate_depth, make_non_degenerate, reference_images

__all__ = ["ARCHITECTURES", "ZERO_SHOT", "auto_model_class", "build_tiny_model", "calibrate_depth", "reference_images"]

# name -> (task, model_type)
ARCHITECTURES: dict[str, tuple[str, str]] = {
    # depth
    "dpt": ("depth", "dpt"),
    "dpt_hybrid": ("depth", "dpt"),
    "zoedepth": ("depth", "zoedepth"),
    "zoedepth_nyu_kitti": ("depth", "zoedepth"),
    "depth_anything": ("depth", "depth_anything"),
    "depth_anything_v2": ("depth", "depth_anything"),
    "depth_anything_metric": ("depth", "depth_anything"),
    "glpn": ("depth", "glpn"),
    # classification
    "resnet": ("classification", "resnet"),
    "vit": ("classification", "vit"),
    "efficientnet": ("classification", "efficientnet"),
    "convnext": ("classification", "convnext"),
    "mobilenet_v2": ("classification", "mobilenet_v2"),
    "mobilevit": ("classification", "mobilevit"),
    "dinov2": ("classification", "dinov2"),
    "swin": ("classification", "swin"),
    "deit": ("classification", "deit"),
    "beit": ("classification", "beit"),
    "regnet": ("classification", "regnet"),
    "levit": ("classification", "levit"),
    "poolformer": ("classification", "poolformer"),
    # more classifiers (tiny_classifiers_more)
    "swinv2": ("classification", "swinv2"),
    "data2vec_vision": ("classification", "data2vec-vision"),
    "convnextv2": ("classification", "convnextv2"),
    "cvt": ("classification", "cvt"),
    "vit_msn": ("classification", "vit_msn"),
    "mobilenet_v1": ("classification", "mobilenet_v1"),
    "mobilevitv2": ("classification", "mobilevitv2"),
    "hiera": ("classification", "hiera"),
    "segformer_classifier": ("classification", "segformer"),
    "pvt": ("classification", "pvt"),
    "clip": ("classification", "clip"),
    "focalnet": ("classification", "focalnet"),
    "swiftformer": ("classification", "swiftformer"),
    "ijepa": ("classification", "ijepa"),
    "pvt_v2": ("classification", "pvt_v2"),
    # segmentation
    "segformer": ("segmentation", "segformer"),
    "maskformer": ("segmentation", "maskformer"),
    "mask2former": ("segmentation", "mask2former"),
    # semantic segmentation heads on backbones that are also classifiers or depth models (tiny_semantic)
    "beit_semantic": ("segmentation", "beit"),
    "data2vec_vision_semantic": ("segmentation", "data2vec-vision"),
    "mobilevit_deeplabv3": ("segmentation", "mobilevit"),
    "mobilevitv2_deeplabv3": ("segmentation", "mobilevitv2"),
    "dpt_semantic": ("segmentation", "dpt"),
    "upernet_convnext": ("segmentation", "upernet"),
    "upernet_swin": ("segmentation", "upernet"),
    # object detection (tiny_detection)
    "detr": ("detection", "detr"),
    "conditional_detr": ("detection", "conditional_detr"),
    "deformable_detr": ("detection", "deformable_detr"),
    "yolos": ("detection", "yolos"),
    "table_transformer": ("detection", "table-transformer"),
    "rt_detr": ("detection", "rt_detr"),
    "rt_detr_v2": ("detection", "rt_detr_v2"),
    "d_fine": ("detection", "d_fine"),
    # zero-shot detection with text queries (tiny_zero_shot: the processor saves a tokenizer too)
    "owlvit": ("detection", "owlvit"),
    "owlv2": ("detection", "owlv2"),
}


# name -> builder (returns the model and its image processor), from the modules that hold them
_BUILDERS: dict[str, Callable] = {
    **tiny_depth.BUILDERS,
    **tiny_classifiers.BUILDERS,
    **tiny_classifiers_more.BUILDERS,
    **tiny_segmentation.BUILDERS,
    **tiny_semantic.BUILDERS,
    **tiny_detection.BUILDERS,
    **tiny_zero_shot.BUILDERS,
}
assert set(_BUILDERS) == set(ARCHITECTURES), "every architecture has one builder"
#: The detectors that take text queries (their reference is transformers' zero-shot-object-detection pipeline)
ZERO_SHOT = frozenset(tiny_zero_shot.BUILDERS)


def auto_model_class(name: str):
    """The transformers Auto class that loads the model of architecture ``name`` (as the exporter would)."""
    import transformers

    task, model_type = ARCHITECTURES[name]
    if task == "depth":
        return transformers.AutoModelForDepthEstimation
    if task == "classification":
        return transformers.AutoModelForImageClassification
    if model_type in tiny_zero_shot.BUILDERS:
        return transformers.AutoModelForZeroShotObjectDetection
    if task == "detection":
        return transformers.AutoModelForObjectDetection
    if model_type in ("maskformer", "mask2former"):
        return transformers.AutoModelForUniversalSegmentation
    return transformers.AutoModelForSemanticSegmentation


def build_tiny_model(name: str, folder: pathlib.Path, *, seed: int = 0) -> pathlib.Path:
    """Write a tiny random-weight Hugging Face model folder for architecture ``name``; return the folder."""
    if name not in ARCHITECTURES:
        raise KeyError(f"unknown tiny architecture {name!r}; known: {sorted(_BUILDERS)}")
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):  # deterministic, and the caller's RNG state is left alone
        torch.manual_seed(seed)
        model, processor = _BUILDERS[name]()
        model.eval()
        generator = torch.Generator().manual_seed(seed + 1)
        if name in tiny_zero_shot.BUILDERS:  # calibrated on its test labels instead
            tiny_zero_shot.calibrate(model, processor)
        else:
            make_non_degenerate(ARCHITECTURES[name][0], name, model, generator, processor)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    return folder

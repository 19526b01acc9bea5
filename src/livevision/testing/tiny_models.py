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
"""

from __future__ import annotations

import pathlib
from typing import Callable

import torch

from .tiny_common import BICUBIC, BILINEAR, HALF, IMAGENET_MEAN, IMAGENET_STD, NEAREST  # noqa: F401
from .tiny_common import CLASS_NAMES as _CLASS_NAMES
from .tiny_common import SEGMENT_NAMES as _SEGMENT_NAMES
from .tiny_common import labels as _labels
from . import tiny_classifiers, tiny_semantic

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
    # more classifiers (tiny_classifiers)
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
}

# ---------------------------------------------------------------------------
# builders: each returns (model, image_processor)
# ---------------------------------------------------------------------------


def _dpt():
    # Intel/dpt-large: ViT backbone, DPTImageProcessor 384x384, no aspect ratio kept, mean/std 0.5.
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    config = DPTConfig(
        image_size=64,
        patch_size=16,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=37,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[16, 16, 32, 32],
        fusion_hidden_size=16,
        head_in_index=-1,
        readout_type="project",
        reassemble_factors=[4, 2, 1, 0.5],
    )
    processor = DPTImageProcessor(
        do_resize=True,
        size={"height": 64, "width": 64},
        resample=BICUBIC,
        keep_aspect_ratio=False,
        ensure_multiple_of=1,
        do_rescale=True,
        do_normalize=True,
        image_mean=HALF,
        image_std=HALF,
    )
    return DPTForDepthEstimation(config), processor


def _dpt_hybrid():
    # Intel/dpt-hybrid-midas: is_hybrid with a BiT backbone (global "same" padding, bottleneck layers).
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    backbone_config = {
        "model_type": "bit",
        "global_padding": "same",
        "layer_type": "bottleneck",
        "depths": [1, 1, 1],
        "out_features": ["stage1", "stage2", "stage3"],
        "embedding_dynamic_padding": True,
        "embedding_size": 16,
        "hidden_sizes": [16, 16, 32],
        "num_groups": 2,
    }
    config = DPTConfig(
        image_size=64,
        patch_size=16,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=37,
        is_hybrid=True,
        backbone_config=backbone_config,
        backbone_featmap_shape=[1, 32, 4, 4],
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[16, 16, 32, 32],
        fusion_hidden_size=16,
        readout_type="project",
        reassemble_factors=[1, 1, 1, 0.5],
    )
    processor = DPTImageProcessor(
        do_resize=True,
        size={"height": 64, "width": 64},
        resample=BICUBIC,
        keep_aspect_ratio=False,
        ensure_multiple_of=1,
        image_mean=HALF,
        image_std=HALF,
    )
    return DPTForDepthEstimation(config), processor


def _zoedepth_config(bin_configurations, **kwargs):
    from transformers import BeitConfig, ZoeDepthConfig

    # Intel/zoedepth-*: BEiT backbone with relative position bias, features from 4 stages.
    backbone_config = BeitConfig(
        image_size=64,
        patch_size=16,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=37,
        use_relative_position_bias=True,
        reshape_hidden_states=False,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    return ZoeDepthConfig(
        backbone_config=backbone_config,
        neck_hidden_sizes=[16, 16, 32, 32],
        fusion_hidden_size=16,
        bottleneck_features=16,
        num_relative_features=8,
        bin_embedding_dim=16,
        num_attractors=[4, 4, 2, 1],
        bin_centers_type="softplus",
        bin_configurations=bin_configurations,
        **kwargs,
    )


def _zoedepth_processor():
    from transformers import ZoeDepthImageProcessor

    # Real: size 384x512, keep_aspect_ratio, ensure_multiple_of 32, pad, bilinear, mean/std 0.5.
    return ZoeDepthImageProcessor(
        do_pad=True,
        do_rescale=True,
        do_normalize=True,
        image_mean=HALF,
        image_std=HALF,
        do_resize=True,
        size={"height": 96, "width": 128},
        resample=BILINEAR,
        keep_aspect_ratio=True,
        ensure_multiple_of=32,
    )


def _zoedepth():
    # Intel/zoedepth-nyu: one bin configuration, one metric head.
    from transformers import ZoeDepthForDepthEstimation

    config = _zoedepth_config([{"name": "nyu", "n_bins": 8, "min_depth": 1e-3, "max_depth": 10.0}])
    return ZoeDepthForDepthEstimation(config), _zoedepth_processor()


def _zoedepth_nyu_kitti():
    # Intel/zoedepth-nyu-kitti: two bin configurations; a patch transformer + MLP classifier picks the head
    # (argmax(...).item()). The MLP classifier's input width is hard-coded to 128 in transformers, and the
    # patch transformer's forward runs exactly 4 layers.
    from transformers import ZoeDepthForDepthEstimation

    config = _zoedepth_config(
        [
            {"name": "nyu", "n_bins": 8, "min_depth": 1e-3, "max_depth": 10.0},
            {"name": "kitti", "n_bins": 8, "min_depth": 1e-3, "max_depth": 80.0},
        ],
        num_patch_transformer_layers=4,
        patch_transformer_hidden_size=128,
        patch_transformer_intermediate_size=32,
        patch_transformer_num_attention_heads=4,
    )
    return ZoeDepthForDepthEstimation(config), _zoedepth_processor()


def _depth_anything_common(out_indices, **kwargs):
    # 8 backbone layers so that V1 (last four layers) and V2 (evenly spaced layers) differ as in the real
    # configs (small: V1 [9, 10, 11, 12], V2 [3, 6, 9, 12]).
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    backbone_config = Dinov2Config(
        image_size=56,
        patch_size=14,
        hidden_size=32,
        num_hidden_layers=8,
        num_attention_heads=4,
        intermediate_size=37,
        out_indices=out_indices,
        apply_layernorm=True,
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone_config,
        reassemble_hidden_size=32,
        patch_size=14,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        **kwargs,
    )
    # LiheYoung/depth-anything-small-hf & depth-anything/Depth-Anything-V2-*-hf:
    # size 518, keep aspect ratio, multiple of 14, bicubic, ImageNet mean/std.
    processor = DPTImageProcessor(
        do_resize=True,
        size={"height": 56, "width": 56},
        resample=BICUBIC,
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        do_rescale=True,
        do_normalize=True,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )
    return DepthAnythingForDepthEstimation(config), processor


def _depth_anything():
    # V1 (LiheYoung/depth-anything-*-hf): features from the last four layers.
    return _depth_anything_common([5, 6, 7, 8])


def _depth_anything_v2():
    # V2 small: features from layers 3, 6, 9, 12 (evenly spaced); the rest of the config is the same.
    return _depth_anything_common([2, 4, 6, 8])


def _depth_anything_metric():
    # Depth-Anything-V2-Metric-Indoor: sigmoid head scaled by max_depth (20 m indoor, 80 m outdoor).
    return _depth_anything_common([2, 4, 6, 8], depth_estimation_type="metric", max_depth=20.0)


def _glpn():
    # vinvino02/glpn-kitti / glpn-nyu: GLPNImageProcessor rounds sizes down to a multiple of 32.
    from transformers import GLPNConfig, GLPNForDepthEstimation, GLPNImageProcessor

    config = GLPNConfig(
        num_encoder_blocks=4,
        depths=[1, 1, 1, 1],
        sr_ratios=[8, 4, 2, 1],
        hidden_sizes=[8, 16, 32, 64],
        patch_sizes=[7, 3, 3, 3],
        strides=[4, 2, 2, 2],
        num_attention_heads=[1, 1, 2, 4],
        mlp_ratios=[2, 2, 2, 2],
        decoder_hidden_size=16,
        max_depth=10,
        head_in_index=-1,
    )
    processor = GLPNImageProcessor(do_resize=True, size_divisor=32, resample=BILINEAR, do_rescale=True)
    return GLPNForDepthEstimation(config), processor


# --- classification ---------------------------------------------------------


def _resnet():
    # microsoft/resnet-50: ConvNextImageProcessor, shortest_edge 224, crop_pct 0.875, bicubic.
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16, 32, 64],
        depths=[1, 1, 1, 1],
        layer_type="bottleneck",
        **_labels(_CLASS_NAMES),
    )
    processor = ConvNextImageProcessor(
        do_resize=True,
        size={"shortest_edge": 64},
        crop_pct=0.875,
        resample=BICUBIC,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )
    return ResNetForImageClassification(config), processor


def _vit():
    # google/vit-base-patch16-224: ViTImageProcessor 224x224, bilinear, mean/std 0.5.
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(
        image_size=64,
        patch_size=16,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        **_labels(_CLASS_NAMES),
    )
    processor = ViTImageProcessor(
        do_resize=True, size={"height": 64, "width": 64}, resample=BILINEAR, image_mean=HALF, image_std=HALF
    )
    return ViTForImageClassification(config), processor


def _efficientnet():
    # google/efficientnet-b0: 224x224, nearest, ImageNet mean with its own std, no center crop.
    from transformers import EfficientNetConfig, EfficientNetForImageClassification, EfficientNetImageProcessor

    config = EfficientNetConfig(
        image_size=64,
        width_coefficient=0.25,
        depth_coefficient=0.25,
        hidden_dim=320,  # must equal round_filters(1280) for this width_coefficient
        depthwise_padding=[],
        **_labels(_CLASS_NAMES),
    )
    processor = EfficientNetImageProcessor(
        do_resize=True,
        size={"height": 64, "width": 64},
        resample=NEAREST,
        do_center_crop=False,
        crop_size={"height": 83, "width": 83},
        do_rescale=True,
        rescale_offset=False,
        do_normalize=True,
        image_mean=IMAGENET_MEAN,
        image_std=[0.47853944, 0.4732864, 0.47434163],
        include_top=True,
    )
    return EfficientNetForImageClassification(config), processor


def _convnext():
    # facebook/convnext-tiny-224: ConvNextImageProcessor, shortest_edge 224, crop_pct 0.875, bicubic.
    from transformers import ConvNextConfig, ConvNextForImageClassification, ConvNextImageProcessor

    config = ConvNextConfig(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], **_labels(_CLASS_NAMES))
    processor = ConvNextImageProcessor(
        do_resize=True,
        size={"shortest_edge": 64},
        crop_pct=0.875,
        resample=BICUBIC,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )
    return ConvNextForImageClassification(config), processor


def _mobilenet_v2():
    # google/mobilenet_v2_1.0_224: shortest_edge 256, center crop 224, bilinear, mean/std 0.5.
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification, MobileNetV2ImageProcessor

    config = MobileNetV2Config(
        image_size=64, depth_multiplier=0.25, min_depth=8, tf_padding=True, **_labels(_CLASS_NAMES)
    )
    processor = MobileNetV2ImageProcessor(
        do_resize=True,
        size={"shortest_edge": 73},
        resample=BILINEAR,
        do_center_crop=True,
        crop_size={"height": 64, "width": 64},
        image_mean=HALF,
        image_std=HALF,
    )
    return MobileNetV2ForImageClassification(config), processor


def _mobilevit():
    # apple/mobilevit-small: shortest_edge 288, center crop 256, bilinear, BGR channel flip, no normalization.
    from transformers import MobileViTConfig, MobileViTForImageClassification, MobileViTImageProcessor

    config = MobileViTConfig(
        image_size=64,
        patch_size=2,
        hidden_sizes=[16, 24, 32],
        neck_hidden_sizes=[8, 8, 16, 16, 32, 32, 40],
        num_attention_heads=2,
        **_labels(_CLASS_NAMES),
    )
    processor = MobileViTImageProcessor(
        do_resize=True,
        size={"shortest_edge": 72},
        resample=BILINEAR,
        do_center_crop=True,
        crop_size={"height": 64, "width": 64},
        do_flip_channel_order=True,
    )
    return MobileViTForImageClassification(config), processor


def _dinov2():
    # facebook/dinov2-small-imagenet1k-1-layer: BitImageProcessor shortest_edge 256, crop 224, bicubic.
    from transformers import BitImageProcessor, Dinov2Config, Dinov2ForImageClassification

    config = Dinov2Config(
        image_size=56,
        patch_size=14,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        **_labels(_CLASS_NAMES),
    )
    processor = BitImageProcessor(
        do_resize=True,
        size={"shortest_edge": 64},
        resample=BICUBIC,
        do_center_crop=True,
        crop_size={"height": 56, "width": 56},
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        do_convert_rgb=True,
    )
    return Dinov2ForImageClassification(config), processor


def _swin():
    # microsoft/swin-tiny-patch4-window7-224: ViTImageProcessor 224x224, bicubic, ImageNet mean/std.
    from transformers import SwinConfig, SwinForImageClassification, ViTImageProcessor

    config = SwinConfig(
        image_size=64,
        patch_size=4,
        embed_dim=16,
        depths=[1, 1, 1, 1],
        num_heads=[1, 2, 4, 8],
        window_size=2,  # 64 px / 32 = 2: no stage smaller than the window (real: 224 / 32 = 7 = window)
        **_labels(_CLASS_NAMES),
    )
    processor = ViTImageProcessor(
        do_resize=True,
        size={"height": 64, "width": 64},
        resample=BICUBIC,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )
    return SwinForImageClassification(config), processor


def _deit():
    # facebook/deit-small-distilled-patch16-224 style: DeiTImageProcessor 256 -> crop 224, bicubic.
    from transformers import DeiTConfig, DeiTForImageClassification, DeiTImageProcessor

    config = DeiTConfig(
        image_size=64,
        patch_size=16,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        **_labels(_CLASS_NAMES),
    )
    processor = DeiTImageProcessor(
        do_resize=True,
        size={"height": 73, "width": 73},
        resample=BICUBIC,
        do_center_crop=True,
        crop_size={"height": 64, "width": 64},
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )
    return DeiTForImageClassification(config), processor


def _beit():
    # microsoft/beit-base-patch16-224: BeitImageProcessor 224x224, bilinear, mean/std 0.5, no crop.
    from transformers import BeitConfig, BeitForImageClassification, BeitImageProcessor

    config = BeitConfig(
        image_size=64,
        patch_size=16,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        use_relative_position_bias=True,
        use_mean_pooling=True,
        **_labels(_CLASS_NAMES),
    )
    processor = BeitImageProcessor(
        do_resize=True,
        size={"height": 64, "width": 64},
        resample=BILINEAR,
        do_center_crop=False,
        image_mean=HALF,
        image_std=HALF,
        do_reduce_labels=False,
    )
    return BeitForImageClassification(config), processor


def _regnet():
    # facebook/regnet-y-040: ConvNextImageProcessor shortest_edge 224, crop_pct 0.875, bicubic.
    from transformers import ConvNextImageProcessor, RegNetConfig, RegNetForImageClassification

    config = RegNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16, 32, 64],
        depths=[1, 1, 1, 1],
        groups_width=8,
        layer_type="y",
        **_labels(_CLASS_NAMES),
    )
    processor = ConvNextImageProcessor(
        do_resize=True,
        size={"shortest_edge": 64},
        crop_pct=0.875,
        resample=BICUBIC,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )
    return RegNetForImageClassification(config), processor


def _levit():
    # facebook/levit-128S: LevitImageProcessor shortest_edge 224 (resized by 256/224), crop 224, bicubic.
    from transformers import LevitConfig, LevitForImageClassificationWithTeacher, LevitImageProcessor

    config = LevitConfig(
        image_size=64,
        hidden_sizes=[16, 32, 48],
        num_attention_heads=[1, 2, 3],
        depths=[1, 1, 1],
        key_dim=[8, 8, 8],
        drop_path_rate=0,
        mlp_ratio=[2, 2, 2],
        attention_ratio=[2, 2, 2],
        **_labels(_CLASS_NAMES),
    )
    processor = LevitImageProcessor(
        do_resize=True,
        size={"shortest_edge": 64},
        resample=BICUBIC,
        do_center_crop=True,
        crop_size={"height": 64, "width": 64},
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )
    return LevitForImageClassificationWithTeacher(config), processor


def _poolformer():
    # sail/poolformer_s12: PoolFormerImageProcessor shortest_edge 224, crop_pct 0.9, bicubic.
    from transformers import PoolFormerConfig, PoolFormerForImageClassification, PoolFormerImageProcessor

    config = PoolFormerConfig(
        hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], num_encoder_blocks=4, **_labels(_CLASS_NAMES)
    )
    processor = PoolFormerImageProcessor(
        do_resize=True,
        size={"shortest_edge": 64},
        crop_pct=0.9,
        resample=BICUBIC,
        do_center_crop=True,
        crop_size={"height": 64, "width": 64},
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )
    return PoolFormerForImageClassification(config), processor


# --- segmentation -------------------------------------------------------------


def _segformer():
    # nvidia/segformer-b0-finetuned-ade-512-512: 512x512, bilinear, ImageNet mean/std, reduce_labels.
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    config = SegformerConfig(
        num_encoder_blocks=4,
        depths=[1, 1, 1, 1],
        sr_ratios=[8, 4, 2, 1],
        hidden_sizes=[8, 16, 32, 64],
        num_attention_heads=[1, 1, 2, 4],
        decoder_hidden_size=32,
        **_labels(_SEGMENT_NAMES),
    )
    processor = SegformerImageProcessor(
        do_resize=True,
        size={"height": 64, "width": 64},
        resample=BILINEAR,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        do_reduce_labels=True,
    )
    return SegformerForSemanticSegmentation(config), processor


def _swin_backbone(window_size=2):
    # Swin shrinks its window (and drops the shift) in any stage whose resolution is <= window_size, a
    # Python-level branch that tracing freezes. Real checkpoints (window 7 or 12, inputs >= 384 px) never hit it
    # in their usual size range; the tiny one keeps the same property for inputs >= 96 px (96 / 32 = 3 > 2).
    return {
        "model_type": "swin",
        "image_size": 64,
        "patch_size": 4,
        "embed_dim": 16,
        "depths": [1, 1, 1, 1],
        "num_heads": [1, 2, 4, 8],
        "window_size": window_size,
        "use_absolute_embeddings": False,
        "out_features": ["stage1", "stage2", "stage3", "stage4"],
    }


def _maskformer():
    # facebook/maskformer-swin-tiny-ade: MaskFormerImageProcessor shortest_edge 512 (max 2048), size
    # divisor 32, bilinear, ImageNet mean/std, reduce_labels, ignore_index 255.
    from transformers import MaskFormerConfig, MaskFormerForInstanceSegmentation, MaskFormerImageProcessor

    config = MaskFormerConfig(
        backbone_config=_swin_backbone(),
        decoder_config={
            "model_type": "detr",
            "d_model": 32,
            "encoder_layers": 1,
            "decoder_layers": 2,
            "encoder_attention_heads": 4,
            "decoder_attention_heads": 4,
            "encoder_ffn_dim": 32,
            "decoder_ffn_dim": 32,
            "num_queries": 8,
        },
        fpn_feature_size=32,
        mask_feature_size=32,
        num_queries=8,
        **_labels(_SEGMENT_NAMES),
    )
    processor = MaskFormerImageProcessor(
        do_resize=True,
        size={"shortest_edge": 96, "longest_edge": 384},
        size_divisor=32,
        resample=BILINEAR,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        ignore_index=255,
        do_reduce_labels=True,
    )
    return MaskFormerForInstanceSegmentation(config), processor


def _mask2former():
    # facebook/mask2former-swin-*-coco-instance: Mask2FormerImageProcessor with a fixed 384x384 size,
    # size divisor 32, bilinear, ImageNet mean/std, labels not reduced.
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, Mask2FormerImageProcessor

    config = Mask2FormerConfig(
        backbone_config=_swin_backbone(),
        feature_size=32,
        mask_feature_size=32,
        hidden_dim=32,
        encoder_feedforward_dim=32,
        dim_feedforward=32,
        encoder_layers=1,
        decoder_layers=3,
        num_attention_heads=4,
        num_queries=8,
        **_labels(_SEGMENT_NAMES),
    )
    processor = Mask2FormerImageProcessor(
        do_resize=True,
        size={"height": 96, "width": 96},
        size_divisor=32,
        resample=BILINEAR,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        ignore_index=255,
        do_reduce_labels=False,
    )
    return Mask2FormerForUniversalSegmentation(config), processor


_BUILDERS: dict[str, Callable] = {
    "dpt": _dpt,
    "dpt_hybrid": _dpt_hybrid,
    "zoedepth": _zoedepth,
    "zoedepth_nyu_kitti": _zoedepth_nyu_kitti,
    "depth_anything": _depth_anything,
    "depth_anything_v2": _depth_anything_v2,
    "depth_anything_metric": _depth_anything_metric,
    "glpn": _glpn,
    "resnet": _resnet,
    "vit": _vit,
    "efficientnet": _efficientnet,
    "convnext": _convnext,
    "mobilenet_v2": _mobilenet_v2,
    "mobilevit": _mobilevit,
    "dinov2": _dinov2,
    "swin": _swin,
    "deit": _deit,
    "beit": _beit,
    "regnet": _regnet,
    "levit": _levit,
    "poolformer": _poolformer,
    "segformer": _segformer,
    "maskformer": _maskformer,
    "mask2former": _mask2former,
    **tiny_classifiers.BUILDERS,
    **tiny_semantic.BUILDERS,
}


def auto_model_class(name: str):
    """The transformers Auto class that loads the model of architecture ``name`` (as the exporter would)."""
    import transformers

    task, model_type = ARCHITECTURES[name]
    if task == "depth":
        return transformers.AutoModelForDepthEstimation
    if task == "classification":
        return transformers.AutoModelForImageClassification
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
        _make_non_degenerate(name, model, generator, processor)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    return folder



# ---------------------------------------------------------------------------
# non-degenerate random outputs
# ---------------------------------------------------------------------------


def reference_images(count: int, generator: torch.Generator, size=(160, 120)) -> list:
    """Smooth random RGB PIL images (blurred-photo-like), ``size`` = (width, height)."""
    import numpy as np
    from PIL import Image

    images = []
    for _ in range(count):
        coarse = torch.randint(0, 256, (6, 8, 3), generator=generator, dtype=torch.uint8).numpy()
        images.append(Image.fromarray(np.ascontiguousarray(coarse)).resize(size, Image.BICUBIC))
    return images


def _reference_pixels(processor, generator: torch.Generator, count: int = 4) -> torch.Tensor:
    """A batch of smooth random test images, run through the model's own processor."""
    return processor(reference_images(count, generator), return_tensors="pt")["pixel_values"]


@torch.no_grad()
def _variance_preserving_init(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Re-draw every weight matrix / conv kernel with std 1/sqrt(fan_in) (LeCun-style).

    The transformers default (normal(0, 0.02) or zeros for some heads) makes tiny models collapse to
    constant outputs: activations shrink layer after layer and ReLU/sigmoid heads saturate. With
    fan-in scaled weights, activations keep unit scale through the network and the output depends
    visibly on the input. Biases get small random values; ``nn.Embedding`` tables (e.g. object queries)
    unit-normal values; norms and free parameters (tokens, position embeddings) are kept.
    """
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if not isinstance(weight, torch.nn.Parameter) or weight.dim() < 2:
            continue
        if isinstance(module, torch.nn.Embedding):
            # learned queries / position embeddings: unit scale, so queries differ from each other
            weight.copy_(torch.randn(weight.shape, generator=generator))
            continue
        if isinstance(module, (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d)):
            fan_in = weight.shape[0] * weight[0, 0].numel()
        else:
            fan_in = weight[0].numel()
        weight.copy_(torch.randn(weight.shape, generator=generator) / fan_in**0.5)
        bias = getattr(module, "bias", None)
        if isinstance(bias, torch.nn.Parameter):
            bias.copy_(0.1 * torch.randn(bias.shape, generator=generator))


def _last_module(model: torch.nn.Module, predicate) -> torch.nn.Module:
    found = [m for m in model.modules() if predicate(m)]
    if not found:
        raise RuntimeError(f"no matching module in {type(model).__name__}")
    return found[-1]


def _capture(model, module, pixel_values):
    captured = {}

    def hook(_module, _inputs, output):
        captured["out"] = output

    handle = module.register_forward_hook(hook)
    try:
        output = model(pixel_values=pixel_values)
    finally:
        handle.remove()
    return output, captured["out"]


@torch.no_grad()
def _scale_module(module: torch.nn.Module, factor: float, shift: float = 0.0) -> None:
    module.weight.mul_(factor)
    if module.bias is not None:
        module.bias.mul_(factor).add_(shift)


@torch.no_grad()
def _calibrate_classifier(model, pixel_values) -> None:
    """Scale the classification head(s) so logits have a spread of ~2.5 (clear top-5, peaked softmax)."""
    num_labels = model.config.num_labels
    heads = [
        m
        for name, m in model.named_modules()
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))
        and (getattr(m, "out_features", None) or getattr(m, "out_channels", None)) == num_labels
    ]
    logits = model(pixel_values=pixel_values).logits
    factor = 2.5 / max(float(logits.std()), 1e-6)
    for head in heads:  # LeViT averages two heads: scaling both scales the logits
        _scale_module(head, factor)


@torch.no_grad()
def calibrate_depth(name, model, pixel_values) -> None:
    """Make the last 1-channel conv produce a varied, mostly positive pre-activation (on `pixel_values`).
    Also used by scripts/bench_models.py for the benchmark's full-size random Depth Anything."""
    if name.startswith("zoedepth"):
        _calibrate_zoedepth(name, model, pixel_values)
        return
    if name == "glpn":
        return
    last = _last_module(model, lambda m: isinstance(m, torch.nn.Conv2d) and m.out_channels == 1)
    _, pre = _capture(model, last, pixel_values)
    std = max(float(pre.std()), 1e-6)
    if model.config.model_type == "depth_anything" and model.config.depth_estimation_type == "metric":
        # sigmoid * max_depth: centre the pre-activation, unit spread (no saturation)
        _scale_module(last, 1.0 / std, -float(pre.mean()) / std)
    else:
        # ReLU head (relative inverse depth): spread 1, almost nothing clipped at zero
        q = float(torch.quantile(pre.flatten(), 0.001))
        _scale_module(last, 1.0 / std, (-q / std) + 0.5)


def _softplus_inverse(y: torch.Tensor) -> torch.Tensor:
    return y + torch.log(-torch.expm1(-y))


@torch.no_grad()
def _calibrate_zoedepth(name, model, pixel_values) -> None:
    """Spread ZoeDepth's bins over each configuration's depth range and sharpen the per-pixel bin choice.

    With random weights every bin centre sits near softplus(0) = 0.69 m and the bin distribution is flat,
    so the depth map is constant. Here: seed bin centres evenly over (0.1, 0.9) x max_depth of their
    configuration (so the NYU head gives 1-9 m and the KITTI head 8-72 m: the heads are easy to tell
    apart), per-pixel bin probabilities with a wide spread and a low temperature.
    For two configurations, the domain classifier's bias is centred so that about half of random
    images vote for each head (tests need inputs for both).
    """
    head = model.metric_head
    if hasattr(head, "seed_bin_regressors"):
        regressors = dict(head.seed_bin_regressors.items())
        binomials = list(head.conditional_log_binomial.values())
        confs = {c["name"]: c for c in model.config.bin_configurations}
    else:
        regressors = {"single": head.seed_bin_regressor}
        binomials = [head.conditional_log_binomial]
        confs = {"single": model.config.bin_configurations[0]}
    for key, regressor in regressors.items():
        conf = confs[key]
        n_bins = regressor.conv2.out_channels
        centres = torch.linspace(0.1, 0.9, n_bins) * conf["max_depth"]
        regressor.conv2.weight.mul_(0.1)
        regressor.conv2.bias.copy_(_softplus_inverse(centres))
    for binomial in binomials:
        last = binomial.mlp[2]  # 4 channels: 2 for the probability, 2 for the temperature
        last.weight[:2].mul_(20.0)
        last.weight[2:].mul_(0.1)
        last.bias[2:].copy_(torch.tensor([-3.0, 3.0]))
    if hasattr(head, "mlp_classifier"):
        embeddings = []
        hook = head.patch_transformer.register_forward_hook(lambda m, i, o: embeddings.append(o[:, 0, :]))
        try:
            for k in range(pixel_values.shape[0]):  # one image per call: the vote is per batch
                model(pixel_values=pixel_values[k : k + 1])
        finally:
            hook.remove()
        logits = head.mlp_classifier(torch.cat(embeddings))
        diff = logits[:, 1] - logits[:, 0]
        scale = 2.0 / max(float(diff.std()), 1e-6)
        head.mlp_classifier.linear2.weight.mul_(scale)
        head.mlp_classifier.linear2.bias.mul_(scale)
        head.mlp_classifier.linear2.bias[1] -= float(diff.median()) * scale + 1e-3


_MASK_LOGIT_OFFSET = 2.0
_CLASS_LOGIT_SPREAD = 5.0


@torch.no_grad()
def _calibrate_segmentation(name, model, pixel_values, generator) -> None:
    if not hasattr(model, "class_predictor"):  # per-pixel logits: SegFormer, BEiT, DPT, MobileViT, UperNet
        _calibrate_semantic(model, pixel_values)
        return
    # MaskFormer / Mask2Former: the semantic map is argmax_c sum_q softmax(class_q)[c] * sigmoid(mask_q).
    # Random pixel embeddings share a large common component, so one query wins everywhere. Centre the
    # pixel embeddings (per channel, over space), give the mask logits contrast and the class scores a peak,
    # so different queries -- with different classes -- win in different regions.
    decoder = model.model.pixel_level_module.decoder
    projection = decoder.mask_projection
    _, pixel_embeddings = _capture(model, projection, pixel_values)
    projection.bias -= pixel_embeddings.mean(dim=(0, 2, 3))
    embedder = model.mask_embedder if hasattr(model, "mask_embedder") else (
        model.model.transformer_module.decoder.mask_predictor.mask_embedder
    )
    # The decoder's query outputs also share a large common part: remove the mean over queries from the mask
    # embeddings and class logits (through the biases of the last layers), then scale what differs.
    last_linear = _last_module(embedder, lambda m: isinstance(m, torch.nn.Linear))
    _, mask_embeddings = _capture(model, last_linear, pixel_values)
    last_linear.bias -= mask_embeddings.mean(dim=(0, 1))
    out = model(pixel_values=pixel_values)
    _scale_module(last_linear, 4.0 / max(float(out.masks_queries_logits.std()), 1e-6))
    # Like a trained model, each mask is mostly "off" (logit < 0) outside its region: pixel-embedding
    # channel 0 becomes a constant 1 and every query's weight on it a negative offset.
    projection.weight[0] = 0.0
    projection.bias[0] = 1.0
    last_linear.weight[0] = 0.0
    last_linear.bias[0] = -_MASK_LOGIT_OFFSET
    # Class head: read the directions in which queries of the same image differ (top principal components of
    # the per-image-centred decoder outputs), so that queries get different classes.
    captured = {}
    hook = model.class_predictor.register_forward_pre_hook(lambda m, args: captured.__setitem__("h", args[0]))
    try:
        model(pixel_values=pixel_values)
    finally:
        hook.remove()
    hidden = captured["h"]  # (batch, queries, dim)
    within = (hidden - hidden.mean(dim=1, keepdim=True)).flatten(0, 1)
    _, _, v = torch.linalg.svd(within, full_matrices=False)
    basis = v[:4]  # (4, dim)
    head = model.class_predictor
    mixing = torch.randn((head.out_features, basis.shape[0]), generator=generator)
    head.weight.copy_(mixing @ basis)
    head.bias.copy_(-(head.weight @ hidden.flatten(0, 1).mean(dim=0)))
    out = model(pixel_values=pixel_values)
    spread = float((out.class_queries_logits - out.class_queries_logits.mean(dim=1, keepdim=True)).std())
    _scale_module(model.class_predictor, _CLASS_LOGIT_SPREAD / max(spread, 1e-6))


@torch.no_grad()
def _calibrate_semantic(model, pixel_values) -> None:
    """Centre and scale the classifier conv (not an auxiliary head's) so that several classes win.

    Random features share a large common part (DeepLabV3's pooled branch, biases), so one class can win
    everywhere: each class's bias removes its mean logit over the reference images, then the logits are
    scaled to a spread of ~3.
    """
    num_labels = model.config.num_labels
    head = [m for name, m in model.named_modules() if "auxiliary" not in name
            and isinstance(m, torch.nn.Conv2d) and m.out_channels == num_labels][-1]
    logits = model(pixel_values=pixel_values).logits
    head.bias -= logits.mean(dim=(0, 2, 3))
    logits = model(pixel_values=pixel_values).logits
    _scale_module(head, 3.0 / max(float(logits.std()), 1e-6))


def _make_non_degenerate(name: str, model: torch.nn.Module, generator: torch.Generator, processor) -> None:
    _variance_preserving_init(model, generator)
    pixel_values = _reference_pixels(processor, generator)
    task = ARCHITECTURES[name][0]
    if task == "classification":
        _calibrate_classifier(model, pixel_values)
    elif task == "depth":
        calibrate_depth(name, model, pixel_values)
    else:
        _calibrate_segmentation(name, model, pixel_values, generator)

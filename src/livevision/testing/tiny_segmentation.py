"""Tiny random-weight SegFormer, MaskFormer and Mask2Former (the other semantic heads: ``tiny_semantic``):
builders for ``tiny_models``, each returning ``(model, image_processor)``.
"""

from __future__ import annotations

from .tiny_common import BILINEAR, IMAGENET_MEAN, IMAGENET_STD
from .tiny_common import SEGMENT_NAMES as _SEGMENT_NAMES
from .tiny_common import labels as _labels


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


BUILDERS = {
    "segformer": _segformer,
    "maskformer": _maskformer,
    "mask2former": _mask2former,
}

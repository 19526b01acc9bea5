"""Tiny random-weight semantic segmentation models (per-pixel logits) besides SegFormer.

Builders for ``tiny_models`` (each returns ``(model, image_processor)``), the sizes taken from
transformers' own test suites, the processors from the real checkpoints' ``preprocessor_config.json``
with the size shrunk. Every model here outputs ``logits`` (batch, labels, h, w), post-processed like
SegFormer's by the processor's ``post_process_semantic_segmentation`` (bilinear, align_corners=False).
"""

from __future__ import annotations

from .tiny_common import BICUBIC, BILINEAR, HALF, IMAGENET_MEAN, IMAGENET_STD, SEGMENT_LABELS


def _beit_backbone_kwargs() -> dict:
    # BEiT's UperNet head reads 4 hidden states (out_indices), upsampled 4x / 2x / 1x / 0.5x.
    return dict(
        image_size=64,
        patch_size=16,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=37,
        out_indices=[1, 2, 3, 4],
        pool_scales=[1, 2, 3, 6],
        use_auxiliary_head=True,
        auxiliary_channels=16,
        **SEGMENT_LABELS,
    )


def _beit_processor():
    # microsoft/beit-base-finetuned-ade-640-640: 640x640, bilinear, mean/std 0.5, no crop, reduce_labels
    # (which only changes training labels, never the predicted ids).
    from transformers import BeitImageProcessor

    return BeitImageProcessor(
        do_resize=True,
        size={"height": 64, "width": 64},
        resample=BILINEAR,
        do_center_crop=False,
        image_mean=HALF,
        image_std=HALF,
        do_reduce_labels=True,
    )


def beit_semantic():
    from transformers import BeitConfig, BeitForSemanticSegmentation

    config = BeitConfig(use_relative_position_bias=True, **_beit_backbone_kwargs())
    return BeitForSemanticSegmentation(config), _beit_processor()


def data2vec_vision_semantic():
    # Data2Vec-vision is BEiT with other weights: same head, BeitImageProcessor.
    from transformers import Data2VecVisionConfig, Data2VecVisionForSemanticSegmentation

    config = Data2VecVisionConfig(use_relative_position_bias=True, **_beit_backbone_kwargs())
    return Data2VecVisionForSemanticSegmentation(config), _beit_processor()


def _mobilevit_processor():
    # apple/deeplabv3-mobilevit-small, apple/mobilevitv2-1.0-voc-deeplabv3: shortest edge 512, center crop
    # 512, bilinear, BGR channel flip, no normalization.
    from transformers import MobileViTImageProcessor

    return MobileViTImageProcessor(
        do_resize=True,
        size={"shortest_edge": 128},
        resample=BILINEAR,
        do_center_crop=True,
        crop_size={"height": 128, "width": 128},  # logits at 1/32: 4x4
        do_flip_channel_order=True,
    )


def mobilevit_deeplabv3():
    from transformers import MobileViTConfig, MobileViTForSemanticSegmentation

    config = MobileViTConfig(
        image_size=128,
        patch_size=2,
        hidden_sizes=[16, 24, 32],
        neck_hidden_sizes=[8, 8, 16, 16, 32, 32, 40],
        num_attention_heads=2,
        aspp_out_channels=16,
        atrous_rates=[6, 12, 18],
        **SEGMENT_LABELS,
    )
    return MobileViTForSemanticSegmentation(config), _mobilevit_processor()


def mobilevitv2_deeplabv3():
    from transformers import MobileViTV2Config, MobileViTV2ForSemanticSegmentation

    config = MobileViTV2Config(
        image_size=128,
        patch_size=2,
        width_multiplier=0.25,
        aspp_out_channels=16,
        atrous_rates=[6, 12, 18],
        **SEGMENT_LABELS,
    )
    model = MobileViTV2ForSemanticSegmentation(config)
    unit_norm_weights(model)
    return model, _mobilevit_processor()


def unit_norm_weights(model) -> None:
    """MobileViTV2's init draws norm scales from N(0, 0.02), so random activations vanish: use 1, as
    trained ones are of that order."""
    import torch

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.GroupNorm, torch.nn.LayerNorm)):
                module.weight.fill_(1.0)


def dpt_semantic():
    # Intel/dpt-large-ade: ViT-large + DPT neck + semantic head, DPTImageProcessor 480x480 (no aspect kept),
    # bicubic, mean/std 0.5, reduce_labels.
    from transformers import DPTConfig, DPTForSemanticSegmentation, DPTImageProcessor

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
        reassemble_factors=[4, 2, 1, 0.5],
        use_auxiliary_head=True,
        **SEGMENT_LABELS,
    )
    processor = DPTImageProcessor(
        do_resize=True,
        size={"height": 64, "width": 64},
        resample=BICUBIC,
        keep_aspect_ratio=False,
        ensure_multiple_of=1,
        image_mean=HALF,
        image_std=HALF,
        do_reduce_labels=True,
    )
    return DPTForSemanticSegmentation(config), processor


def _upernet(backbone_config):
    # openmmlab/upernet-convnext-*, upernet-swin-*: SegformerImageProcessor 512x512, bilinear, ImageNet
    # mean/std, labels not reduced.
    from transformers import SegformerImageProcessor, UperNetConfig, UperNetForSemanticSegmentation

    config = UperNetConfig(
        backbone_config=backbone_config,
        hidden_size=16,
        pool_scales=[1, 2, 3, 6],
        use_auxiliary_head=True,
        auxiliary_in_channels=32,
        auxiliary_channels=16,
        **SEGMENT_LABELS,
    )
    processor = SegformerImageProcessor(
        do_resize=True,
        size={"height": 64, "width": 64},
        resample=BILINEAR,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        do_reduce_labels=False,
    )
    return UperNetForSemanticSegmentation(config), processor


def upernet_convnext():
    from transformers import ConvNextConfig

    return _upernet(ConvNextConfig(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1],
                                   out_features=["stage1", "stage2", "stage3", "stage4"]))


def upernet_swin():
    from transformers import SwinConfig

    return _upernet(SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8],
                               window_size=2, out_features=["stage1", "stage2", "stage3", "stage4"]))


BUILDERS = {
    "beit_semantic": beit_semantic,
    "data2vec_vision_semantic": data2vec_vision_semantic,
    "mobilevit_deeplabv3": mobilevit_deeplabv3,
    "mobilevitv2_deeplabv3": mobilevitv2_deeplabv3,
    "dpt_semantic": dpt_semantic,
    "upernet_convnext": upernet_convnext,
    "upernet_swin": upernet_swin,
}

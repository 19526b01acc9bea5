"""Tiny random-weight image classifiers, the first set (more in ``tiny_classifiers_more``): builders for
``tiny_models``, each returning ``(model, image_processor)``.
"""

from __future__ import annotations

from .tiny_common import BICUBIC, BILINEAR, HALF, IMAGENET_MEAN, IMAGENET_STD, NEAREST
from .tiny_common import CLASS_NAMES as _CLASS_NAMES
from .tiny_common import labels as _labels


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


BUILDERS = {
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
}

"""Tiny random-weight image classifiers besides the first ones in ``tiny_models``.

Builders for ``tiny_models`` (each returns ``(model, image_processor)``): the sizes from transformers'
own test suites, the processors from the real checkpoints with the size shrunk.
"""

from __future__ import annotations

from .tiny_common import BICUBIC, BILINEAR, CLASS_LABELS, CLASS_NAMES, HALF, IMAGENET_MEAN, IMAGENET_STD, labels


def _convnext_processor():
    # facebook/convnextv2-tiny-1k-224, microsoft/cvt-13: shortest_edge 224, crop_pct 0.875, bicubic.
    from transformers import ConvNextImageProcessor

    return ConvNextImageProcessor(do_resize=True, size={"shortest_edge": 64}, crop_pct=0.875, resample=BICUBIC,
                                  image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)


def swinv2():
    # microsoft/swinv2-tiny-patch4-window8-256: ViTImageProcessor 256x256, bicubic, ImageNet mean/std.
    from transformers import Swinv2Config, Swinv2ForImageClassification, ViTImageProcessor

    config = Swinv2Config(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8],
                          window_size=2, **CLASS_LABELS)
    processor = ViTImageProcessor(do_resize=True, size={"height": 64, "width": 64}, resample=BICUBIC,
                                  image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)
    return Swinv2ForImageClassification(config), processor


def data2vec_vision():
    # facebook/data2vec-vision-base-ft1k: BeitImageProcessor 224x224, bilinear, mean/std 0.5, no crop.
    from transformers import BeitImageProcessor, Data2VecVisionConfig, Data2VecVisionForImageClassification

    config = Data2VecVisionConfig(image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=4, intermediate_size=37, use_relative_position_bias=True,
                                  use_mean_pooling=True, **CLASS_LABELS)
    processor = BeitImageProcessor(do_resize=True, size={"height": 64, "width": 64}, resample=BILINEAR,
                                   do_center_crop=False, image_mean=HALF, image_std=HALF, do_reduce_labels=False)
    return Data2VecVisionForImageClassification(config), processor


def convnextv2():
    from transformers import ConvNextV2Config, ConvNextV2ForImageClassification

    config = ConvNextV2Config(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], **CLASS_LABELS)
    return ConvNextV2ForImageClassification(config), _convnext_processor()


def cvt():
    from transformers import CvtConfig, CvtForImageClassification

    # depth: transformers indexes stage i's drop-path rates by i, so stage i needs more than i layers
    config = CvtConfig(embed_dim=[16, 32, 48], num_heads=[1, 2, 3], depth=[1, 2, 3], **CLASS_LABELS)
    return CvtForImageClassification(config), _convnext_processor()


def vit_msn():
    # facebook/vit-msn-small (fine-tuned): ViTImageProcessor 224x224, bicubic, ImageNet mean/std.
    from transformers import ViTImageProcessor, ViTMSNConfig, ViTMSNForImageClassification

    config = ViTMSNConfig(image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=37, **CLASS_LABELS)
    processor = ViTImageProcessor(do_resize=True, size={"height": 64, "width": 64}, resample=BICUBIC,
                                  image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)
    return ViTMSNForImageClassification(config), processor


def mobilenet_v1():
    # google/mobilenet_v1_1.0_224: shortest_edge 256, center crop 224, bilinear, mean/std 0.5.
    from transformers import MobileNetV1Config, MobileNetV1ForImageClassification, MobileNetV1ImageProcessor

    config = MobileNetV1Config(image_size=64, depth_multiplier=0.25, min_depth=8, tf_padding=True, **CLASS_LABELS)
    processor = MobileNetV1ImageProcessor(do_resize=True, size={"shortest_edge": 73}, resample=BILINEAR,
                                          do_center_crop=True, crop_size={"height": 64, "width": 64},
                                          image_mean=HALF, image_std=HALF)
    return MobileNetV1ForImageClassification(config), processor


def mobilevitv2():
    # apple/mobilevitv2-1.0-imagenet1k-256: shortest_edge 288, center crop 256, bilinear, BGR flip.
    from transformers import MobileViTImageProcessor, MobileViTV2Config, MobileViTV2ForImageClassification

    from .tiny_semantic import unit_norm_weights

    config = MobileViTV2Config(image_size=64, patch_size=2, width_multiplier=0.25, **CLASS_LABELS)
    model = MobileViTV2ForImageClassification(config)
    unit_norm_weights(model)
    processor = MobileViTImageProcessor(do_resize=True, size={"shortest_edge": 72}, resample=BILINEAR,
                                        do_center_crop=True, crop_size={"height": 64, "width": 64},
                                        do_flip_channel_order=True)
    return model, processor


def hiera():
    # facebook/hiera-tiny-224-in1k-hf: BitImageProcessor shortest_edge 256, crop 224, bicubic, ImageNet.
    from transformers import BitImageProcessor, HieraConfig, HieraForImageClassification

    config = HieraConfig(image_size=[64, 64], embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                         masked_unit_size=[8, 8], **CLASS_LABELS)
    processor = BitImageProcessor(do_resize=True, size={"shortest_edge": 73}, resample=BICUBIC, do_center_crop=True,
                                  crop_size={"height": 64, "width": 64}, image_mean=IMAGENET_MEAN,
                                  image_std=IMAGENET_STD)
    return HieraForImageClassification(config), processor


def segformer_classifier():
    # nvidia/mit-b0: SegformerImageProcessor 512x512, bilinear, ImageNet mean/std.
    from transformers import SegformerConfig, SegformerForImageClassification, SegformerImageProcessor

    config = SegformerConfig(num_encoder_blocks=4, depths=[1, 1, 1, 1], sr_ratios=[8, 4, 2, 1],
                             hidden_sizes=[8, 16, 32, 64], num_attention_heads=[1, 1, 2, 4], **CLASS_LABELS)
    processor = SegformerImageProcessor(do_resize=True, size={"height": 64, "width": 64}, resample=BILINEAR,
                                        image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD, do_reduce_labels=False)
    return SegformerForImageClassification(config), processor


def pvt():
    # Xrenya/pvt-tiny-224: PvtImageProcessor 224x224, bilinear, ImageNet mean/std.
    from transformers import PvtConfig, PvtForImageClassification, PvtImageProcessor

    # PvtConfig's own num_labels argument (default 1000) overrides id2label when config.json is loaded again:
    # 1000 labels, as the ImageNet checkpoints have
    names = CLASS_NAMES + [f"class {i}" for i in range(len(CLASS_NAMES), 1000)]
    config = PvtConfig(image_size=64, num_encoder_blocks=4, depths=[1, 1, 1, 1], sequence_reduction_ratios=[8, 4, 2, 1],
                       hidden_sizes=[8, 16, 32, 64], num_attention_heads=[1, 1, 2, 4], **labels(names))
    processor = PvtImageProcessor(do_resize=True, size={"height": 64, "width": 64}, resample=BILINEAR)
    return PvtForImageClassification(config), processor


def clip():
    # openai/clip-vit-base-patch32 with a classification head: CLIPImageProcessor shortest_edge 224,
    # crop 224, bicubic, CLIP mean/std.
    from transformers import CLIPConfig, CLIPForImageClassification, CLIPImageProcessor

    vision = dict(image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=37)
    text = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37)
    config = CLIPConfig(vision_config=vision, text_config=text, **CLASS_LABELS)
    processor = CLIPImageProcessor(do_resize=True, size={"shortest_edge": 72}, resample=BICUBIC, do_center_crop=True,
                                   crop_size={"height": 64, "width": 64})
    return CLIPForImageClassification(config), processor


# --- types optimum-onnx has no config for (exported with models/onnx_configs.ClassificationOnnxConfig) ---


def _imagenet_crop_processor(cls_name: str, resample: int):
    import transformers

    return getattr(transformers, cls_name)(do_resize=True, size={"shortest_edge": 73}, resample=resample,
                                           do_center_crop=True, crop_size={"height": 64, "width": 64},
                                           image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)


def _vit_processor(resample: int):
    from transformers import ViTImageProcessor

    return ViTImageProcessor(do_resize=True, size={"height": 64, "width": 64}, resample=resample,
                             image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)


def focalnet():
    # microsoft/focalnet-tiny: BitImageProcessor shortest_edge 256, crop 224, bicubic, ImageNet mean/std.
    from transformers import FocalNetConfig, FocalNetForImageClassification

    config = FocalNetConfig(image_size=64, patch_size=4, embed_dim=8, hidden_sizes=[16, 32, 64, 64],
                            depths=[1, 1, 1, 1], **CLASS_LABELS)
    return FocalNetForImageClassification(config), _imagenet_crop_processor("BitImageProcessor", BICUBIC)


def swiftformer():
    # MBZUAI/swiftformer-xs: ViTImageProcessor 224x224, bicubic, ImageNet mean/std.
    from transformers import SwiftFormerConfig, SwiftFormerForImageClassification

    config = SwiftFormerConfig(image_size=64, depths=[1, 1, 1, 1], embed_dims=[8, 16, 24, 32], **CLASS_LABELS)
    return SwiftFormerForImageClassification(config), _vit_processor(BICUBIC)


def ijepa():
    # facebook/ijepa_vith14_1k: ViTImageProcessor 224x224, bicubic, ImageNet mean/std.
    from transformers import IJepaConfig, IJepaForImageClassification

    config = IJepaConfig(image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=37, **CLASS_LABELS)
    return IJepaForImageClassification(config), _vit_processor(BICUBIC)


def pvt_v2():
    # OpenGVLab/pvt_v2_b0: PvtImageProcessor 224x224, bilinear, ImageNet mean/std.
    from transformers import PvtImageProcessor, PvtV2Config, PvtV2ForImageClassification

    config = PvtV2Config(image_size=64, depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 64],
                         num_attention_heads=[1, 1, 2, 4], **CLASS_LABELS)
    processor = PvtImageProcessor(do_resize=True, size={"height": 64, "width": 64}, resample=BILINEAR)
    return PvtV2ForImageClassification(config), processor


BUILDERS = {
    "swinv2": swinv2,
    "data2vec_vision": data2vec_vision,
    "convnextv2": convnextv2,
    "cvt": cvt,
    "vit_msn": vit_msn,
    "mobilenet_v1": mobilenet_v1,
    "mobilevitv2": mobilevitv2,
    "hiera": hiera,
    "segformer_classifier": segformer_classifier,
    "pvt": pvt,
    "clip": clip,
    "focalnet": focalnet,
    "swiftformer": swiftformer,
    "ijepa": ijepa,
    "pvt_v2": pvt_v2,
}

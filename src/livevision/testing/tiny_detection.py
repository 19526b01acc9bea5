"""Tiny random-weight object detectors (transformers' AutoModelForObjectDetection): DETR, Conditional DETR,
Deformable DETR, YOLOS, Table Transformer, RT-DETR (v1, v2) and D-FINE; builders for ``tiny_models``, each
returning ``(model, image_processor)``.

Each mirrors a real checkpoint's processor (class, resample, statistics, aspect rule) with its sizes shrunk:
the DETR-style ones resize the shortest edge to 64..80 px (longest edge capped), the RT-DETR-style ones to a
fixed 64x64 square. Backbones are tiny HF ResNets (no timm, no pretrained weights); few queries (RT-DETR's
export traces at least ``num_queries`` rounded up to 32 px).
"""

from __future__ import annotations

from .tiny_common import BILINEAR, IMAGENET_MEAN, IMAGENET_STD
from .tiny_common import CLASS_NAMES as _CLASS_NAMES
from .tiny_common import labels as _labels

_QUERIES = 12
_DETR_SIZE = {"shortest_edge": 64, "longest_edge": 112}  # the checkpoints: 800 / 1333


def _resnet_backbone(out_features: list[str]) -> dict:
    return {
        "model_type": "resnet",
        "embedding_size": 8,
        "hidden_sizes": [8, 16, 16, 32],
        "depths": [1, 1, 1, 1],
        "layer_type": "basic",
        "out_features": out_features,
    }


def _detr_transformer(d_model: int = 32) -> dict:
    return {
        "d_model": d_model,
        "encoder_layers": 1,
        "decoder_layers": 2,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_ffn_dim": 32,
        "decoder_ffn_dim": 32,
        "num_queries": _QUERIES,
        "use_timm_backbone": False,
        "use_pretrained_backbone": False,
        "backbone": None,
        "auxiliary_loss": False,
    }


def _detr_processor(processor_class, size: dict | None = None):
    # facebook/detr-resnet-50 and its relatives: shortest edge 800 (longest 1333), bilinear, ImageNet
    # mean/std, COCO format, padded to the batch's largest image (a single image: not padded).
    return processor_class(
        do_resize=True,
        size=dict(size or _DETR_SIZE),
        resample=BILINEAR,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        do_pad=True,
    )


def _detr():
    # facebook/detr-resnet-50
    from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessor

    config = DetrConfig(backbone_config=_resnet_backbone(["stage4"]), **_detr_transformer(),
                        **_labels(_CLASS_NAMES))
    return DetrForObjectDetection(config), _detr_processor(DetrImageProcessor)


def _table_transformer():
    # microsoft/table-transformer-detection: DETR with pre-norm layers; a DetrImageProcessor (shortest
    # edge 800, longest 800 in the checkpoint: here 72 / 96, so the cap applies to wide frames).
    from transformers import DetrImageProcessor, TableTransformerConfig, TableTransformerForObjectDetection

    config = TableTransformerConfig(backbone_config=_resnet_backbone(["stage4"]), **_detr_transformer(),
                                    id2label={0: "table", 1: "table rotated"},
                                    label2id={"table": 0, "table rotated": 1})
    processor = _detr_processor(DetrImageProcessor, {"shortest_edge": 72, "longest_edge": 96})
    return TableTransformerForObjectDetection(config), processor


def _conditional_detr():
    # microsoft/conditional-detr-resnet-50: sigmoid class scores (focal loss)
    from transformers import (
        ConditionalDetrConfig,
        ConditionalDetrForObjectDetection,
        ConditionalDetrImageProcessor,
    )

    config = ConditionalDetrConfig(backbone_config=_resnet_backbone(["stage4"]), **_detr_transformer(),
                                   **_labels(_CLASS_NAMES))
    return ConditionalDetrForObjectDetection(config), _detr_processor(ConditionalDetrImageProcessor)


def _deformable_detr():
    # SenseTime/deformable-detr: multi-scale deformable attention over stages 2-4 plus one extra level
    from transformers import (
        DeformableDetrConfig,
        DeformableDetrForObjectDetection,
        DeformableDetrImageProcessor,
    )

    transformer = _detr_transformer()
    config = DeformableDetrConfig(
        backbone_config=_resnet_backbone(["stage2", "stage3", "stage4"]),
        num_feature_levels=4,
        encoder_n_points=2,
        decoder_n_points=2,
        **transformer,
        **_labels(_CLASS_NAMES),
    )
    size = {"shortest_edge": 80, "longest_edge": 128}
    return DeformableDetrForObjectDetection(config), _detr_processor(DeformableDetrImageProcessor, size)


def _yolos():
    # hustvl/yolos-small: a DeiT with detection tokens; YolosImageProcessor (shortest edge 800, longest
    # 1333, sizes rounded down to multiples of 16). Its position embeddings are interpolated from
    # image_size (800 x 1333 in the checkpoint) to every input.
    from transformers import YolosConfig, YolosForObjectDetection, YolosImageProcessor

    config = YolosConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=[64, 112],
        patch_size=16,
        num_detection_tokens=_QUERIES,
        **_labels(_CLASS_NAMES),
    )
    return YolosForObjectDetection(config), _detr_processor(YolosImageProcessor)


def _rt_detr_processor():
    # PekingU/rtdetr_r18vd and ustc-community/dfine-*: 640x640 (here 64x64), bilinear, rescale only
    from transformers import RTDetrImageProcessor

    return RTDetrImageProcessor(
        do_resize=True, size={"height": 64, "width": 64}, resample=BILINEAR, do_normalize=False, do_pad=False
    )


def _rt_detr_common(backbone_channels: list[int]) -> dict:
    return {
        "encoder_hidden_dim": 16,
        "encoder_in_channels": backbone_channels,
        "encoder_ffn_dim": 32,
        "encoder_attention_heads": 2,
        "d_model": 16,
        "decoder_in_channels": [16, 16, 16],
        "decoder_ffn_dim": 32,
        "decoder_layers": 2,
        "decoder_attention_heads": 2,
        "decoder_n_points": 2,
        "num_queries": _QUERIES,
        "num_denoising": 0,
        "use_pretrained_backbone": False,
        "use_timm_backbone": False,
        "backbone": None,
    }


def _rt_detr_backbone() -> dict:
    return {**_resnet_backbone(["stage2", "stage3", "stage4"]), "model_type": "rt_detr_resnet"}


def _rt_detr():
    # PekingU/rtdetr_r18vd
    from transformers import RTDetrConfig, RTDetrForObjectDetection

    config = RTDetrConfig(backbone_config=_rt_detr_backbone(), **_rt_detr_common([16, 16, 32]),
                          **_labels(_CLASS_NAMES))
    return RTDetrForObjectDetection(config), _rt_detr_processor()


def _rt_detr_v2():
    # PekingU/rtdetr_v2_r18vd
    from transformers import RTDetrV2Config, RTDetrV2ForObjectDetection

    config = RTDetrV2Config(backbone_config=_rt_detr_backbone(), **_rt_detr_common([16, 16, 32]),
                            **_labels(_CLASS_NAMES))
    return RTDetrV2ForObjectDetection(config), _rt_detr_processor()


def _d_fine():
    # ustc-community/dfine-small-coco: HGNetV2 backbone, fine-grained box distributions; RTDetrImageProcessor
    from transformers import DFineConfig, DFineForObjectDetection

    backbone = {
        "model_type": "hgnet_v2",
        "stem_channels": [3, 8, 8],
        "stage_in_channels": [8, 16, 16, 32],
        "stage_mid_channels": [8, 8, 16, 16],
        "stage_out_channels": [16, 16, 32, 32],
        "stage_num_blocks": [1, 1, 1, 1],
        "stage_downsample": [False, True, True, True],
        "stage_light_block": [False, False, True, True],
        "stage_kernel_size": [3, 3, 5, 5],
        "stage_numb_of_layers": [2, 2, 2, 2],
        "hidden_sizes": [16, 16, 32, 32],
        "depths": [1, 1, 1, 1],
        "out_features": ["stage2", "stage3", "stage4"],
    }
    common = _rt_detr_common([16, 32, 32])
    config = DFineConfig(backbone_config=backbone, **common, lqe_hidden_dim=8, max_num_bins=8,
                         depth_mult=0.34, hidden_expansion=0.5, **_labels(_CLASS_NAMES))
    return DFineForObjectDetection(config), _rt_detr_processor()


BUILDERS = {
    "detr": _detr,
    "conditional_detr": _conditional_detr,
    "deformable_detr": _deformable_detr,
    "yolos": _yolos,
    "table_transformer": _table_transformer,
    "rt_detr": _rt_detr,
    "rt_detr_v2": _rt_detr_v2,
    "d_fine": _d_fine,
}

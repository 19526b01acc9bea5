"""Tiny random-weight depth models (DPT, DPT-hybrid, ZoeDepth, Depth Anything, GLPN): builders for
``tiny_models``, each returning ``(model, image_processor)``.
"""

from __future__ import annotations

from .tiny_common import BICUBIC, BILINEAR, HALF, IMAGENET_MEAN, IMAGENET_STD


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


BUILDERS = {
    "dpt": _dpt,
    "dpt_hybrid": _dpt_hybrid,
    "zoedepth": _zoedepth,
    "zoedepth_nyu_kitti": _zoedepth_nyu_kitti,
    "depth_anything": _depth_anything,
    "depth_anything_v2": _depth_anything_v2,
    "depth_anything_metric": _depth_anything_metric,
    "glpn": _glpn,
}

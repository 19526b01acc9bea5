"""Benchmark inputs: full-size random-weight models built from the real architectures' configs,
and synthetic 1280x720 photo-like frames / H.264 video. Used by scripts/bench.py.

The models have the same architecture, sizes and pre-processing as the real checkpoints (so the
same compute per frame); only the weights are random. Nothing is downloaded.

Config sources (checked against transformers' conversion scripts and the Hub config files):
- depth-anything/Depth-Anything-V2-Small-hf: convert_depth_anything_to_hf.py `get_dpt_config`
  ("small", "v2"): Dinov2Config of facebook/dinov2-small (hidden 384, 12 layers, 6 heads, MLP
  ratio 4, patch 14, image_size 518) with out_indices [3, 6, 9, 12], apply_layernorm=True,
  reshape_hidden_states=False; reassemble_hidden_size 384, fusion_hidden_size 64,
  neck_hidden_sizes [48, 96, 192, 384]; head_hidden_size 32 and reassemble_factors
  [4, 2, 1, 0.5] are DepthAnythingConfig's defaults. DPTImageProcessor 518x518,
  keep_aspect_ratio, ensure_multiple_of 14, bicubic, ImageNet mean/std.
- nvidia/segformer-b0-finetuned-ade-512-512: SegformerConfig's defaults are MiT-b0 (hidden sizes
  [32, 64, 160, 256], depths [2, 2, 2, 2], heads [1, 2, 5, 8], sr_ratios [8, 4, 2, 1]),
  decoder_hidden_size 256, 150 ADE20k classes; SegformerImageProcessor 512x512, bilinear,
  ImageNet mean/std, reduce_labels.
- PekingU/rtdetr_r18vd: convert_rt_detr_original_pytorch_checkpoint_to_hf.py `get_rt_detr_config`
  ("rtdetr_r18vd"): RTDetrConfig's defaults with the ResNet-18-vd backbone (hidden sizes [64, 128, 256,
  512], depths [2, 2, 2, 2], basic blocks), encoder_in_channels [128, 256, 512], hidden_expansion 0.5,
  3 decoder layers, 300 queries, 80 COCO classes; RTDetrImageProcessor 640x640, bilinear, rescale only.
- google/vit-base-patch16-224: ViT-B/16 (hidden 768, 12 layers, 12 heads, MLP 3072, patch 16,
  224x224), 1000 ImageNet classes, no pooler (ViTForImageClassification);
  ViTImageProcessor 224x224, bilinear, mean/std 0.5.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
HALF = [0.5, 0.5, 0.5]
BILINEAR, BICUBIC = 2, 3  # PIL resample codes, as the Hub's preprocessor_config.json stores them
SPEC_VERSION = 1  # bump when the frames or every builder change, so cached media and folders are rebuilt
MARKER = ".bench-model.json"


@dataclass(frozen=True)
class BenchModel:
    key: str  # CLI name
    hub_id: str  # the real checkpoint whose config this copies
    task: str  # livevision task
    pipeline_task: str  # transformers.pipeline task
    expected_params_m: float  # the real checkpoint's parameter count, millions
    build: Callable[[], tuple]  # -> (model, processor)
    revision: int = 1  # bump when `build` changes, so this model's cached folder is rebuilt


def _labels(n: int, prefix: str) -> dict:
    id2label = {i: f"{prefix}_{i}" for i in range(n)}
    return {"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}}


def _depth_anything_v2_small():
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    backbone = Dinov2Config(
        hidden_size=384,
        num_hidden_layers=12,
        num_attention_heads=6,
        mlp_ratio=4,
        patch_size=14,
        image_size=518,
        layerscale_value=1.0,
        out_indices=[3, 6, 9, 12],
        apply_layernorm=True,
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=384,
        patch_size=14,
        reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_sizes=[48, 96, 192, 384],
        fusion_hidden_size=64,
        head_in_index=-1,
        head_hidden_size=32,
        depth_estimation_type="relative",
        max_depth=None,
    )
    processor = DPTImageProcessor(
        do_resize=True,
        size={"height": 518, "width": 518},
        resample=BICUBIC,
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        do_pad=False,
    )
    model = DepthAnythingForDepthEstimation(config)
    _realistic_depth(model, processor)
    return model, processor


def _realistic_depth(model, processor) -> None:
    """With random weights Depth Anything's ReLU head outputs zero on ~75% of a frame and at most ~1e-4
    elsewhere; a trained model outputs a varied, positive relative inverse depth. Judging INT8 against
    that degenerate map is meaningless (the accuracy gate's AbsRel divides by ~0), so the head's last
    conv is rescaled with the tests' rule for their tiny models (livevision.testing.tiny_models.calibrate_depth):
    on the benchmark's frames its pre-activation gets spread 1 and its 0.1% quantile +0.5, a map from
    ~0.5 to ~8, nothing clipped, like a scene ~10x deeper at its far end than at its near end. Same compute."""
    from livevision.testing.tiny_models import calibrate_depth

    frames = [np.ascontiguousarray(synthetic_frame(i * 7)[:, :, ::-1]) for i in range(2)]  # BGR -> RGB
    calibrate_depth("depth_anything_v2", model, processor(images=frames, return_tensors="pt")["pixel_values"])


def _segformer_b0_ade():
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    config = SegformerConfig(
        num_channels=3,
        num_encoder_blocks=4,
        depths=[2, 2, 2, 2],
        sr_ratios=[8, 4, 2, 1],
        hidden_sizes=[32, 64, 160, 256],
        patch_sizes=[7, 3, 3, 3],
        strides=[4, 2, 2, 2],
        num_attention_heads=[1, 2, 5, 8],
        mlp_ratios=[4, 4, 4, 4],
        hidden_act="gelu",
        decoder_hidden_size=256,
        semantic_loss_ignore_index=255,
        **_labels(150, "ade"),
    )
    processor = SegformerImageProcessor(
        do_resize=True,
        size={"height": 512, "width": 512},
        resample=BILINEAR,
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        do_reduce_labels=True,
    )
    model = SegformerForSemanticSegmentation(config)
    _realistic_segments(model.decode_head.classifier)
    return model, processor


def _rtdetr_r18vd():
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrImageProcessor

    config = RTDetrConfig(encoder_in_channels=[128, 256, 512], hidden_expansion=0.5, decoder_layers=3,
                          **_labels(80, "coco"))
    config.backbone_config.hidden_sizes = [64, 128, 256, 512]
    config.backbone_config.depths = [2, 2, 2, 2]
    config.backbone_config.layer_type = "basic"
    processor = RTDetrImageProcessor(size={"height": 640, "width": 640}, resample=BILINEAR, do_normalize=False)
    model = RTDetrForObjectDetection(config)
    _realistic_detections(model, processor)
    return model, processor


def _realistic_detections(model, processor, wanted: int = 10) -> None:
    """With random weights RT-DETR is degenerate: transformers' init leaves norms that flatten its feature
    maps, so every anchor gets the same encoder score and the query selection is a tie (torch.topk and ONNX
    TopK then pick different queries), and its sigmoid scores sit near 0.5 for thousands of (query, class)
    pairs. The norms are reset to identity, as for the tests' tiny detectors (livevision.testing), and every
    decoder layer's class head bias is shifted so that about `wanted` objects pass the 0.5 threshold on the
    benchmark's frames, as a trained detector's few do: post-processing, drawing and outputs cost grows
    with that count. Same compute in the network."""
    import torch

    from livevision.testing.tiny_detection_calibration import reset_norms

    frames = [np.ascontiguousarray(synthetic_frame(i * 7)[:, :, ::-1]) for i in range(2)]  # BGR -> RGB
    pixel_values = processor(images=frames, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        model.eval()
        reset_norms(model)
        logits = model(pixel_values=pixel_values).logits
        shift = float(torch.quantile(logits.flatten(1).float(), 1 - wanted / logits[0].numel(), dim=1).mean())
        for head in model.model.decoder.class_embed:
            head.bias -= shift


def _realistic_segments(classifier, winners: int = 12) -> None:
    """With random weights every one of the 150 classes wins somewhere in a frame; a real ADE20k
    model shows ~5-20. Post-processing cost grows with the number of classes present (the HF
    pipeline makes one full-size mask per class), so push all but `winners` classes down with the
    classifier's bias. Same compute in the network; a realistic output for post-processing."""
    import torch

    with torch.no_grad():
        classifier.bias[winners:] -= 1e3


def _vit_base_patch16_224():
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        image_size=224,
        patch_size=16,
        num_channels=3,
        qkv_bias=True,
        **_labels(1000, "imagenet"),
    )
    processor = ViTImageProcessor(
        do_resize=True,
        size={"height": 224, "width": 224},
        resample=BILINEAR,
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=HALF,
        image_std=HALF,
    )
    return ViTForImageClassification(config), processor


MODELS: dict[str, BenchModel] = {
    m.key: m
    for m in (
        BenchModel("depth", "depth-anything/Depth-Anything-V2-Small-hf", "depth", "depth-estimation", 24.8,
                   _depth_anything_v2_small, revision=3),
        BenchModel("segformer", "nvidia/segformer-b0-finetuned-ade-512-512", "segmentation", "image-segmentation",
                   3.75, _segformer_b0_ade),
        BenchModel("rtdetr", "PekingU/rtdetr_r18vd", "detection", "object-detection", 20.2, _rtdetr_r18vd,
                   revision=2),
        BenchModel("vit", "google/vit-base-patch16-224", "classification", "image-classification", 86.6,
                   _vit_base_patch16_224),
    )
}


def build_model_folder(spec: BenchModel, root: Path, *, seed: int = 0) -> tuple[Path, int]:
    """Write (or reuse) the random-weight HF folder of `spec` under root; return (folder, parameters).

    An existing complete folder is reused as is, so its fingerprint (file names, sizes, mtimes)
    stays the same and livevision's export cache stays warm."""
    folder = Path(root) / spec.key
    marker = folder / MARKER
    want = {"spec_version": SPEC_VERSION, "hub_id": spec.hub_id, "seed": seed, "revision": spec.revision}
    if marker.is_file():
        have = json.loads(marker.read_text())
        if all(have.get(k) == v for k, v in want.items()):
            return folder, int(have["parameters"])
    import torch

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, processor = spec.build()
    model.eval()
    parameters = sum(p.numel() for p in model.parameters())
    model.save_pretrained(tmp, safe_serialization=True)
    processor.save_pretrained(tmp)
    (tmp / MARKER).write_text(json.dumps({**want, "parameters": parameters,
                                          "note": "random weights, real architecture config"}, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder, parameters


# --- synthetic frames and video ---------------------------------------------------------------


def synthetic_frame(i: int, w: int = 1280, h: int = 720, _cache: dict = {}) -> np.ndarray:
    """A photo-like BGR frame: sky/ground gradients, textured ground, moving shapes, sensor noise."""
    import cv2

    key = (w, h)
    if key not in _cache:
        rng = np.random.default_rng(1234)
        y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
        horizon = 0.45
        sky = np.stack([230 - 90 * y / horizon + 0 * x, 190 - 60 * y / horizon + 0 * x,
                        140 - 40 * y / horizon + 0 * x], -1)
        g = (y - horizon) / (1 - horizon)
        ground = np.stack([60 + 30 * g + 10 * x, 110 + 40 * g - 20 * x, 90 + 60 * g + 0 * x], -1)
        base = np.where((y < horizon)[..., None], sky, ground)
        texture = cv2.GaussianBlur(rng.normal(0, 25, (h, w)).astype(np.float32), (0, 0), 3)
        base[..., :] += (texture * (y >= horizon))[..., None]
        # a few static "buildings" / "trees"
        for _ in range(12):
            cx, bw, bh = int(rng.integers(0, w)), int(rng.integers(40, 160)), int(rng.integers(60, 260))
            color = rng.integers(30, 200, 3).tolist()
            top = int(horizon * h) - bh
            cv2.rectangle(base, (cx, top), (cx + bw, int(horizon * h) + 10), color, -1)
        _cache[key] = (np.clip(base, 0, 255).astype(np.float32),
                       rng.normal(0, 1, (h // 4, w // 4, 3)).astype(np.float32))
    base, noise = _cache[key]
    frame = base.copy()
    t = i / 25.0
    # moving objects: a "car", a "ball", a "person"
    cx = int((0.1 + 0.8 * ((t * 0.08) % 1.0)) * w)
    cv2.rectangle(frame, (cx - 90, int(0.7 * h)), (cx + 90, int(0.82 * h)), (40, 40, 180), -1)
    cv2.circle(frame, (cx - 50, int(0.83 * h)), 22, (20, 20, 20), -1)
    cv2.circle(frame, (cx + 50, int(0.83 * h)), 22, (20, 20, 20), -1)
    bx, by = int(w * (0.5 + 0.35 * np.sin(t * 0.9))), int(h * (0.6 + 0.15 * abs(np.sin(t * 2.1))))
    cv2.circle(frame, (bx, by), 35, (30, 200, 240), -1)
    px = int(w * (0.85 - 0.6 * ((t * 0.05) % 1.0)))
    cv2.ellipse(frame, (px, int(0.62 * h)), (25, 70), 0, 0, 360, (90, 120, 160), -1)
    cv2.circle(frame, (px, int(0.62 * h) - 90), 20, (150, 170, 210), -1)
    # sensor noise that changes each frame (a shifted view of one noise field, upsampled)
    shift = (i * 7) % (noise.shape[1] - 1)
    n = np.roll(noise, shift, axis=1)
    frame += 4.0 * cv2.resize(n, (w, h), interpolation=cv2.INTER_LINEAR)
    frame = cv2.GaussianBlur(frame, (3, 3), 0.6)
    return np.clip(frame, 0, 255).astype(np.uint8)


def find_ffmpeg() -> str:
    try:
        from livevision.sinks.ffmpeg import find_ffmpeg as lv_find

        return lv_find()
    except Exception:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()


def make_video(path: Path, n: int, fps: int = 25, size_wh=(1280, 720)) -> Path:
    """An H.264 MP4 (yuv420p) of n synthetic frames at fps; reused when it already exists."""
    path = Path(path)
    meta = path.with_suffix(".json")
    want = {"frames": n, "fps": fps, "size": list(size_wh), "spec_version": SPEC_VERSION}
    if path.is_file() and meta.is_file() and json.loads(meta.read_text()) == want:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size_wh
    tmp = path.with_name(path.stem + ".tmp.mp4")
    args = [find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-framerate", str(fps), "-i", "pipe:0",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
            "-g", str(2 * fps), str(tmp)]  # fmt: skip
    proc = subprocess.Popen(args, stdin=subprocess.PIPE)
    try:
        for i in range(n):
            proc.stdin.write(synthetic_frame(i, w, h).tobytes())
    finally:
        proc.stdin.close()
        rc = proc.wait(timeout=300)
    if rc != 0:
        raise RuntimeError(f"ffmpeg failed with exit code {rc} writing {tmp}")
    tmp.replace(path)
    meta.write_text(json.dumps(want))
    return path


def decode_frames(path: Path, count: int) -> list[np.ndarray]:
    """The first `count` frames of a video, BGR uint8, as OpenCV decodes them."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise RuntimeError(f"cannot open {path}")
    frames = []
    try:
        while len(frames) < count:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    return frames


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]

"""Non-degenerate random outputs for the tiny models (``tiny_models``), and the images they are checked on.

Random weights are adjusted so outputs are *not* degenerate: classifier logits have a spread of a few
units (top-5 is well defined, softmax is not uniform), segmentation maps have several classes, depth
maps are positive and vary; detectors: ``tiny_detection_calibration``. The adjustments are deterministic
(seeded).
"""

from __future__ import annotations

import math

import torch

from .tiny_detection_calibration import calibrate_detection


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
    """Scale the classification head(s) so logits have a spread of ~2.5 (clear top-5, peaked softmax); with
    more than 10 labels (PVT keeps ImageNet's 1000) 2.5 per decade of labels, so the softmax stays peaked."""
    num_labels = model.config.num_labels
    heads = [
        m
        for name, m in model.named_modules()
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))
        and (getattr(m, "out_features", None) or getattr(m, "out_channels", None)) == num_labels
    ]
    logits = model(pixel_values=pixel_values).logits
    spread = 2.5 * max(1.0, math.log10(num_labels))
    factor = spread / max(float(logits.std()), 1e-6)
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


def make_non_degenerate(task: str, name: str, model: torch.nn.Module, generator: torch.Generator,
                        processor) -> None:
    """Re-draw the weights of tiny model ``name`` (a ``task`` model) so its outputs on photo-like images vary."""
    _variance_preserving_init(model, generator)
    if task == "detection":
        calibrate_detection(model, processor, generator)  # on its own images, one batch per size
        return
    pixel_values = _reference_pixels(processor, generator)
    if task == "classification":
        _calibrate_classifier(model, pixel_values)
    elif task == "depth":
        calibrate_depth(name, model, pixel_values)
    else:
        _calibrate_segmentation(name, model, pixel_values, generator)

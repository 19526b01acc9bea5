"""Non-degenerate outputs for the tiny object detectors (``tiny_detection``), used by ``tiny_calibration``.

With random weights every query of a DETR-style model sees nearly the same features: all queries give the
same class and box, and the scores sit all below or all above transformers' default threshold 0.5. Here, on
the reference images: norms are reset to identity (transformers' inits shrink some to ~0, so RT-DETR's
feature maps are constant and its query selection ties), YOLOS's detection tokens get distinct values, the
class and box heads read the directions in which queries differ, and the class bias is shifted until a few
queries per image pass 0.5 -- with no score within ``THRESHOLD_MARGIN`` of it, so a parity test of the
post-processing is never decided by float noise.
"""

from __future__ import annotations

import torch

THRESHOLD = 0.5  # transformers' default for post_process_object_detection and the pipeline
THRESHOLD_MARGIN = 1e-3
_SOFTMAX_TYPES = ("detr", "table-transformer", "yolos")  # a "no object" class, softmax scores
_FEWEST_PER_IMAGE = 3  # detections on every reference image
_CLASS_OFFSETS = 2.0  # std of per-class logit offsets (sigmoid models)
_MOST_PER_IMAGE = 20  # where the least shift allows it (Conditional DETR: up to 25)
# The reference images: (seed, (width, height), count) -- 4:3, 3:4 and 16:9, one processor batch each (a
# batch of different sizes would be padded, and the models would need the pixel mask).
_REFERENCE = ((2026, (160, 120), 2), (2027, (120, 160), 2), (2028, (192, 108), 2))
# std of the class logits over queries: softmax scores need a peak among the classes to pass 0.5
_CLASS_SPREAD = {"softmax": 4.0, "sigmoid": 3.0}


def detection_reference_images() -> list[list]:
    """The images the tiny detectors are calibrated on: groups of PIL images, one size per group."""
    from .tiny_calibration import reference_images

    return [reference_images(count, torch.Generator().manual_seed(seed), size) for seed, size, count in _REFERENCE]


def reference_batches(processor) -> list[torch.Tensor]:
    """``pixel_values`` of each group of detection_reference_images, from the model's own processor."""
    return [processor(group, return_tensors="pt")["pixel_values"] for group in detection_reference_images()]


def detection_scores(model_type: str, logits: torch.Tensor) -> torch.Tensor:
    """Per image, the scores transformers' post_process_object_detection thresholds (batch, candidates)."""
    if model_type in _SOFTMAX_TYPES:
        return logits.softmax(-1)[..., :-1].max(-1).values
    scores = logits.sigmoid().flatten(1)
    # Conditional / Deformable DETR keep the top 100 (query, class) pairs, RT-DETR and D-FINE num_queries
    keep = logits.shape[1] if model_type.startswith(("rt_detr", "d_fine")) else 100
    return scores.topk(min(keep, scores.shape[1]), dim=1).values


def reset_norms(model: torch.nn.Module) -> None:
    for module in model.modules():
        if "norm" not in type(module).__name__.lower():
            continue
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        if isinstance(weight, torch.Tensor) and weight.dim() == 1:
            weight.fill_(1.0)
        if isinstance(bias, torch.Tensor) and bias.dim() == 1:
            bias.zero_()


def _head(model: torch.nn.Module, word: str, out_features: tuple[int, ...]) -> torch.nn.Linear:
    """The last Linear named with `word` (class / bbox) whose output size is one of out_features."""
    found = [m for name, m in model.named_modules() if word in name and isinstance(m, torch.nn.Linear)
             and m.out_features in out_features and "enc_" not in name]
    if not found:
        raise RuntimeError(f"no {word} head in {type(model).__name__}")
    return found[-1]


def _head_input(model, head, batches) -> torch.Tensor:
    """What `head` reads on each batch (its last call: the final decoder layer's), (images, queries, dim)."""
    inputs = []
    for pixel_values in batches:
        captured = []
        hook = head.register_forward_pre_hook(lambda m, args: captured.append(args[0]))
        try:
            model(pixel_values=pixel_values)
        finally:
            hook.remove()
        inputs.append(captured[-1].reshape(pixel_values.shape[0], -1, head.in_features))
    return torch.cat(inputs)


def _read_query_differences(model, head, batches, generator, spread: float) -> None:
    """Make `head` a random mix of the top principal directions in which queries of one image differ,
    centred over the reference images, its output scaled to std `spread`."""
    hidden = _head_input(model, head, batches)
    means = hidden.mean(dim=1, keepdim=True)
    within = (hidden - means).flatten(0, 1)
    # Leave out the directions in which the images' mean features differ: every reference image then gets the
    # same mean output, and so about as many detections as the others.
    between = torch.linalg.svd(means.squeeze(1) - means.mean(dim=0), full_matrices=False)[2][: len(means) - 1]
    within = within - (within @ between.T) @ between
    basis = torch.linalg.svd(within, full_matrices=False)[2][:4]
    head.weight.copy_(torch.randn((head.out_features, basis.shape[0]), generator=generator) @ basis)
    out = within @ head.weight.T
    head.weight.mul_(spread / max(float(out.std()), 1e-6))
    head.bias.copy_(-(hidden.flatten(0, 1).mean(dim=0) @ head.weight.T))


def _shift_for_target(model, model_type, head, batches) -> None:
    """Shift the class logits (the no-object one the other way) until _FEWEST_PER_IMAGE scores of every
    image pass THRESHOLD, then nudge until none is within THRESHOLD_MARGIN of it."""
    softmax = model_type in _SOFTMAX_TYPES
    base = head.bias.clone()

    def scores_at(shift: float) -> torch.Tensor:
        bias = base.clone()
        if softmax:
            bias[-1] -= shift
        else:
            bias += shift
        head.bias.copy_(bias)
        return torch.cat([detection_scores(model_type, model(pixel_values=b).logits) for b in batches])

    low, high = -20.0, 20.0
    for _ in range(40):  # bisection: the count of passing scores grows with the shift
        middle = (low + high) / 2
        scores = scores_at(middle)
        fewest = int((scores > THRESHOLD).sum(dim=1).min())
        low, high = (middle, high) if fewest < _FEWEST_PER_IMAGE else (low, middle)
    # Somewhat above the least shift, so the weakest image's detections are not all ~0.5, as long as no image
    # gets more than _MOST_PER_IMAGE
    most = min(_MOST_PER_IMAGE, scores.shape[1] - 2)  # RT-DETR keeps num_queries candidates: not all of them
    shift = next(high + extra for extra in (0.5, 0.25, 0.1, 0.0)
                 if extra == 0.0 or int((scores_at(high + extra) > THRESHOLD).sum(dim=1).max()) <= most)
    for _ in range(100):
        scores = scores_at(shift)
        if float((scores - THRESHOLD).abs().min()) > THRESHOLD_MARGIN:
            return
        shift += 0.01
    raise RuntimeError(f"{model_type}: no class bias keeps the scores away from {THRESHOLD}")


@torch.no_grad()
def calibrate_detection(model: torch.nn.Module, processor, generator: torch.Generator) -> None:
    """Give a tiny detector varied boxes and a few confident detections per reference image."""
    batches = reference_batches(processor)
    model_type = model.config.model_type
    reset_norms(model)
    embeddings = getattr(getattr(model, "vit", None), "embeddings", None)
    if embeddings is not None:  # YOLOS: zero-initialised detection tokens and position embeddings
        for parameter in (embeddings.detection_tokens, embeddings.position_embeddings, embeddings.cls_token):
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    num_labels = model.config.num_labels
    if model_type not in ("rt_detr", "rt_detr_v2", "d_fine"):  # those refine boxes from varied anchors
        _read_query_differences(model, _head(model, "bbox", (4,)), batches, generator, 1.0)
    head = _head(model, "class", (num_labels, num_labels + 1))
    spread = _CLASS_SPREAD["softmax" if model_type in _SOFTMAX_TYPES else "sigmoid"]
    _read_query_differences(model, head, batches, generator, spread)
    if model_type not in _SOFTMAX_TYPES:  # per-class scores: some classes are rarer, not one query in every class
        head.bias.add_(_CLASS_OFFSETS * torch.randn(head.bias.shape, generator=generator))
    _shift_for_target(model, model_type, head, batches)

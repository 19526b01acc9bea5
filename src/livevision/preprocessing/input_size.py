"""``--input-size N``: run a model at another input resolution by rewriting its processor config.

``with_input_size(processor_config, config, N)`` returns a new ``preprocessor_config.json`` dict for
``preprocess.build_preprocessor``, so the usual preprocessing produces the smaller (or larger) input;
the ONNX exports have dynamic height and width. N is the *short side* of the processor's target:

==========================  =========================================================  ========  ========
model (processor)           what N sets                                                multiple  smallest
==========================  =========================================================  ========  ========
depth_anything (DPT)        target N x N, aspect kept: short side N (default 518)      14        42
dpt with ViT (dpt-large)    square N x N input (default 384)                           32        64
zoedepth (ZoeDepth)         target N x 4N/3 (default 384 x 512), aspect kept           32        64
glpn (GLPN)                 short side N, aspect kept (default: the frame's own size)  32        64
segformer (Segformer)       N x N input, the frame stretched (default 512)             any       32
maskformer (MaskFormer)     shortest edge N, longest edge cap scaled with it           32        64
mask2former (fixed h x w)   N x N input, the frame stretched (COCO: 384)               32        64
DETR family, YOLOS          shortest edge N, longest edge cap scaled with it (800)     any       32
==========================  =========================================================  ========  ========

The multiple is the processor's (``ensure_multiple_of``, ``size_divisor``) or, where it has none, what
the exported graph needs; the smallest size is at least 32 px and two multiples. N larger than the
default is allowed too (an INFO log says it is slower and not the training size), up to MAX_SCALE times
the default (MAX_SIZE px where the default is unknown): memory grows with the square of N for
convolutions and with its fourth power for attention, and far above that a run ends killed for memory.

Sizes (verified by running each tiny export with ONNX Runtime against PyTorch at other sizes):

- Where the processor itself rounds to a multiple (DPT ``ensure_multiple_of``, ZoeDepth, MaskFormer
  ``size_divisor``, GLPN) N is rounded to the nearest multiple, with an INFO log: 250 -> 252 for
  Depth Anything. Where it does not (dpt-large, SegFormer), a size the model cannot take is a
  UsageError naming the nearest valid sizes.
- A size below the smallest one is a UsageError (checked before rounding): below 32 px or two
  multiples nothing useful is left.
- Swin backbones (MaskFormer, Mask2Former) are traced with every stage larger than the attention
  window (``models/onnx_configs.py``); run smaller, where PyTorch shrinks the window of a stage that
  is not larger than it, the exports still match PyTorch (checked with two blocks per stage, so that
  shifted windows are in the graph: window 4, inputs down to 64 px).
- dpt-large's neck halves the patch grid and the exported graph cannot reconcile an odd grid (PyTorch
  resizes; the traced graph adds tensors of different sizes): N must be a multiple of 32. Its ViT
  reshapes the patch grid as a square, so the size stays square.
- GLPN's processor has no target size (it rounds the frame down to a multiple of 32), so its config
  becomes the equivalent ``DPTImageProcessor`` one: aspect kept, multiple 32, its resample, rescale
  1/255, no normalisation.
- Keeping the aspect ratio follows HF's DPT/ZoeDepth rule: of the two scales the one closer to 1 wins,
  so for frames larger than the target the short side becomes N; a frame smaller than N is upscaled
  until its long side reaches N.

Not supported, with the reason in the error: dpt-hybrid (MiDaS; its embeddings refuse any size but
``image_size``), every classifier (ViT/DeiT/BEiT/Swin/LeViT position embeddings or biases are sized
for the training crop; a CNN classifier would run, but a classifier's crop is already small and it is
validated only at its own), DPT with another backbone (not verified), and the semantic heads other than
SegFormer's: BEiT / Data2Vec-vision (relative position biases), MobileViT(V2) and DPT (exported for their
processor's fixed size), UperNet (validated only at its processor's size), and RT-DETR / D-FINE (their
processors resize every frame to the one size they were trained at). DETR, Conditional / Deformable DETR,
Table Transformer and YOLOS exports take any size (checked against PyTorch at several aspect ratios); YOLOS's
processor rounds its sizes down to multiples of 16 itself. Which row applies is the
model_type's row for the task its head class names (BEiT classifies and segments).
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

from ..errors import UsageError
from ..models.registry import spec_of_config
from ..types import Task

log = logging.getLogger(__name__)

__all__ = ["InputSizeRule", "input_size_note", "input_size_rule", "require_dynamic_input", "supports_input_size",
           "with_input_size"]

_MIN_PIXELS = 32
MAX_SCALE = 2  # the largest --input-size is this times the model's default short side
MAX_SIZE = 2048  # ... or this, where the default is not known


@dataclass(frozen=True)
class InputSizeRule:
    """How N maps onto one model's processor config.

    kind: "aspect" (the processor keeps the frame's aspect within the target), "fixed" (the processor
    stretches the frame to the target), "shortest_edge" (MaskFormer) or "glpn"; the target is scaled so
    its short side is N, keeping its own aspect (square targets stay square). default: the short side
    of the current target (None for GLPN, which runs at frame size). multiple: sizes are multiples of
    it. minimum: the smallest N. rounds: the processor rounds to the multiple itself, so N is rounded
    (else a non-multiple is an error).
    """

    model_type: str
    kind: str
    default: int | None
    multiple: int
    minimum: int
    rounds: bool

    def describe(self) -> str:
        default = f"default {self.default}" if self.default else "default: the frame's own size"
        multiple = f"multiples of {self.multiple}, " if self.multiple > 1 else ""
        what = {"aspect": "the short side, aspect kept", "fixed": "the short side of its fixed input",
                "shortest_edge": "the shortest edge", "glpn": "the short side, aspect kept"}[self.kind]
        return f"{self.model_type}: --input-size sets {what} ({default}; {multiple}at least {self.minimum})"


def _model_name(config: dict, name: str | None) -> str:
    return name or config.get("_name_or_path") or config.get("model_type") or "this model"


def _processor_type(processor_config: dict) -> str:
    name = str(processor_config.get("image_processor_type") or processor_config.get("feature_extractor_type") or "")
    for suffix in ("FeatureExtractor", "ImageProcessorFast"):
        if name.endswith(suffix):
            name = name[: -len(suffix)] + "ImageProcessor"
    return name


def _target_hw(value, default: tuple[int, int]) -> tuple[int, int] | None:
    """A processor's height/width target (int -> square, dict, (h, w)); None for a shortest-edge dict."""
    if value is None:
        return default
    if isinstance(value, (int, float)):
        return int(value), int(value)
    if isinstance(value, dict):
        if "height" in value and "width" in value:
            return int(value["height"]), int(value["width"])
        return None
    return int(value[0]), int(value[1])


def _fixed_target(processor_config: dict, default: tuple[int, int], config: dict, name: str | None) -> tuple[int, int]:
    target = _target_hw(processor_config.get("size"), default)
    if target is None:
        size = processor_config.get("size")
        raise _unsupported(config, name, f"has a processor size {size} without height and width")
    return target


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _smallest(multiple: int) -> int:
    return _round_up(max(_MIN_PIXELS, 2 * multiple), multiple)


def _backbone(config: dict) -> dict:
    backbone = config.get("backbone_config")
    return backbone if isinstance(backbone, dict) else {}


def _unsupported(config: dict, name: str | None, reason: str) -> UsageError:
    model_type = config.get("model_type") or "this model type"
    return UsageError(f"{_model_name(config, name)} {reason}; --input-size is not supported for {model_type}")


def input_size_rule(processor_config: dict, config: dict, *, name: str | None = None) -> InputSizeRule:
    """The InputSizeRule of a model, from its processor config and config.json dicts: the rule its
    row in registry.ARCHITECTURES names (the model_type's row for the task of its head class).

    Raises UsageError (one line, naming the reason) for a model that cannot change its input size.
    """
    model_type = str(config.get("model_type") or "")
    processor = _processor_type(processor_config)
    spec = spec_of_config(config)
    if spec is not None and spec.fixed_size:
        size = config.get("image_size", "its")
        size = size[0] if isinstance(size, (list, tuple)) else size
        raise _unsupported(config, name, spec.fixed_size.format(size=size))
    architectures = config.get("architectures") or []
    if any("ImageClassification" in a for a in architectures) or (spec and spec.task is Task.CLASSIFICATION):
        raise UsageError(f"{_model_name(config, name)} is a classifier, validated only at its training crop: "
                         "--input-size is for depth and segmentation models")
    rule = _RULES.get(spec.input_size) if spec and spec.input_size else None
    found = rule(model_type, processor, processor_config, config, name) if rule else None
    if found is None:
        raise _unsupported(config, name, f"({processor or 'no image processor'}) has no known input-size rule")
    return found


def _dpt_rule(model_type, processor, cfg, config, name) -> InputSizeRule:
    if config.get("is_hybrid"):
        raise _unsupported(config, name, f"(DPT-hybrid, MiDaS) accepts only its {config.get('image_size', 384)}x"
                                         f"{config.get('image_size', 384)} input size")
    if _backbone(config) or config.get("backbone"):
        raise _unsupported(config, name, "is a DPT with a separate backbone, not verified at other sizes")
    if processor != "DPTImageProcessor":
        raise _unsupported(config, name, f"uses {processor or 'an unknown processor'}, not DPTImageProcessor")
    if cfg.get("keep_aspect_ratio"):
        raise _unsupported(config, name, "reshapes its ViT patch grid as a square, so it cannot keep the "
                                         "aspect ratio its processor asks for")
    multiple = 2 * int(config.get("patch_size") or 16)
    target = _fixed_target(cfg, (384, 384), config, name)
    rounds = int(cfg.get("ensure_multiple_of") or 1) % multiple == 0
    return InputSizeRule(model_type, "fixed", min(target), multiple, _smallest(multiple), rounds)


def _depth_anything_rule(model_type, processor, cfg, config, name) -> InputSizeRule | None:
    if processor != "DPTImageProcessor":
        return None
    patch = int(config.get("patch_size") or _backbone(config).get("patch_size") or 14)
    multiple = int(cfg.get("ensure_multiple_of") or 1)
    if not cfg.get("keep_aspect_ratio") or multiple % patch:
        raise _unsupported(config, name, "has a processor that does not keep the aspect ratio in multiples of "
                                         f"its patch size {patch}")
    target = _fixed_target(cfg, (384, 384), config, name)
    return InputSizeRule(model_type, "aspect", min(target), multiple, _smallest(multiple), True)


def _zoedepth_rule(model_type, processor, cfg, config, name) -> InputSizeRule | None:
    if processor != "ZoeDepthImageProcessor":
        return None
    multiple = int(cfg.get("ensure_multiple_of") or 32)
    target = _fixed_target(cfg, (384, 512), config, name)
    kind = "aspect" if cfg.get("keep_aspect_ratio", True) is not False else "fixed"
    return InputSizeRule(model_type, kind, min(target), multiple, _smallest(multiple), True)


def _glpn_rule(model_type, processor, cfg, config, name) -> InputSizeRule | None:
    if processor != "GLPNImageProcessor":
        return None
    multiple = int(cfg.get("size_divisor") or 32)
    return InputSizeRule(model_type, "glpn", None, multiple, _smallest(multiple), True)


def _segformer_rule(model_type, processor, cfg, config, name) -> InputSizeRule | None:
    if processor != "SegformerImageProcessor":
        return None
    target = _fixed_target(cfg, (512, 512), config, name)
    return InputSizeRule(model_type, "fixed", min(target), 1, _MIN_PIXELS, False)


def _mask_classification_rule(model_type, processor, cfg, config, name) -> InputSizeRule | None:
    if processor not in ("MaskFormerImageProcessor", "Mask2FormerImageProcessor"):
        return None
    multiple = int(cfg.get("size_divisor") or 32)
    size = cfg.get("size")
    if isinstance(size, dict) and "height" in size and "width" in size:
        kind, default = "fixed", min(int(size["height"]), int(size["width"]))
    else:
        kind = "shortest_edge"
        default = int(size.get("shortest_edge", 800) if isinstance(size, dict) else size or 800)
    return InputSizeRule(model_type, kind, default, multiple, _smallest(multiple), True)


_DETR_PROCESSORS = ("DetrImageProcessor", "ConditionalDetrImageProcessor", "DeformableDetrImageProcessor",
                    "YolosImageProcessor")


def _detr_rule(model_type, processor, cfg, config, name) -> InputSizeRule | None:
    """DETR-style detectors: the processor's shortest edge (800 by default; longest edge scaled along)."""
    if processor not in _DETR_PROCESSORS:
        return None
    size = cfg.get("size")
    if isinstance(size, dict) and not ("shortest_edge" in size or "height" in size):
        raise _unsupported(config, name, f"has a processor size {size} without a shortest edge or height")
    if isinstance(size, dict) and "height" in size and "width" in size:
        kind, default = "fixed", min(int(size["height"]), int(size["width"]))
    else:
        kind = "shortest_edge"
        default = int(size.get("shortest_edge", 800) if isinstance(size, dict) else size or 800)
    return InputSizeRule(model_type, kind, default, 1, _MIN_PIXELS, False)


# The rules registry.ARCHITECTURES names; each returns None when the processor is not the one it knows.
_RULES = {
    "dpt": _dpt_rule,
    "depth_anything": _depth_anything_rule,
    "zoedepth": _zoedepth_rule,
    "glpn": _glpn_rule,
    "segformer": _segformer_rule,
    "mask_classification": _mask_classification_rule,
    "detr": _detr_rule,
}


def supports_input_size(processor_config: dict, config: dict) -> bool:
    """Whether ``with_input_size`` can change this model's input size."""
    try:
        input_size_rule(processor_config, config)
    except UsageError:
        return False
    return True


def input_size_note(processor_config: dict, config: dict, *, name: str | None = None) -> str:
    """One line for help and logs: what --input-size does for this model, or why it is not supported."""
    try:
        return input_size_rule(processor_config, config, name=name).describe()
    except UsageError as exc:
        return str(exc)


def _valid_size(rule: InputSizeRule, size: int, label: str) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise UsageError(f"--input-size must be a positive whole number of pixels, got {size!r}")
    multiple = rule.multiple
    valid = int(math.floor(size / multiple + 0.5)) * multiple  # nearest multiple, ties up
    if size < rule.minimum:  # the minimum is a multiple: anything from it up rounds to a valid size
        raise UsageError(f"--input-size {size} is too small for {label}: the smallest is {rule.minimum}"
                         + (f" (a multiple of {multiple})" if multiple > 1 else ""))
    largest = MAX_SCALE * rule.default if rule.default else MAX_SIZE
    if valid > largest:
        raise UsageError(f"--input-size {size} is too large for {label}: the largest is {largest}"
                         + (f" ({MAX_SCALE}x its default {rule.default})" if rule.default else ""))
    if valid != size:
        if not rule.rounds:
            lower, upper = size // multiple * multiple, _round_up(size, multiple)
            options = " or ".join(str(s) for s in (lower, upper) if s >= rule.minimum)
            raise UsageError(f"--input-size {size} is not possible for {label}: sizes are multiples of "
                             f"{multiple}; use {options}")
        log.info("--input-size %d: using %d for %s (its sizes are multiples of %d)", size, valid, label, multiple)
    if rule.default and valid > rule.default:
        log.info("--input-size %d is larger than %s's default %d: slower, and not what it was trained at",
                 valid, label, rule.default)
    return valid


def _scaled(target: tuple[int, int], size: int, multiple: int) -> dict:
    """target scaled so its short side is size, the long side rounded to the multiple."""
    short, long = min(target), max(target)
    other = max(multiple, int(math.floor(long * size / short / multiple + 0.5)) * multiple) if long != short else size
    height, width = (size, other) if target[0] <= target[1] else (other, size)
    return {"height": height, "width": width}


def with_input_size(processor_config: dict, config: dict, size: int, *, name: str | None = None) -> dict:
    """A new processor config (same format as ``preprocessor_config.json``) whose preprocessing makes
    inputs of size ``size`` (the short side; see the module docstring); the arguments are not changed.

    Rounds to the model's multiple when its processor does (INFO log); raises UsageError (one line) for
    a model that cannot change its input size, a size below its smallest, or a non-multiple the
    processor would not round. name: the model's name for messages (default ``_name_or_path``).
    """
    rule = input_size_rule(processor_config, config, name=name)
    label = _model_name(config, name)
    size = _valid_size(rule, size, label)
    new = copy.deepcopy(processor_config)
    if rule.kind == "glpn":
        # GLPN has no target size: the DPT processor with the same resample, rescale and no normalisation
        # is GLPN's rounding-down to a multiple plus a resize to size.
        for key in ("size_divisor", "do_normalize", "image_mean", "image_std"):
            new.pop(key, None)
        new.update({
            "image_processor_type": "DPTImageProcessor",
            "do_resize": True,
            "size": {"height": size, "width": size},
            "keep_aspect_ratio": True,
            "ensure_multiple_of": rule.multiple,
            "resample": processor_config.get("resample", 2),
            "do_rescale": processor_config.get("do_rescale", True),
            "rescale_factor": 1 / 255,  # GLPN ignores rescale_factor
            "do_normalize": False,
            "do_pad": False,
        })
        new.pop("feature_extractor_type", None)
        return new
    current = processor_config.get("size")
    if rule.kind == "shortest_edge":
        # MaskFormer: HF's defaults are shortest 800, longest max_size (legacy key) or 1333.
        longest = (current.get("longest_edge") if isinstance(current, dict) else None) \
            or processor_config.get("max_size") or 1333
        new["size"] = {"shortest_edge": size, "longest_edge": int(round(int(longest) * size / rule.default))}
        new.pop("max_size", None)  # legacy key: its ratio is in longest_edge now
        return new
    default = (384, 512) if rule.model_type == "zoedepth" else (rule.default, rule.default)
    target = _target_hw(current, default) or default
    new["size"] = _scaled(target, size, rule.multiple)
    return new


def require_dynamic_input(input_shape: list, name: str = "the model") -> None:
    """UsageError when an ONNX input's height or width is fixed, e.g. ``session.get_inputs()[0].shape``
    of an export made with fixed axes (every livevision export has them dynamic)."""
    if len(input_shape) != 4 or any(isinstance(d, int) for d in input_shape[2:]):
        raise UsageError(f"{name}'s ONNX input has the fixed shape {input_shape}; --input-size needs dynamic "
                         "height and width (re-export it with `livevision export --force`)")

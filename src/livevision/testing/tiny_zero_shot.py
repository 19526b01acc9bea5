"""Tiny random-weight OWL-ViT and OWLv2 (zero-shot object detection, text queries): builders for
``tiny_models``, each returning ``(model, processor)`` -- an OwlViTProcessor / Owlv2Processor, whose
``save_pretrained`` writes the image processor's config and the tokenizer's files.

The tokenizer is a CLIP BPE tokenizer over a tiny vocabulary (the 256 byte symbols, each alone and as a
word end, plus a few whole words), built offline; its special tokens follow the real checkpoints': the
start and end of text are the last two ids (OWL-ViT pools the text at ``input_ids.argmax()``), "!" pads.

The weights are calibrated (``calibrate``) so that, on ``tiny_calibration.reference_images`` with the
labels ``TEST_LABELS``, a few boxes score above transformers' pipeline threshold 0.1 and none is within
``MARGIN`` of it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from .tiny_common import BICUBIC

#: The labels the tests query; the calibration places 0.1 in a gap of their scores.
TEST_LABELS = ("cat", "person", "cup")
#: No score on the calibration image is within this of 0.1.
MARGIN = 2e-3
PIPELINE_THRESHOLD = 0.1
_WORDS = ("cat", "dog", "person", "cup", "car", "a", "photo", "of")
_OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def _bytes_to_unicode() -> list[str]:
    """GPT-2 / CLIP's byte -> printable character table, in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    extra = 0
    chars = {}
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def _tokenizer():
    """A CLIP tokenizer (fast, so that tokenizer.json is saved) over a tiny vocabulary."""
    from transformers import CLIPTokenizerFast

    symbols = _bytes_to_unicode()
    tokens = symbols + [s + "</w>" for s in symbols]
    merges = []
    for word in _WORDS:  # merge each word left to right into one token
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            merges.append(f"{pieces[0]} {pieces[1]}")
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
            if pieces[0] not in tokens:
                tokens.append(pieces[0])
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    with tempfile.TemporaryDirectory() as tmp:
        vocab, merges_file = Path(tmp, "vocab.json"), Path(tmp, "merges.txt")
        vocab.write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
        merges_file.write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n", encoding="utf-8")
        tokenizer = CLIPTokenizerFast(vocab_file=str(vocab), merges_file=str(merges_file), pad_token="!",
                                      model_max_length=16)
    return tokenizer, len(tokens)


def _towers(vocab_size: int, image_size: int, patch_size: int) -> dict:
    text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=16, pad_token_id=0,
                bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1)
    vision = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                  image_size=image_size, patch_size=patch_size)
    return {"text_config": text, "vision_config": vision, "projection_dim": 32}


def _owlvit():
    # google/owlvit-base-patch32: 768x768 bicubic, no center crop, OpenAI CLIP mean/std.
    from transformers import OwlViTConfig, OwlViTForObjectDetection, OwlViTImageProcessor, OwlViTProcessor

    tokenizer, vocab_size = _tokenizer()
    config = OwlViTConfig(**_towers(vocab_size, 96, 16))
    image_processor = OwlViTImageProcessor(
        size={"height": 96, "width": 96}, crop_size={"height": 96, "width": 96}, do_center_crop=False,
        resample=BICUBIC, image_mean=_OPENAI_CLIP_MEAN, image_std=_OPENAI_CLIP_STD)
    return OwlViTForObjectDetection(config), OwlViTProcessor(image_processor=image_processor, tokenizer=tokenizer)


def _owlv2():
    # google/owlv2-base-patch16-ensemble: pad to a square with 0.5 grey, 960x960, OpenAI CLIP mean/std.
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    tokenizer, vocab_size = _tokenizer()
    config = Owlv2Config(**_towers(vocab_size, 96, 16))
    image_processor = Owlv2ImageProcessor(size={"height": 96, "width": 96}, image_mean=_OPENAI_CLIP_MEAN,
                                          image_std=_OPENAI_CLIP_STD)
    return Owlv2ForObjectDetection(config), Owlv2Processor(image_processor=image_processor, tokenizer=tokenizer)


BUILDERS = {"owlvit": _owlvit, "owlv2": _owlv2}

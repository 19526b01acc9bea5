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


def calibration_image():
    """The image the tests query (a smooth random 160x120 RGB PIL image); the calibration uses it."""
    from .tiny_calibration import reference_images

    return reference_images(1, torch.Generator().manual_seed(7), size=(160, 120))[0]


@torch.no_grad()
def calibrate(model, processor, passing: range = range(3, 9)) -> None:
    """Keep the boxes near their patches; make the class head's logit scale a constant and shift its logits
    so that, on calibration_image with TEST_LABELS, between passing.start and passing.stop - 1 (label, patch)
    scores exceed 0.1 (the threshold in the widest gap of the sorted scores there), none within MARGIN of it."""
    model.box_head.dense2.weight.mul_(0.05)  # boxes near each patch's own (the box bias), not saturated
    model.box_head.dense2.bias.zero_()
    head = model.class_head
    head.logit_scale.weight.zero_()
    head.logit_scale.bias.zero_()  # scale = elu(0) + 1 = 1: the logits are the raw (similarity + shift)
    head.logit_shift.weight.zero_()  # one shift for every patch: the scores follow the text-image similarity
    inputs = processor(text=[list(TEST_LABELS)], images=calibration_image(), return_tensors="pt")
    raw = model(**inputs).logits.flatten().sort(descending=True).values.double()
    scale = 3.0 / float(raw.std())  # a spread of a few logits
    gaps = raw[passing.start - 1: passing.stop - 1] - raw[passing.start: passing.stop]
    k = passing.start + int(gaps.argmax())  # the k best pass
    middle = float(raw[k - 1] + raw[k]) / 2
    threshold_logit = float(torch.logit(torch.tensor(PIPELINE_THRESHOLD, dtype=torch.float64)))
    head.logit_shift.bias += threshold_logit / scale - middle
    head.logit_scale.bias.fill_(scale - 1)  # elu(s - 1) + 1 = s for s >= 1
    scores = model(**inputs).logits.sigmoid().flatten()
    closest = float((scores - PIPELINE_THRESHOLD).abs().min())
    assert closest > MARGIN, f"calibration left a score {closest:.2e} from the threshold"
    assert int((scores > PIPELINE_THRESHOLD).sum()) == k
    processor.tokenizer.backend_tokenizer.no_padding()  # the call above left its padding in the saved tokenizer.json

"""The text queries of a zero-shot detector (OWL-ViT, OWLv2): its labels tokenized once, as the model's
``input_ids`` and ``attention_mask`` for every frame of a run.

transformers' OwlViTProcessor / Owlv2Processor tokenize ``text=[labels]`` with the CLIP tokenizer, padded to
the tokenizer's ``model_max_length`` (16 for the OWL checkpoints) with its pad token ("!"), no truncation.
Here the export's ``tokenizer.json`` (saved beside the processor config by models/export) is read with the
``tokenizers`` library -- a small wheel, no torch or transformers -- and padded the same way. The
pipeline tokenizes each label alone, unpadded; the model pools each query at its end token under a causal
mask, so the padding does not change a query's embedding (tests/test_zero_shot_detection checks it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import MissingDependencyError, OptionError, UsageError

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"


@dataclass(frozen=True)
class TextQueries:
    """labels and their (len(labels), max_length) int64 input_ids and attention_mask."""

    labels: tuple[str, ...]
    input_ids: np.ndarray
    attention_mask: np.ndarray

    def inputs(self) -> dict[str, np.ndarray]:
        """The session's text inputs, by their ONNX names."""
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask}


def parse_labels(value, name: str = "labels") -> tuple[str, ...] | None:
    """`labels` as given ("person,cup", or a list of strings) as a tuple of stripped labels; None stays None.
    An empty label or list is an OptionError naming the option `name`."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else [0]
    if not all(isinstance(item, str) for item in items):
        raise OptionError(f"{name} must be text (\"person,cup\") or a list of strings, got {value!r}")
    labels = tuple(item.strip() for item in items)
    if not labels or not all(labels):
        raise OptionError(f"{name} must be non-empty and comma-separated, e.g. \"person,cup\"; got {value!r}")
    return labels


def _pad_token(config: dict) -> str:
    pad = config.get("pad_token") or "!"
    return pad["content"] if isinstance(pad, dict) else str(pad)


def tokenize(folder: Path, labels: tuple[str, ...]) -> TextQueries:
    """`labels` tokenized with the tokenizer saved in export `folder`, as the OWL processors tokenize them."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise MissingDependencyError("zero-shot detection tokenizes its labels with the `tokenizers` library: "
                                     "pip install 'livevision[zero-shot]'") from None
    path = Path(folder) / TOKENIZER_FILE
    if not path.is_file():
        raise UsageError(f"{folder} has no {TOKENIZER_FILE} for the labels: re-export the model with --force")
    config_path = Path(folder) / TOKENIZER_CONFIG_FILE
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    max_length = int(config.get("model_max_length") or 16)
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    pad = _pad_token(config)
    tokenizer.enable_padding(length=max_length, pad_id=tokenizer.token_to_id(pad) or 0, pad_token=pad)
    encodings = tokenizer.encode_batch(list(labels))
    for label, encoding in zip(labels, encodings):
        if len(encoding.ids) > max_length:
            raise UsageError(f"label {label!r} is {len(encoding.ids)} tokens long; the model takes at most "
                             f"{max_length}: use a shorter label")
    return TextQueries(labels=tuple(labels),
                       input_ids=np.array([e.ids for e in encodings], np.int64),
                       attention_mask=np.array([e.attention_mask for e in encodings], np.int64))

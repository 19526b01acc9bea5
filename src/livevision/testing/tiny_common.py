"""What the tiny test models share: image statistics, PIL resampling codes, label names."""

from __future__ import annotations

# The image statistics of the real checkpoints.
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
HALF = [0.5, 0.5, 0.5]

# PIL resampling codes, as stored in preprocessor_config.json.
NEAREST, BILINEAR, BICUBIC = 0, 2, 3

# Short, real-looking label names (ids 0..9).
CLASS_NAMES = ["cat", "dog", "car", "person", "tree", "bicycle", "bird", "boat", "chair", "cup"]
SEGMENT_NAMES = ["wall", "floor", "sky", "person", "road", "tree", "car", "building", "grass", "table"]


def labels(names: list[str]) -> dict:
    """config.json's id2label and label2id for these names."""
    id2label = {i: n for i, n in enumerate(names)}
    return {"id2label": id2label, "label2id": {n: i for i, n in id2label.items()}}


CLASS_LABELS = labels(CLASS_NAMES)
SEGMENT_LABELS = labels(SEGMENT_NAMES)

"""Class ids and their names, as config.json gives them (shared by classification and segmentation)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def normalize_id2label(id2label: Mapping[Any, str] | None) -> dict[int, str]:
    """config.json's id2label (string keys) as {int: str}."""
    if not id2label:
        return {}
    try:
        return {int(k): str(v) for k, v in id2label.items()}
    except (TypeError, ValueError):
        raise ValueError(f"id2label keys must be integers, got {list(id2label)[:5]}...") from None


def label_for(id2label: Mapping[int, str], class_id: int) -> str:
    """The class name, or transformers' default name LABEL_<id> when the config has none."""
    return id2label.get(class_id, f"LABEL_{class_id}")

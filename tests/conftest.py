"""Shared fixtures: tiny models built once per session, exports cached once per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# No test may reach the Hugging Face Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """tiny_model(name) -> folder of a tiny random-weight HF model (see tiny_models.ARCHITECTURES)."""
    from tiny_models import build_tiny_model

    root = tmp_path_factory.mktemp("tiny-models")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = build_tiny_model(name, root / name)
        return built[name]

    return get


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """One export cache for the whole session, so each tiny model is exported once."""
    return tmp_path_factory.mktemp("export-cache")


@pytest.fixture(scope="session")
def exported(tiny_model, model_cache):
    """exported(name) -> CacheEntry of the tiny model's ONNX export."""
    from tiny_models import ARCHITECTURES

    from livevision.models.export import export_model

    def get(name: str):
        task = ARCHITECTURES[name][0]
        return export_model(tiny_model(name), task, cache_dir=model_cache)

    return get

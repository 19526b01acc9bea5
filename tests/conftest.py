"""Shared fixtures: tiny models built and exported once, kept across sessions in pytest's cache.

The kept models and exports sit under .pytest_cache/d/livevision/<fingerprint>: the fingerprint
covers the tiny-model builders, livevision's export code and the library versions, so a change to
any of them starts afresh (older fingerprints are removed). `pytest --cache-clear` does too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

# No test may reach the Hugging Face Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _fingerprint() -> str:
    """What kept tiny models and exports depend on."""
    digest = hashlib.sha256()
    package = HERE.parent / "src" / "livevision"
    sources = [*sorted((package / "testing").glob("*.py")), *sorted((package / "models").glob("*.py"))]
    for path in sources:
        digest.update(path.read_bytes())
    for package in ("torch", "transformers", "optimum", "optimum-onnx", "onnx", "onnxruntime"):
        try:
            digest.update(f"{package}={version(package)};".encode())
        except PackageNotFoundError:
            digest.update(f"{package}=none;".encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def kept_root(request, tmp_path_factory) -> Path:
    """Where tiny models and exports are kept: pytest's cache, or a temporary folder without it."""
    cache = getattr(request.config, "cache", None)
    if cache is None:  # -p no:cacheprovider
        return tmp_path_factory.mktemp("kept")
    base = Path(cache.mkdir("livevision"))
    fingerprint = _fingerprint()
    for stale in base.iterdir():
        if stale.name != fingerprint:
            shutil.rmtree(stale, ignore_errors=True)
    root = base / fingerprint
    root.mkdir(exist_ok=True)
    return root


# Tests that build or export tiny models need torch (the `export` extra). Without it they are skipped,
# not errors; `-m "not needs_torch"` leaves them out on purpose.
_TORCH_FIXTURES = {"tiny_model", "exported", "model_cache"}


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_torch: builds or exports tiny Hugging Face models (needs torch)")
    config.addinivalue_line("markers", "cpu_default: test_placement: --pre-post auto as it is on the CPU provider")
    config.addinivalue_line("markers", "browser: drives headless Chromium (tests/browser.py); skipped without it")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _TORCH_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.needs_torch)


@pytest.fixture(scope="session")
def tiny_model(kept_root):
    """tiny_model(name) -> folder of a tiny random-weight HF model (livevision.testing.tiny_models)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from livevision.testing.tiny_models import build_tiny_model

    root = kept_root / "tiny-models"
    root.mkdir(exist_ok=True)

    def get(name: str) -> Path:
        folder = root / name
        if not folder.is_dir():  # built beside, then moved in whole: never a half-written folder
            building = root / f".{name}.{os.getpid()}"
            shutil.rmtree(building, ignore_errors=True)
            build_tiny_model(name, building)
            try:
                building.rename(folder)
            except OSError:  # another session put it there first
                shutil.rmtree(building, ignore_errors=True)
        return folder

    return get


@pytest.fixture(scope="session")
def model_cache(kept_root) -> Path:
    """One export cache shared by the sessions, so each tiny model is exported once."""
    folder = kept_root / "export-cache"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def exported(tiny_model, model_cache):
    """exported(name) -> CacheEntry of the tiny model's ONNX export."""
    from livevision.testing.tiny_models import ARCHITECTURES

    from livevision.models.export import export_model

    def get(name: str):
        task = ARCHITECTURES[name][0]
        return export_model(tiny_model(name), task, cache_dir=model_cache)

    return get


@pytest.fixture(scope="session")
def fake_camera(tmp_path_factory):
    """The browser tests' webcam (tests/browser.py): a 5-second loop of counter frames, 640x480 at 30 fps."""
    from browser import make_fake_camera

    return make_fake_camera(tmp_path_factory.mktemp("camera"))


@pytest.fixture(scope="session")
def cpu_session():
    """Any session on ONNX Runtime's CPU provider: graphs built for the device run on its providers."""
    import onnxruntime as ort
    from onnx import TensorProto

    from livevision.graphs.onnx_build import GraphBuilder

    g = GraphBuilder("identity")
    g.op("Identity", g.input("x", TensorProto.FLOAT, [1]), out="y")
    g.output("y", TensorProto.FLOAT, [1])
    return ort.InferenceSession(g.model().SerializeToString(), providers=["CPUExecutionProvider"])

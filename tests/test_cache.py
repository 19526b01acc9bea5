"""The export cache: keys, atomic writes, broken entries, concurrent builders."""

from __future__ import annotations

import threading
import time

import pytest

from livevision.errors import CacheError
from livevision.models.cache import METADATA_FILE, ONNX_FILE, CacheKey, ModelCache


def _key(**changes) -> CacheKey:
    fields = dict(model="org/model", revision="main", options={"task": "depth", "opset": None},
                  versions={"torch": "2.13.0", "transformers": "4.57.6"})
    fields.update(changes)
    return CacheKey(**fields)


def _fake_export(tmp):
    (tmp / ONNX_FILE).write_bytes(b"onnx" * 100)
    (tmp / "config.json").write_text("{}")
    return {"note": "fake"}


def test_key_covers_model_revision_options_and_versions():
    base = _key()
    variants = [
        _key(model="org/other"),
        _key(revision="v2"),
        _key(options={"task": "depth", "opset": 18}),
        _key(versions={"torch": "2.14.0", "transformers": "4.57.6"}),
    ]
    digests = {base.digest} | {k.digest for k in variants}
    assert len(digests) == 5
    assert _key().digest == base.digest  # deterministic


def test_store_then_lookup(tmp_path):
    cache = ModelCache(tmp_path)
    key = _key()
    assert cache.lookup(key) is None
    entry = cache.store(key, _fake_export)
    assert entry.onnx_path.read_bytes() == b"onnx" * 100
    assert entry.metadata["notes"] == {"note": "fake"}
    assert entry.metadata["files"][ONNX_FILE] == 400
    assert cache.lookup(key).path == entry.path
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".locks")] == [entry.path.name]


def test_failed_build_leaves_nothing_that_looks_complete(tmp_path):
    cache = ModelCache(tmp_path)

    def crash(tmp):
        (tmp / ONNX_FILE).write_bytes(b"half")
        raise RuntimeError("export died")

    with pytest.raises(RuntimeError):
        cache.store(_key(), crash)
    assert cache.lookup(_key()) is None
    assert [p.name for p in tmp_path.iterdir()] == [".locks"]  # no temp folder left behind


def test_build_without_onnx_is_rejected(tmp_path):
    with pytest.raises(CacheError):
        ModelCache(tmp_path).store(_key(), lambda tmp: {})
    assert ModelCache(tmp_path).lookup(_key()) is None


@pytest.mark.parametrize("damage", ["truncate", "delete_onnx", "delete_metadata", "garble_metadata"])
def test_damaged_entry_is_detected_and_rebuilt(tmp_path, damage):
    cache = ModelCache(tmp_path)
    entry = cache.store(_key(), _fake_export)
    if damage == "truncate":
        entry.onnx_path.write_bytes(b"onn")
    elif damage == "delete_onnx":
        entry.onnx_path.unlink()
    elif damage == "delete_metadata":
        (entry.path / METADATA_FILE).unlink()
    else:
        (entry.path / METADATA_FILE).write_text("{not json")
    assert cache.lookup(_key()) is None
    rebuilt = cache.store(_key(), _fake_export)
    assert rebuilt.onnx_path.read_bytes() == b"onnx" * 100


def test_concurrent_builders_build_once(tmp_path):
    builds = []

    def slow_export(tmp):
        builds.append(threading.get_ident())
        time.sleep(0.3)
        return _fake_export(tmp)

    results = []
    threads = [threading.Thread(target=lambda: results.append(ModelCache(tmp_path).store(_key(), slow_export)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(builds) == 1
    assert len({r.path for r in results}) == 1 and len(results) == 3


def test_lookup_any_version_finds_other_library_versions(tmp_path):
    cache = ModelCache(tmp_path)
    cache.store(_key(), _fake_export)
    newer = _key(versions={"torch": "9.9", "transformers": "9.9"})
    assert cache.lookup(newer) is None
    assert cache.lookup_any_version(newer) is not None
    assert cache.lookup_any_version(_key(revision="other")) is None


def test_the_cache_folder_can_be_named_by_the_environment(monkeypatch, tmp_path):
    from livevision.models.cache import default_cache_dir
    from livevision.models.inventory import cache_location

    monkeypatch.setenv("LIVEVISION_CACHE_DIR", str(tmp_path / "shared"))
    assert default_cache_dir() == tmp_path / "shared"
    assert cache_location(None) == (tmp_path / "shared", "$LIVEVISION_CACHE_DIR")
    assert cache_location(tmp_path / "given")[0] == tmp_path / "given"  # --cache-dir still wins
    monkeypatch.delenv("LIVEVISION_CACHE_DIR")
    assert default_cache_dir() != tmp_path / "shared"


@pytest.mark.parametrize("name", ["depth_anything", "segformer", "vit"])
def test_an_export_keeps_a_config_transformers_reads_back(name, exported):
    """config.json once held "dtype": "torch.float32" (a torch.dtype written as text), which
    AutoConfig.from_pretrained cannot read: save_pretrained copies and pipe.model.config read it."""
    transformers = pytest.importorskip("transformers")
    entry = exported(name)
    config = transformers.AutoConfig.from_pretrained(entry.path)
    assert config.model_type == entry.metadata["notes"]["model_type"]

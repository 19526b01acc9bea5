"""livevision.pipeline: transformers' pipeline calls, unchanged, on the ONNX export; same outputs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

import livevision  # noqa: E402
from livevision.errors import UsageError  # noqa: E402
from livevision.testing.tiny_models import ARCHITECTURES, reference_images  # noqa: E402

HF_TASKS = {"depth": "depth-estimation", "classification": "image-classification",
            "segmentation": "image-segmentation"}
# Low thresholds: random tiny models are not confident, and the point is to compare many segments.
MASK_OPTIONS = dict(threshold=0.1, mask_threshold=0.5, overlap_mask_area_threshold=0.5)


@pytest.fixture(scope="module")
def images():
    """Two photo-like RGB images of other sizes than the models' inputs, one portrait."""
    generator = torch.Generator().manual_seed(11)
    return reference_images(1, generator, size=(160, 120)) + reference_images(1, generator, size=(90, 130))


def _pipes(name, tiny_model, model_cache, **options):
    folder = tiny_model(name)
    task = HF_TASKS[ARCHITECTURES[name][0]]
    processor = transformers.AutoImageProcessor.from_pretrained(folder, use_fast=False)
    hf = transformers.pipeline(task, model=str(folder), image_processor=processor, device="cpu")
    ours = livevision.pipeline(task, model=str(folder), cache_dir=model_cache, precision="fp32", device="cpu",
                               **options)
    return hf, ours


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@pytest.mark.parametrize("name", [n for n, (task, _) in ARCHITECTURES.items() if task == "depth"])
def test_depth_matches_transformers(name, tiny_model, model_cache, images):
    hf, ours = _pipes(name, tiny_model, model_cache)
    for image in images:
        want, got = hf(image), ours(image)
        assert set(got) == {"predicted_depth", "depth"}
        expected = want["predicted_depth"].numpy()
        assert isinstance(got["predicted_depth"], np.ndarray) and got["predicted_depth"].shape == expected.shape
        np.testing.assert_allclose(got["predicted_depth"], expected, rtol=1e-4, atol=2e-4)
        assert isinstance(got["depth"], Image.Image) and got["depth"].size == want["depth"].size
        levels = np.abs(np.asarray(got["depth"], int) - np.asarray(want["depth"], int))
        assert levels.max() <= 1 and (levels == 0).mean() >= 0.99


@pytest.mark.parametrize("name", [n for n, (task, _) in ARCHITECTURES.items() if task == "classification"])
def test_classification_matches_transformers(name, tiny_model, model_cache, images):
    hf, ours = _pipes(name, tiny_model, model_cache)
    for image in images:
        for options in ({}, {"top_k": 3}, {"top_k": 2, "function_to_apply": "sigmoid"}):
            want, got = hf(image, **options), ours(image, **options)
            assert [g["label"] for g in got] == [w["label"] for w in want], (name, options)
            assert [g["score"] for g in got] == pytest.approx([w["score"] for w in want], abs=1e-3)


@pytest.mark.parametrize("name, subtask", [("segformer", None), ("maskformer", None), ("mask2former", None),
                                           ("maskformer", "semantic"), ("mask2former", "instance")])
def test_segmentation_matches_transformers(name, subtask, tiny_model, model_cache, images):
    options = {} if name == "segformer" else dict(MASK_OPTIONS, subtask=subtask)
    hf, ours = _pipes(name, tiny_model, model_cache, **options)
    compared = 0
    for image in images:
        want, got = hf(image, **options), ours(image)
        assert all(isinstance(g["mask"], Image.Image) and g["mask"].size == image.size for g in got)
        if subtask == "semantic" or name == "segformer":
            assert [g["label"] for g in got] == [w["label"] for w in want] and all(g["score"] is None for g in got)
            for g, w in zip(got, want):
                assert (np.asarray(g["mask"]) == np.asarray(w["mask"])).mean() >= 0.99
            compared += len(want)
            continue
        assert len(got) == len(want)
        if subtask == "instance":  # overlaps: HF paints instances in torch's unsorted top-k order, we by score
            assert sorted((g["label"], round(g["score"], 3)) for g in got) == \
                sorted((w["label"], round(w["score"], 3)) for w in want)
            union = [np.any([np.asarray(x["mask"]) > 0 for x in side], axis=0) for side in (got, want)]
            assert (union[0] == union[1]).mean() >= 0.99
            compared += len(want)
            continue
        unused = list(got)
        for w in want:  # instance order is torch's unsorted top-k in HF: match by label and overlap
            mask = np.asarray(w["mask"]) > 0
            same = [g for g in unused if g["label"] == w["label"]]
            best = max(same, key=lambda g: _iou(np.asarray(g["mask"]) > 0, mask))
            assert _iou(np.asarray(best["mask"]) > 0, mask) >= 0.95 and best["score"] == pytest.approx(w["score"],
                                                                                                     abs=1e-3)
            unused.remove(best)
        compared += len(want)
    assert compared >= 2, "too few segments to compare"


def test_inputs_paths_arrays_lists_generators_and_batches(tiny_model, model_cache, images, tmp_path):
    _, ours = _pipes("vit", tiny_model, model_cache)
    path = tmp_path / "photo.png"
    images[0].save(path)
    single = ours(images[0])
    assert ours(str(path)) == single and ours(path) == single
    assert ours(np.asarray(images[0])) == single  # an RGB array, as PIL gives it
    listed = ours([images[0], images[1]], batch_size=2)
    assert len(listed) == 2 and [r["label"] for r in listed[0]] == [r["label"] for r in single]
    assert [r["score"] for r in listed[0]] == pytest.approx([r["score"] for r in single], abs=1e-5)
    generated = ours(image for image in images)
    assert not isinstance(generated, list) and len(list(generated)) == 2
    batched = livevision.pipeline("image-classification", model=str(tiny_model("vit")), cache_dir=model_cache,
                                  precision="fp32", device="cpu", batch_size=2)
    assert [r[0]["label"] for r in batched(images)] == [r[0]["label"] for r in listed]


def test_bad_calls_are_clear(tiny_model, model_cache):
    folder = str(tiny_model("vit"))
    with pytest.raises(UsageError, match="unknown task"):
        livevision.pipeline("object-detection", model=folder, cache_dir=model_cache)
    with pytest.raises(TypeError, match="threshold"):
        livevision.pipeline("image-classification", model=folder, cache_dir=model_cache, threshold=0.5)
    pipe = livevision.pipeline("image-classification", model=folder, cache_dir=model_cache, precision="fp32")
    with pytest.raises(UsageError, match="no image at"):
        pipe("missing.jpg")
    with pytest.raises(UsageError, match="batch_size"):
        pipe([np.zeros((8, 8, 3), np.uint8)], batch_size=0)


def test_the_course_snippet_runs_with_only_the_import_changed(tiny_model, exported, tmp_path):
    """The course's code, the import swapped and a local folder for the Hub id, in a fresh process; it
    works in the cache folder $LIVEVISION_CACHE_DIR names (not in this checkout's models/): it finds
    the export there (copied in, to spare the test an export) and builds its precision variants there."""
    import shutil

    entry = exported("zoedepth_nyu_kitti")
    shutil.copytree(entry.path, tmp_path / "cache" / entry.path.name)
    image = tmp_path / "ruta_o_url_imagen.jpg"
    cv2.imwrite(str(image), np.full((60, 80, 3), 128, np.uint8))
    script = textwrap.dedent(f"""
        from livevision import pipeline

        depth = pipeline("depth-estimation", model={str(tiny_model("zoedepth_nyu_kitti"))!r})

        result = depth({str(image)!r})
        print(sorted(result), result["depth"].size, result["predicted_depth"].shape)
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LIVEVISION_CACHE_DIR": str(tmp_path / "cache"),
           "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['depth', 'predicted_depth'] (80, 60) (60, 80)"
    entries = [p.name for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]
    assert len(entries) > 1 and all(name.startswith("zoedepth_nyu_kitti-") for name in entries), entries


def test_run_takes_the_transformers_task_names(monkeypatch):
    from livevision.cli import main

    seen = {}
    monkeypatch.setattr("livevision.app.run", lambda options, **_: seen.setdefault("options", options) and 0)
    assert main(["run", "--task", "depth-estimation,image-segmentation", "--source", "x.mp4", "--no-display"]) == 0
    assert [t.value for t in seen["options"].tasks] == ["depth", "segmentation"]

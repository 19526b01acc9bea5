"""livevision.pipeline: transformers' pipeline calls, unchanged, on the ONNX export; same outputs."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

import livevision  # noqa: E402
from livevision.errors import LiveVisionError, UsageError  # noqa: E402
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
    ours = livevision.pipeline(task, model=str(folder), cache_dir=model_cache, device="cpu", **options)  # defaults
    return hf, ours


@pytest.mark.parametrize("name", [n for n, (task, _) in ARCHITECTURES.items() if task == "depth"])
def test_depth_matches_transformers(name, tiny_model, model_cache, images):
    hf, ours = _pipes(name, tiny_model, model_cache)
    for image in images:
        want, got = hf(image), ours(image)
        assert set(got) == {"predicted_depth", "depth"}
        expected = want["predicted_depth"].numpy()
        assert isinstance(got["predicted_depth"], torch.Tensor) and got["predicted_depth"].shape == expected.shape
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
            assert [g["score"] for g in got] == pytest.approx([w["score"] for w in want], abs=1e-4)


# Per-pixel-logit models (SegFormer, BEiT, DPT, MobileViT, UperNet...): every segmentation architecture but these.
QUERY_BASED = ("maskformer", "mask2former")
SEMANTIC = [n for n, (task, model_type) in ARCHITECTURES.items()
            if task == "segmentation" and model_type not in QUERY_BASED]


@pytest.mark.parametrize("name, subtask", [(name, None) for name in SEMANTIC] + [
    ("maskformer", None), ("mask2former", None), ("maskformer", "semantic"), ("mask2former", "instance")])
def test_segmentation_matches_transformers(name, subtask, tiny_model, model_cache, images):
    semantic_model = name in SEMANTIC
    options = {} if semantic_model else dict(MASK_OPTIONS, subtask=subtask)
    hf, ours = _pipes(name, tiny_model, model_cache, **options)
    compared = 0
    for image in images:
        want, got = hf(image, **options), ours(image)
        assert all(isinstance(g["mask"], Image.Image) and g["mask"].size == image.size for g in got)
        if subtask == "semantic" or semantic_model:
            assert [g["label"] for g in got] == [w["label"] for w in want] and all(g["score"] is None for g in got)
            for g, w in zip(got, want):
                # identical but where two classes tie after the upsampling (MobileViTV2: 0.08 % of the pixels)
                assert (np.asarray(g["mask"]) == np.asarray(w["mask"])).mean() >= 0.999
            compared += len(want)
            continue
        # instance and panoptic: HF's segments in HF's order (torch.topk's), painted as it paints them
        assert [g["label"] for g in got] == [w["label"] for w in want]
        assert [g["score"] for g in got] == pytest.approx([w["score"] for w in want], abs=1e-4)
        for g, w in zip(got, want):
            assert np.array_equal(np.asarray(g["mask"]), np.asarray(w["mask"])), (g["label"], g["score"])
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
        livevision.pipeline("image-to-text", model=folder, cache_dir=model_cache)
    with pytest.raises(LiveVisionError, match="not supported for detection; supported: conditional_detr"):
        livevision.pipeline("object-detection", model=folder, cache_dir=model_cache)
    with pytest.raises(TypeError, match="threshold"):
        livevision.pipeline("image-classification", model=folder, cache_dir=model_cache, threshold=0.5)
    pipe = livevision.pipeline("image-classification", model=folder, cache_dir=model_cache, precision="fp32")
    with pytest.raises(UsageError, match="no image at"):
        pipe("missing.jpg")
    with pytest.raises(UsageError, match="batch_size"):
        pipe([np.zeros((8, 8, 3), np.uint8)], batch_size=0)


def test_the_course_snippet_runs_with_only_the_import_changed(tiny_model, exported, tmp_path, images):
    """The course's code, the import swapped and a local folder for the Hub id, in a fresh process that
    imports the tree under test; it works in the cache folder $LIVEVISION_CACHE_DIR names (not in this
    checkout's models/): it finds the export there (copied in, to spare the test an export) and, at the
    default precision (FP32), builds nothing else. Its values are this process's and transformers'."""
    import shutil

    folder = tiny_model("zoedepth_nyu_kitti")
    entry = exported("zoedepth_nyu_kitti")
    cache = tmp_path / "cache"
    shutil.copytree(entry.path, cache / entry.path.name)
    image = tmp_path / "ruta_o_url_imagen.png"
    images[0].save(image)
    saved = tmp_path / "predicted_depth.npy"
    script = textwrap.dedent(f"""
        from livevision import pipeline

        depth = pipeline("depth-estimation", model={str(folder)!r})

        result = depth({str(image)!r})
        print(sorted(result), result["depth"].size, tuple(result["predicted_depth"].shape))
        import livevision, numpy
        print(livevision.__file__)
        numpy.save({str(saved)!r}, result["predicted_depth"])
        result["depth"].save({str(tmp_path / "depth.png")!r})
    """)
    tree = Path(livevision.__file__).parents[1]  # the src folder this test imports livevision from
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LIVEVISION_CACHE_DIR": str(cache),
           "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    summary, imported = done.stdout.strip().splitlines()
    assert summary == f"['depth', 'predicted_depth'] {images[0].size} {images[0].size[::-1]}"
    assert imported == livevision.__file__, "the snippet ran another livevision than the tree under test"
    # the default is the FP32 export itself: nothing built beside the export copied in
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == [entry.path.name]

    got = np.load(saved)
    here = livevision.pipeline("depth-estimation", model=str(folder), cache_dir=cache)(str(image))
    np.testing.assert_allclose(got, here["predicted_depth"], rtol=1e-5, atol=1e-6)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "depth.png")), np.asarray(here["depth"]))
    # transformers' map: with precision "auto" (the default before), INT8 flipped this ZoeDepth's
    # NYU/KITTI head choice on this image on a machine where INT8 timed faster: depth 2.4 where FP32 says 46
    want = transformers.pipeline("depth-estimation", model=str(folder), device="cpu", image_processor=(
        transformers.AutoImageProcessor.from_pretrained(folder, use_fast=False)))(images[0])["predicted_depth"]
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-4)
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.99


def test_run_takes_the_transformers_task_names(monkeypatch):
    from cli_runner import run_cli  # cli.main in this process, its logging set-up undone afterwards

    seen = {}
    monkeypatch.setattr("livevision.app.run", lambda options, **_: seen.setdefault("options", options) and 0)
    done = run_cli("run", "--task", "depth-estimation,image-segmentation", "--source", "x.mp4", "--no-display")
    assert done.returncode == 0, done.stderr
    assert [t.value for t in seen["options"].tasks] == ["depth", "segmentation"]


# ---- the first use says what takes its time ------------------------------------------------------------


def _notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("livevision: ")]


@pytest.fixture
def logging_not_configured():
    """Logging as a script that never configured it has it: livevision's INFO records go nowhere."""
    loggers = [logging.getLogger(), logging.getLogger("livevision")]
    saved = [logger.level for logger in loggers]
    loggers[0].setLevel(logging.WARNING)
    loggers[1].setLevel(logging.NOTSET)
    yield
    for logger, level in zip(loggers, saved):
        logger.setLevel(level)


def test_the_first_use_says_once_that_it_exports_and_builds_variants(tiny_model, tmp_path, capsys,
                                                                      logging_not_configured):
    """A model's first pipeline() exports it and builds its precision variants (seconds to minutes): one
    line on stderr for each, though nobody configured logging; a second pipeline() (warm cache) says nothing."""
    folder = str(tiny_model("vit"))
    loggers = [logging.getLogger(name) for name in ("livevision.models.export", "livevision.models.variants")]
    levels = [(logger.level, list(logger.filters)) for logger in loggers]
    cache = tmp_path / "cache"
    capsys.readouterr()
    livevision.pipeline("image-classification", model=folder, cache_dir=cache, precision="auto")
    notes = _notes(capsys.readouterr().err)
    assert len(notes) == 2, notes
    assert notes[0].startswith("livevision: exporting ") and "first use only" in notes[0]
    assert notes[1].startswith("livevision: precision auto ") and "first use only" in notes[1]
    livevision.pipeline("image-classification", model=folder, cache_dir=cache, precision="auto")
    assert capsys.readouterr().err == ""
    assert [(logger.level, list(logger.filters)) for logger in loggers] == levels  # left as they were


def test_with_logging_at_info_the_notes_go_to_the_log_only(tiny_model, exported, tmp_path, capsys, caplog):
    import shutil

    entry = exported("vit")
    shutil.copytree(entry.path, tmp_path / "cache" / entry.path.name)
    caplog.set_level(logging.INFO, logger="livevision")
    capsys.readouterr()
    livevision.pipeline("image-classification", model=str(tiny_model("vit")), cache_dir=tmp_path / "cache",
                        precision="auto")
    assert _notes(capsys.readouterr().err) == []
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("precision auto ")]


def test_base64_text_and_data_uris_are_images_as_in_transformers(tiny_model, model_cache, images):
    import base64
    import io

    _, ours = _pipes("vit", tiny_model, model_cache)
    png = io.BytesIO()
    images[0].save(png, format="PNG")
    text = base64.b64encode(png.getvalue()).decode()
    single = ours(images[0])
    assert ours(text) == single and ours("data:image/png;base64," + text) == single
    assert ours([text], timeout=5) == [single]  # transformers' per-call timeout (for URLs) is taken
    with pytest.raises(UsageError, match="no image at") as raised:  # was "File name too long"
        ours("A" * 5000)
    assert len(str(raised.value)) < 200


def test_dtype_is_a_precision_or_a_one_line_value_error(tiny_model, model_cache, images):
    folder = str(tiny_model("vit"))
    exact = livevision.pipeline("image-classification", model=folder, cache_dir=model_cache)(images[0])
    for dtype in (torch.float32, "float32", "auto"):
        pipe = livevision.pipeline("image-classification", model=folder, cache_dir=model_cache, torch_dtype=dtype)
        assert pipe(images[0]) == exact
    # float16 is the FP16 variant: a GPU provider's; on the CPU that is an error, not FP32 in its place
    for key, dtype in (("dtype", torch.float16), ("torch_dtype", "float16"), ("dtype", torch.bfloat16)):
        with pytest.raises(ValueError) as raised:
            livevision.pipeline("image-classification", model=folder, cache_dir=model_cache, device="cpu",
                                **{key: dtype})
        assert "\n" not in str(raised.value)
    with pytest.raises(ValueError, match="not both"):
        livevision.pipeline("image-classification", model=folder, cache_dir=model_cache, dtype="float32",
                            precision="int8")


def test_top_k_none_is_transformers_default_and_a_semantic_model_refuses_other_subtasks(tiny_model, model_cache,
                                                                                       images):
    hf, ours = _pipes("vit", tiny_model, model_cache)
    assert len(ours(images[0], top_k=None)) == len(hf(images[0], top_k=None)) == 5
    segformer = livevision.pipeline("image-segmentation", model=str(tiny_model("segformer")), cache_dir=model_cache)
    for subtask in ("instance", "panoptic"):
        with pytest.raises(ValueError, match="not supported"):
            segformer(images[0], subtask=subtask)
        with pytest.raises(ValueError, match="not supported"):
            livevision.pipeline("image-segmentation", model=str(tiny_model("segformer")), cache_dir=model_cache,
                                subtask=subtask)
    assert segformer(images[0], subtask="semantic") == segformer(images[0])

"""Several tasks at once with real tiny models (no fake callables), through the CLI and the API.

One CLI run (module fixture) of depth + segmentation + classification on a 20-frame, 25 fps clip,
each task with its own local model (`--model task=FOLDER`), `--max-fps` and `--rate` in `every`
pacing, `--view grid`; the tests read its JSONL, arrays and video. The same models run directly
(`livevision.load_model` on the same decoded frames) give the reference values.
"""

from __future__ import annotations

import json
from fractions import Fraction

import cv2
import numpy as np
import pytest
from cli_runner import run_cli
from media import H, W, decode, make_source, read_index

import livevision
from livevision.render import ResultAnnotator
from livevision.sinks.results import result_record

pytestmark = pytest.mark.timeout(300)

N, FPS = 20, Fraction(25)  # frame i at i * 0.04 s
MODELS = {"depth": "depth_anything", "segmentation": "segformer", "classification": "vit"}

# In `every` pacing a rate counts source time: a task starts an inference on a frame when at
# least 1/rate s of source time passed since the frame of its last start.
MAX_FPS, RATES = "12.5", {"segmentation": "10", "classification": "5"}
EXPECTED_FRAMES = {
    "depth": [0, 2, 4, 6, 8, 10, 12, 14, 16, 18],  # --max-fps 12.5: 0.08 s = exactly every 2nd frame
    "segmentation": [0, 3, 6, 9, 12, 15, 18],  # 10/s: 0.1 s; 0.08 s is too soon, 0.12 s is the next
    "classification": [0, 5, 10, 15],  # 5/s: 0.2 s = every 5th frame
}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_source(tmp_path_factory.mktemp("multitask") / "clip.mp4", N, FPS, None)  # W x H = 128 x 72


@pytest.fixture(scope="module")
def folders(tiny_model, exported):
    """{task: local model folder}, exported once into the session cache (the CLI finds them there)."""
    for name in MODELS.values():
        exported(name)
    return {task: str(tiny_model(name)) for task, name in MODELS.items()}


@pytest.fixture(scope="module")
def direct(folders, model_cache, clip):
    """(frames, {task: [result of the model run directly on frame i]}): the reference."""
    _, frames = decode(clip)
    assert len(frames) == N and [read_index(f) for f in frames] == list(range(N))
    predictors = {t: livevision.load_model(f, t, cache_dir=model_cache, precision="fp32") for t, f in folders.items()}
    return frames, {t: [p(f) for f in frames] for t, p in predictors.items()}


@pytest.fixture(scope="module")
def cli_run(folders, model_cache, clip, tmp_path_factory):
    """The CLI run: (output folder, JSONL lines)."""
    out = tmp_path_factory.mktemp("cli-run")
    models = [a for task, folder in folders.items() for a in ("--model", f"{task}={folder}")]
    rates = [a for task, fps in RATES.items() for a in ("--rate", f"{task}={fps}")]
    done = run_cli("run", "--task", "depth,segmentation,classification", "--source", str(clip), *models,
                   "--pacing", "every", "--max-fps", MAX_FPS, *rates, "--view", "grid", "--full-size-tiles",
                   "--precision", "fp32", "--no-display", "--cache-dir", str(model_cache),
                   "--results", str(out / "r.jsonl"), "--output", str(out / "out.mp4"), "--arrays", str(out / "arrays"))
    assert done.returncode == 0, done.stderr
    return out, [json.loads(line) for line in (out / "r.jsonl").read_text().splitlines()]


def test_each_task_uses_its_model_and_matches_it_run_directly(cli_run, direct, folders):
    out, lines = cli_run
    _, reference = direct
    assert {r["task"] for r in lines} == set(MODELS)
    for r in lines:
        task, i = r["task"], r["index"]
        assert r["model"] == folders[task], r
        assert r["timestamp"] == pytest.approx(i / 25, abs=1e-6)
        expected = result_record(reference[task][i])
        if task == "depth":
            assert r["depth"]["kind"] == expected["depth"]["kind"] == "relative"
            # Aligned over time (a file: --depth-stabilize auto is align): scale * the model's + shift.
            scale, shift = r["depth"]["stabilization"]["scale"], r["depth"]["stabilization"]["shift"]
            for stat in ("min", "median", "max"):
                assert (r["depth"][stat] - shift) / scale == pytest.approx(expected["depth"][stat], rel=1e-4,
                                                                          abs=1e-5), (i, stat)
            depth = np.load(out / "arrays" / f"frame_{i:06d}_depth.npy")  # the arrays hold the same values
            np.testing.assert_allclose((depth - shift) / scale, reference[task][i].depth, rtol=1e-4, atol=1e-5)
        elif task == "classification":
            assert [(c["class_id"], c["label"]) for c in r["top_k"]] == \
                [(c["class_id"], c["label"]) for c in expected["top_k"]], i
            assert [c["score"] for c in r["top_k"]] == pytest.approx([c["score"] for c in expected["top_k"]], abs=1e-5)
        else:
            assert r["segmentation_kind"] == "semantic"
            assert r["classes"] == expected["classes"], i
            labels = cv2.imread(str(out / "arrays" / f"frame_{i:06d}_segmentation.png"), cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(labels, reference[task][i].label_map)
    # The reference is not degenerate: the models see the frames (which differ in colour and bits).
    assert not np.allclose(reference["depth"][0].depth, reference["depth"][5].depth)
    assert len(np.unique(reference["segmentation"][0].label_map)) > 1


def test_max_fps_and_rates_choose_the_frames_each_task_infers(cli_run):
    out, lines = cli_run
    inferred = {task: [r["index"] for r in lines if r["task"] == task] for task in MODELS}
    assert inferred == EXPECTED_FRAMES
    assert sorted(p.name for p in (out / "arrays").iterdir()) == sorted(
        [f"frame_{i:06d}_depth.npy" for i in EXPECTED_FRAMES["depth"]]
        + [f"frame_{i:06d}_segmentation.png" for i in EXPECTED_FRAMES["segmentation"]])
    _, video = decode(out / "out.mp4")
    assert len(video) == N  # skipped inferences never drop a frame of the output


def _tiles(image: np.ndarray) -> list[np.ndarray]:
    return [image[r * H:(r + 1) * H, c * W:(c + 1) * W] for r in (0, 1) for c in (0, 1)]


def _coarse(image: np.ndarray) -> np.ndarray:
    """4x smaller: H.264's error on text and colour maps (chroma subsampling) averages out."""
    return cv2.resize(image, (W // 4, H // 4), interpolation=cv2.INTER_AREA).astype(np.int16)


def test_grid_shows_the_frame_and_one_tile_per_task(cli_run, direct):
    out, _ = cli_run
    frames, reference = direct
    _, video = decode(out / "out.mp4")
    # views.grid: 4 tiles (the frame + 3 tasks) -> ceil(sqrt(4)) = 2 columns, 2 rows of W x H cells
    # (--full-size-tiles: each tile as large as the frame, to compare with the frame drawn directly).
    assert {v.shape for v in video} == {(2 * H, 2 * W, 3)}
    assert [read_index(_tiles(v)[0]) for v in video] == list(range(N))  # top left: the frame itself
    # Frame 0 (every task fresh): the tiles, row by row, are the frame, then depth, segmentation and
    # classification each drawn alone under its title -- within H.264's error, and far from any other
    # tile's picture.
    frame = frames[0]
    expected = [_coarse(ResultAnnotator().annotate(frame, [], title="source"))] + [
        _coarse(ResultAnnotator().annotate(frame, reference[t][0], title=t)) for t in MODELS]
    for k, tile in enumerate(_tiles(video[0])):
        errors = [np.abs(_coarse(tile) - e).mean() for e in expected]
        others = min(e for j, e in enumerate(errors) if j != k)
        assert errors[k] < 6 and errors[k] < others / 4, (k, errors)


def test_stream_api_with_two_tasks(folders, model_cache, clip, direct):
    frames, reference = direct
    packets = list(livevision.stream(str(clip), "depth,classification", cache_dir=model_cache, precision="fp32",
                                     model={"depth": folders["depth"], "classification": folders["classification"]},
                                     rates={"classification": 5}))
    assert [p.index for p in packets] == list(range(N))
    assert [p.index for p in packets if p.is_fresh(livevision.Task.CLASSIFICATION)] == [0, 5, 10, 15]
    assert all(p.is_fresh(livevision.Task.DEPTH) for p in packets)  # no cap on depth
    for p in packets:
        assert set(p.results) == {livevision.Task.DEPTH, livevision.Task.CLASSIFICATION}
        np.testing.assert_array_equal(p.image, frames[p.index])
        depth = p.results[livevision.Task.DEPTH]
        aligned = depth.stabilization  # a file's depth is aligned over time: scale * the model's + shift
        assert aligned.mode == "align" and (aligned.reset or p.index > 0)  # random tiny models reset often
        np.testing.assert_allclose((depth.depth - aligned.shift) / aligned.scale, reference["depth"][p.index].depth,
                                   rtol=1e-4, atol=5e-4)  # the inverse in float32 rounds a little
        shown = p.outputs[livevision.Task.CLASSIFICATION]
        assert shown.frame_index == p.index - p.index % 5  # between inferences, the latest result is reused
        want = reference["classification"][shown.frame_index]
        assert shown.result.class_ids == want.class_ids
        assert shown.result.scores == pytest.approx(want.scores, abs=1e-5)

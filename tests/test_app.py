"""`livevision run` end to end on synthetic videos, and its answers to bad input."""

from __future__ import annotations

import json
import threading
from fractions import Fraction
from pathlib import Path

import pytest
from cli_runner import run_cli, run_cli_process
from media import decode, make_source, probe, read_index

from livevision.cli import main

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def clip_with_audio(tmp_path_factory):
    return make_source(tmp_path_factory.mktemp("media") / "clip.mp4", 20, Fraction(25), 1.0, size_wh=(160, 96))


@pytest.mark.parametrize("name, task", [("depth_anything", "depth"), ("segformer", "segmentation"),
                                        ("vit", "classification")])
def test_file_to_video_and_results(name, task, tiny_model, model_cache, clip_with_audio, tmp_path):
    out, results = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    done = run_cli("run", "--task", task, "--source", str(clip_with_audio), "--model", str(tiny_model(name)),
                "--output", str(out), "--results", str(results), "--no-display", "--cache-dir", str(model_cache))
    assert done.returncode == 0, done.stderr
    info = probe(out)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["audio"]
    assert info["duration_s"] == pytest.approx(20 / 25, abs=0.05)
    fps, frames = decode(out)
    assert fps == pytest.approx(25) and len(frames) == 20
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["index"] for r in lines] == list(range(20))
    assert [r["timestamp"] for r in lines] == pytest.approx([i / 25 for i in range(20)], abs=1e-3)
    assert {r["task"] for r in lines} == {task}
    _check_results_against_the_model(lines, name, task, tiny_model, model_cache, clip_with_audio)


def _check_results_against_the_model(lines, name, task, tiny_model, model_cache, clip):
    """Each line's values are what the model the run used (the cached precision choice) gives on
    that frame, summarized here with numpy, not with livevision's own results writer."""
    import numpy as np

    from livevision.predictor import load_model
    from livevision.sources import open_source

    model = load_model(tiny_model(name), task, cache_dir=model_cache)
    with open_source(clip) as source:
        images = [frame.image for frame in source.frames()]
    assert len(images) == len(lines) == 20
    id2label = {int(k): v
                for k, v in json.loads((tiny_model(name) / "config.json").read_text()).get("id2label", {}).items()}
    for line, image in zip(lines, images, strict=True):
        assert line["model"] == model.name
        if task == "depth":
            depth = model(image).depth.astype(np.float64)
            assert line["depth"]["kind"] == "relative" and line["depth"]["units"] == "relative"
            # A file's depth is aligned over time (--depth-stabilize auto): values = scale * the model's + shift.
            aligned = line["depth"]["stabilization"]
            assert aligned["mode"] == "align" and aligned["scale"] > 0
            stats = [(line["depth"][k] - aligned["shift"]) / aligned["scale"] for k in ("min", "median", "max")]
            assert stats == pytest.approx([depth.min(), np.median(depth), depth.max()], rel=1e-4, abs=1e-5)
            assert stats[0] < stats[2]  # a real map, not a constant
        elif task == "classification":
            logits = model.infer(model.preprocess(image))[0].reshape(-1).astype(np.float64)
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            best = np.argsort(-probs, kind="stable")[:5]
            assert [c["class_id"] for c in line["top_k"]] == best.tolist()
            assert [c["label"] for c in line["top_k"]] == [id2label[int(i)] for i in best]
            assert [c["score"] for c in line["top_k"]] == pytest.approx(probs[best], rel=1e-4, abs=1e-6)
        else:
            label_map = model(image).label_map
            assert label_map.shape == (96, 160)
            ids, counts = np.unique(label_map, return_counts=True)
            assert {c["label_id"]: c["area_px"] for c in line["classes"]} == dict(zip(ids.tolist(), counts.tolist()))
            assert all(c["label"] == id2label[c["label_id"]] for c in line["classes"])
            areas = [c["area_px"] for c in line["classes"]]
            assert areas == sorted(areas, reverse=True) and sum(areas) == 160 * 96


def test_side_by_side_keeps_frame_order(tiny_model, model_cache, clip_with_audio, tmp_path):
    out = tmp_path / "sbs.mp4"
    done = run_cli("run", "--task", "depth", "--source", str(clip_with_audio),
                "--model", str(tiny_model("depth_anything")), "--output", str(out), "--view", "side_by_side",
                "--no-hud", "--no-display", "--cache-dir", str(model_cache))
    assert done.returncode == 0, done.stderr
    _, frames = decode(out)
    assert frames[0].shape[:2] == (96, 320)
    assert [read_index(f) for f in frames] == list(range(20))  # the original is on the left


def test_no_display_falls_back_with_a_message(tiny_model, model_cache, clip_with_audio, tmp_path):
    results = tmp_path / "r.jsonl"
    done = run_cli("run", "--task", "depth", "--source", str(clip_with_audio),
                "--model", str(tiny_model("depth_anything")),
                "--results", str(results), "--max-frames", "3", "--cache-dir", str(model_cache),
                env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert done.returncode == 0, done.stderr
    assert "no display" in done.stderr.lower()
    assert len(results.read_text().splitlines()) == 3


def test_api_break_stops_every_thread(tiny_model, model_cache, clip_with_audio):
    import livevision

    before = set(threading.enumerate())
    for packet in livevision.stream(str(clip_with_audio), "depth", model=str(tiny_model("depth_anything")),
                                    cache_dir=model_cache):
        assert packet.result.depth.shape == packet.image.shape[:2]
        if packet.index == 2:
            break
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for t in leftover:
        t.join(timeout=5)
    assert [t.name for t in leftover if t.is_alive()] == []


@pytest.mark.parametrize("args, message, code", [
    (["--source", "missing.mp4"], "missing.mp4: no such file or folder", 1),
    (["--source", "57"], "camera 57 could not be opened", 1),
    (["--source", "ftp://host/v.mp4"], "unsupported URL scheme 'ftp'", 1),
    (["--task", "colour", "--source", "CLIP"], "unknown task 'colour'", 2),
    (["--source", "CLIP", "--model", "nobody/no-such-model"], "Hub is unreachable", 1),
    (["--source", "CLIP", "--output", "no/such/dir/out.mp4"], "no/such/dir", 1),
    (["--source", "CLIP", "--output", "out.xyz"], ".mp4", 1),
    (["--source", "CLIP", "--results", "CLIP/r.jsonl"], "r.jsonl", 1),
    (["--source", "CLIP", "--fov", "60"], "add --depth-format ply", 2),
    (["--source", "CLIP", "--depth-format", "ply", "--intrinsics", "1,2"], "--intrinsics takes fx,fy,cx,cy", 2),
])
def test_bad_input_gets_one_line_and_an_exit_code(args, message, code, clip_with_audio, tmp_path):
    args = [str(clip_with_audio) if a == "CLIP" else a.replace("CLIP", str(clip_with_audio)) for a in args]
    done = run_cli("run", "--no-display", "--cache-dir", str(tmp_path / "cache"), *args, cwd=tmp_path,
                env={"HF_HOME": str(tmp_path / "hf")})
    assert done.returncode == code, done.stderr
    err = done.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert message in err


def test_model_option_errors(capsys):
    assert main(["run", "--top-k", "0", "--no-display"]) == 2
    assert "--top-k" in capsys.readouterr().err


@pytest.mark.parametrize("args, message, code", [
    (["--device", "cuda"], "needs CUDAExecutionProvider", 1),  # not a "running on the CPU" warning first
    (["--precision", "fp16"], "--precision fp16 needs a GPU execution provider", 2),
    (["--calibrate", "EMPTY"], "the folder has no files", 2),
    (["--input-size", "100000"], "is too large for", 2),  # not a run killed for memory
])
def test_bad_speed_options_get_one_error_line(args, message, code, tiny_model, model_cache, clip_with_audio, tmp_path):
    (tmp_path / "empty").mkdir()
    args = [str(tmp_path / "empty") if a == "EMPTY" else a for a in args]
    done = run_cli("run", "--task", "depth", "--model", str(tiny_model("depth_anything")), "--source",
                str(clip_with_audio), "--no-display", "--cache-dir", str(model_cache), *args)
    assert done.returncode == code and "Traceback" not in done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if "to ONNX, first use only" not in line]
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_cpu_fallback_builds_precision_variants_and_warns_once(tiny_model, clip_with_audio, tmp_path):
    # a fresh cache: the variants are built and timed for the device it falls back from
    results = tmp_path / "r.jsonl"
    done = run_cli("run", "--task", "classification", "--model", str(tiny_model("vit")),
                "--source", str(clip_with_audio),
                "--no-display", "--device", "tensorrt", "--allow-cpu-fallback", "--max-frames", "3",
                "--results", str(results), "--cache-dir", str(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("TensorrtExecutionProvider is not available") == 1, done.stderr
    assert "precision auto" in done.stderr and "runs on CPUExecutionProvider" in done.stderr
    assert len(results.read_text().splitlines()) == 3


def test_calibrate_with_fp32_says_it_has_no_effect(tiny_model, model_cache, clip_with_audio):
    done = run_cli("run", "--task", "depth", "--model", str(tiny_model("depth_anything")),
                "--source", str(clip_with_audio),
                "--no-display", "--max-frames", "2", "--precision", "fp32", "--calibrate", str(clip_with_audio),
                "--cache-dir", str(model_cache))
    assert done.returncode == 0, done.stderr
    assert "has no effect with --precision fp32" in done.stderr


def test_one_image_in_one_image_out(tiny_model, model_cache, tmp_path):
    import cv2
    import numpy as np

    frame = np.random.default_rng(0).integers(0, 256, (96, 160, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "photo.png"), frame)
    done = run_cli("run", "--task", "depth", "--model", str(tiny_model("depth_anything")), "--source",
                str(tmp_path / "photo.png"), "--no-display", "--no-hud", "--output", str(tmp_path / "depth.jpg"),
                "--cache-dir", str(model_cache))
    assert done.returncode == 0, done.stderr
    out = cv2.imread(str(tmp_path / "depth.jpg"))
    assert out.shape == frame.shape and np.abs(out.astype(int) - frame).mean() > 10  # the overlay is drawn


def test_an_image_output_for_many_frames_is_refused(clip_with_audio, tmp_path):
    done = run_cli("run", "--task", "depth", "--source", str(clip_with_audio), "--no-display",
                "--output", str(tmp_path / "out.png"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "an image holds one frame" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.png").exists()


def test_a_run_that_saves_and_shows_nothing_says_so(tiny_model, model_cache, clip_with_audio, tmp_path):
    quiet = run_cli("run", "--task", "depth", "--model", str(tiny_model("depth_anything")), "--source",
                    str(clip_with_audio), "--no-display", "--max-frames", "2", "--cache-dir", str(model_cache))
    assert quiet.returncode == 0, quiet.stderr
    assert "nothing will be shown or saved" in quiet.stderr
    saving = run_cli("run", "--task", "depth", "--model", str(tiny_model("depth_anything")), "--source",
                     str(clip_with_audio), "--no-display", "--max-frames", "2", "--cache-dir", str(model_cache),
                     "--results", str(tmp_path / "r.jsonl"))
    assert saving.returncode == 0 and "nothing will be" not in saving.stderr


def test_a_broken_file_gets_exactly_one_line(clip_with_audio, tmp_path, monkeypatch):
    """FFmpeg inside OpenCV printed "[mov,mp4,...] moov atom not found" before our one-line error."""
    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL", raising=False)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip_with_audio.read_bytes()[:4000])
    done = run_cli("run", "--task", "depth", "--source", str(truncated), "--no-display",
                   "--cache-dir", str(tmp_path / "cache"))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith("livevision: error:") and "truncated.mp4" in lines[0]


def test_results_on_standard_output(tiny_model, model_cache, clip_with_audio):
    """--results - streams the JSON lines to stdout for a pipe; every human message stays on stderr.
    In a process of its own (`python -m livevision`), so that stdout is the real file descriptor."""
    done = run_cli_process("run", "--task", "depth", "--model", str(tiny_model("depth_anything")), "--source",
                   str(clip_with_audio), "--no-display", "--max-frames", "3", "--cache-dir", str(model_cache),
                   "--results", "-")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["index"] for r in records] == [0, 1, 2] and all(r["task"] == "depth" for r in records)
    assert "{" not in done.stderr


def test_progress_counts_source_frames_in_simulate_live(tiny_model, model_cache, tmp_path):
    """simulate-live skips frames a slow model cannot take: the progress still counts the file's frames,
    so it ends at 100 %, not at the share of frames that were inferred."""
    clip = make_source(tmp_path / "clip.mp4", 60, Fraction(600), None)  # faster than the frame loop: frames skip
    done = run_cli("run", "--task", "depth", "--model", str(tiny_model("depth_anything")), "--source", str(clip),
                   "--pacing", "simulate-live", "--no-display", "--cache-dir", str(model_cache),
                   "--results", str(tmp_path / "r.jsonl"), "--precision", "fp32",
                   "--stats", str(tmp_path / "stats.json"))
    assert done.returncode == 0, done.stderr
    final = [line for line in done.stderr.splitlines() if "frames" in line][-1]
    shown = json.loads((tmp_path / "stats.json").read_text())["frames"]["displayed"]
    if shown == 60:
        pytest.skip("this machine showed every frame at 600 fps: no skipped frame to count")
    assert "100%" in final and "60/60 frames" in final, done.stderr


def test_the_view_is_drawn_only_when_something_shows_or_saves_it(tiny_model, model_cache, clip_with_audio, tmp_path):
    """--results alone (or `livevision batch`) never looks at the annotated view: no time goes into drawing it."""
    stages = {}
    for name, extra in (("results", []), ("video", ["--output", str(tmp_path / "out.mp4")])):
        stats = tmp_path / f"{name}.json"
        done = run_cli("run", "--task", "depth", "--model", str(tiny_model("depth_anything")), "--source",
                       str(clip_with_audio), "--no-display", "--max-frames", "3", "--cache-dir", str(model_cache),
                       "--results", str(tmp_path / f"{name}.jsonl"), "--stats", str(stats), *extra)
        assert done.returncode == 0, done.stderr
        stages[name] = json.loads(stats.read_text())["latency_ms"]
    assert "render" not in stages["results"] and "depth.inference" in stages["results"]
    assert "render" in stages["video"]


def _input_and_link(kind: str, source, folder, suffix: str):
    """An output path naming `source`: the same path, a symbolic link or a hard link (with `suffix`)."""
    import os

    if kind == "same":
        return source
    link = folder / f"link{suffix}"
    (os.symlink if kind == "symlink" else os.link)(source, link)
    return link


@pytest.mark.parametrize("option, suffix, kind", [
    ("--output", ".mp4", "same"), ("--output", ".mp4", "symlink"), ("--output", ".mp4", "hardlink"),
    ("--results", ".jsonl", "hardlink"), ("--stats", ".json", "symlink"), ("--mcap", ".mcap", "hardlink"),
    ("--rerun", ".rrd", "symlink"),
])
def test_an_output_that_is_the_source_is_refused(option, suffix, kind, tmp_path):
    """--source bikes.mp4 --output bikes.mp4 replaced the source with the annotated video. No model is
    needed: the refusal comes before anything loads or is written."""
    source = make_source(tmp_path / "bikes.mp4", 3, Fraction(25), None, size_wh=(64, 48))
    before = source.read_bytes()
    target = _input_and_link(kind, source, tmp_path, suffix)
    other = ["--results", tmp_path / "r.jsonl"] if option != "--results" else ["--stats", tmp_path / "s.json"]
    done = run_cli("run", "--task", "depth", "--source", source, "--no-display", option, target, *other,
                   "--cache-dir", tmp_path / "cache", env={"HF_HOME": str(tmp_path / "hf")})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert option in lines[0] and "bikes.mp4" in lines[0] and "input" in lines[0]
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"bikes.mp4", Path(target).name})


def test_outputs_into_the_source_folder_are_refused(tmp_path):
    """A folder of images: --arrays into that folder, or a snapshot that would replace one of its images."""
    import cv2
    import numpy as np

    photos = tmp_path / "photos"
    photos.mkdir()
    image = np.full((48, 64, 3), 90, np.uint8)
    cv2.imwrite(str(photos / "livevision_000000.png"), image)
    before = (photos / "livevision_000000.png").read_bytes()
    for args, option in ((["--arrays", photos, "--no-display"], "--arrays"),
                         (["--snapshot-dir", photos], "--snapshot-dir")):
        done = run_cli("run", "--task", "depth", "--source", photos, *args, "--cache-dir", tmp_path / "cache",
                       env={"HF_HOME": str(tmp_path / "hf")})
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert option in lines[0] and "input" in lines[0]
        assert [p.name for p in photos.iterdir()] == ["livevision_000000.png"]
        assert (photos / "livevision_000000.png").read_bytes() == before


def test_an_output_that_is_the_calibration_clip_is_refused(tmp_path):
    clip = make_source(tmp_path / "calib.mp4", 3, Fraction(25), None, size_wh=(64, 48))
    source = make_source(tmp_path / "in.mp4", 3, Fraction(25), None, size_wh=(64, 48))
    before = clip.read_bytes()
    done = run_cli("run", "--task", "depth", "--source", source, "--no-display", "--calibrate", clip,
                   "--output", clip, "--cache-dir", tmp_path / "cache", env={"HF_HOME": str(tmp_path / "hf")})
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "--output" in done.stderr and clip.read_bytes() == before


def test_batch_refuses_an_output_that_is_an_input(tmp_path):
    """`batch clips/ --output-dir clips/ --video` would write clips/a.mp4 over the input clips/a.mp4."""
    clips = tmp_path / "clips"
    clips.mkdir()
    clip = make_source(clips / "a.mp4", 3, Fraction(25), None, size_wh=(64, 48))
    before = clip.read_bytes()
    done = run_cli("batch", clips, "--task", "depth", "--output-dir", clips, "--video", "--ray", "off",
                   "--cache-dir", tmp_path / "cache", env={"HF_HOME": str(tmp_path / "hf")})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "a.mp4" in lines[0] and "input" in lines[0]
    assert sorted(p.name for p in clips.iterdir()) == ["a.mp4"] and clip.read_bytes() == before


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, a folder no one can create files in")
def test_stats_into_a_folder_that_cannot_be_written_is_refused_first(clip_with_audio, tmp_path):
    """--stats was the one output not checked up front: the run went through, then failed writing
    stats.json.partial.json. /proc refuses new files even to root, where a chmod'ed folder does not."""
    out = tmp_path / "out"
    out.mkdir()
    done = run_cli("run", "--task", "depth", "--source", clip_with_audio, "--no-display",
                   "--results", out / "r.jsonl", "--stats", "/proc/stats.json",
                   "--cache-dir", tmp_path / "cache", env={"HF_HOME": str(tmp_path / "hf")})
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert "/proc" in lines[0] and "not writable" in lines[0] and "internal error" not in lines[0]
    assert list(out.iterdir()) == []


def test_a_bad_model_stops_the_run_before_any_output_is_opened(clip_with_audio, tmp_path):
    """A bad --model printed "writing o3.mp4 without audio" and "no frames were written" before its error."""
    out = tmp_path / "out"
    out.mkdir()
    done = run_cli("run", "--task", "depth", "--source", clip_with_audio, "--no-display",
                   "--model", tmp_path / "no-such-model", "--output", out / "o3.mp4",
                   "--results", out / "r.jsonl", "--mcap", out / "m.mcap", "--stats", out / "s.json",
                   "--cache-dir", tmp_path / "cache", env={"HF_HOME": str(tmp_path / "hf")})
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert "no-such-model" in lines[0]
    assert list(out.iterdir()) == []


def test_the_hud_goes_into_the_output_file_only_with_hud(tiny_model, model_cache, clip_with_audio, tmp_path):
    """Files carry the results, not this run's timings: the HUD was burned into --output by default."""
    import numpy as np

    frames = {}
    for name, extra in (("default", []), ("no-hud", ["--no-hud"]), ("hud", ["--hud"])):
        out = tmp_path / f"{name}.mp4"
        done = run_cli("run", "--task", "depth", "--model", str(tiny_model("depth_anything")), "--source",
                       str(clip_with_audio), "--no-display", "--max-frames", "6", "--precision", "fp32",
                       "--cache-dir", str(model_cache), "--output", str(out), *extra)
        assert done.returncode == 0, done.stderr
        frames[name] = np.stack(decode(out)[1]).astype(np.int16)
    corner = (slice(None), slice(-30, None), slice(0, 60))  # bottom left, where the HUD is
    assert np.abs(frames["default"] - frames["no-hud"]).max() <= 2
    assert np.abs(frames["hud"][corner] - frames["default"][corner]).mean() > 10


@pytest.mark.parametrize("pacing, ages", [("every", False), ("simulate-live", True)])
def test_every_mode_hud_shows_no_age(pacing, ages, tiny_model, model_cache, clip_with_audio, tmp_path, monkeypatch):
    """`every` queues frames by design: its HUD said "age 11287 ms", capture to display through the queues."""
    from livevision.engine.telemetry import Telemetry

    shown = []
    hud_lines = Telemetry.hud_lines

    def spy(self, **kwargs):
        lines = hud_lines(self, **kwargs)
        shown.extend(lines)
        return lines

    monkeypatch.setattr(Telemetry, "hud_lines", spy)
    done = run_cli("run", "--task", "depth", "--model", str(tiny_model("depth_anything")), "--source",
                   str(clip_with_audio), "--no-display", "--max-frames", "8", "--precision", "fp32", "--pacing", pacing,
                   "--cache-dir", str(model_cache), "--output", str(tmp_path / "o.mp4"), "--hud")
    assert done.returncode == 0, done.stderr
    assert any(line.startswith("depth") for line in shown)
    assert any("age" in line for line in shown) is ages


@pytest.mark.parametrize("args, message", [(["--hud"], "add --output"), (["--hud", "--no-hud", "--output", "o.mp4"],
                                                                         "give one")])
def test_hud_option_errors(args, message, clip_with_audio, tmp_path):
    done = run_cli("run", "--task", "depth", "--source", clip_with_audio, "--no-display", *args, cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr


@pytest.mark.parametrize("option", ["--output", "--mcap"])
def test_a_missing_writer_is_found_before_the_models_load(option, clip_with_audio, tmp_path, monkeypatch):
    """Outputs open after the models load (a bad model must leave no file); what writing needs (ffmpeg,
    an extra's wheel) is still checked before: the model here would fail, but the writer is named."""
    import shutil
    import sys

    if option == "--output":
        monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails
        monkeypatch.setattr(shutil, "which", lambda *_: None)
        target, message = tmp_path / "o.mp4", "ffmpeg"
    else:
        monkeypatch.setitem(sys.modules, "mcap.writer", None)
        target, message = tmp_path / "o.mcap", "livevision[mcap]"
    done = run_cli("run", "--task", "depth", "--source", clip_with_audio, "--no-display", option, target,
                   "--model", tmp_path / "no-such-model", "--cache-dir", tmp_path / "cache")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and message in lines[0], done.stderr

"""The results file's published JSON Schema (src/livevision/sinks/results.schema.json) against real output,
and every line naming the frame's source (issue 12: image folders gave only an index)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runner import run_cli
from media import make_source

import livevision.sinks.results as results_module
from livevision.sinks import ResultsSink
from livevision.types import (ClassificationResult, Detection, DetectionResult, DepthKind, DepthResult, ObjectDepth,
                              Segment, SegmentationResult)

jsonschema = pytest.importorskip("jsonschema")
SCHEMA = json.loads((Path(results_module.__file__).parent / "results.schema.json").read_text())


def _validate(lines: list[str]) -> list[dict]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    records = [json.loads(line) for line in lines]
    for record in records:
        validator.validate(record)
    return records


def test_the_schema_is_valid_and_matches_the_writer_s_version():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["schema"]["const"] == results_module.RESULTS_SCHEMA_VERSION


def test_an_image_folder_names_each_file(tiny_model, model_cache, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    names = ["b.png", "a.png", "c.jpg"]
    for i, name in enumerate(names):
        cv2.imwrite(str(folder / name), np.full((40, 56, 3), 60 * i, np.uint8))
    out = tmp_path / "r.jsonl"
    done = run_cli("run", "--task", "classification", "--model", str(tiny_model("vit")), "--source", str(folder),
                   "--no-display", "--cache-dir", str(model_cache), "--precision", "fp32", "--results", str(out))
    assert done.returncode == 0, done.stderr
    records = _validate(out.read_text().splitlines())
    assert [Path(r["source"]).name for r in records] == sorted(names)
    assert all(Path(r["source"]).parent == folder for r in records)


def test_a_video_names_its_path(tiny_model, model_cache, tmp_path):
    clip = make_source(tmp_path / "clip.mp4", 3, Fraction(10), None)
    out = tmp_path / "r.jsonl"
    done = run_cli("run", "--task", "depth", "--model", str(tiny_model("depth_anything")), "--source", str(clip),
                   "--no-display", "--cache-dir", str(model_cache), "--precision", "fp32", "--results", str(out))
    assert done.returncode == 0, done.stderr
    records = _validate(out.read_text().splitlines())
    assert [r["index"] for r in records] == [0, 1, 2] and {r["source"] for r in records} == {str(clip)}


def test_every_result_kind_fits_the_schema(tmp_path):
    mask = np.zeros((4, 5), bool)
    mask[1:3, 1:4] = True
    metric, relative = ObjectDepth(2.5, DepthKind.METRIC, (0.1, -0.2, 2.5), 3), ObjectDepth(0.41, DepthKind.RELATIVE)
    results = [
        DepthResult(np.array([[1.0, np.nan], [2.0, 3.0]], np.float32), DepthKind.METRIC),
        DepthResult(np.full((2, 2), np.nan, np.float32), DepthKind.RELATIVE),
        ClassificationResult((3, 1), ("cat", "dog"), (0.7, 0.2)),
        SegmentationResult("semantic", np.array([[0, 1], [1, -1]], np.int32), {0: "road", 1: "sky"}),
        SegmentationResult("panoptic", np.where(mask, 2, -1).astype(np.int32), {2: "car"},
                           (Segment(1, 2, "car", 0.93, mask),), np.where(mask, 1, -1).astype(np.int32)),
        SegmentationResult("instance", np.where(mask, 2, -1).astype(np.int32), {2: "car"},
                           (Segment(1, 2, "car", 0.93, mask, 4, metric),
                            Segment(2, 2, "car", 0.5, mask, None, relative)),
                           np.where(mask, 1, -1).astype(np.int32)),
        DetectionResult((Detection((1.5, 2.25, 30.0, 40.125), 2, "car", 0.93, 4, metric),
                         Detection((0.0, 0.0, 5.0, 5.0), 2, "car", 0.5, None, relative),
                         Detection((0.0, 0.0, 5.0, 5.0), 2, "car", 0.25),
                         Detection((0.0, 0.0, 5.0, 5.0), 2, "car", 0.2, 9, ObjectDepth(np.nan, DepthKind.METRIC)),
                         ), {2: "car"}),
        DetectionResult((), {2: "car"}),
    ]
    path = tmp_path / "r.jsonl"
    with ResultsSink(path) as sink:
        for i, result in enumerate(results):
            sink.write_line(i, i / 25, "task", "m", result, source=None if i else "cam.mp4", latency_ms=1.5)
    records = _validate(path.read_text().splitlines())
    assert records[0]["source"] == "cam.mp4" and records[1]["source"] is None
    with pytest.raises(jsonschema.ValidationError):  # the schema does check: a line without its source fails
        _validate([json.dumps({k: v for k, v in records[2].items() if k != "source"})])
    assert records[6]["detections"][0]["depth"] == {"value": 2.5, "units": "m", "position": [0.1, -0.2, 2.5]}
    for broken in ({"units": "metres"}, {"position": [1.0, 2.0]}, {"kind": "metric"}):  # and an object's depth
        detection = dict(records[6]["detections"][0], depth=dict(records[6]["detections"][0]["depth"], **broken))
        with pytest.raises(jsonschema.ValidationError):
            _validate([json.dumps(dict(records[6], detections=[detection]))])

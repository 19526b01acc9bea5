"""A task is one package registered once (tasks/registry.py): every layer reads the registry, none switches
on result types. These keep that true for the next task."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from livevision.pointcloud import CameraIntrinsics
from livevision.tasks import registry
from livevision.tasks.base import TaskDefinition
from livevision.types import ClassificationResult, Task, TaskOutput

PACKAGE = Path(registry.__file__).resolve().parents[1]
RESULT_OR_HEAD = re.compile(r"isinstance\([^)]*\b(DepthResult|ClassificationResult|SegmentationResult|DetectionResult|"
                            r"Segment|Detection|DepthHead|ClassificationHead|SegmentationHead|DetectionHead)\b")


def test_no_layer_outside_the_task_packages_switches_on_result_types():
    switches = [f"{path.relative_to(PACKAGE)}:{n}" for path in PACKAGE.rglob("*.py")
                if path.relative_to(PACKAGE).parts[0] not in ("tasks", "testing")
                for n, line in enumerate(path.read_text().splitlines(), 1) if RESULT_OR_HEAD.search(line)]
    assert switches == []


@pytest.mark.parametrize("task", list(Task))
def test_every_task_is_registered_whole(task):
    found = registry.definition(task)
    assert found.task is task and isinstance(found, TaskDefinition)
    overridden = [name for name in ("head", "device_post", "annotators", "annotator_name", "record", "write_arrays",
                                    "ros2_messages", "log_rerun", "transformers_output", "gate")
                  if getattr(type(found), name) is not getattr(TaskDefinition, name)]
    assert len(overridden) == 10, overridden
    assert Task.parse(found.hf_name) is task  # transformers' name for it is accepted wherever a task is
    assert found.head_suffixes and found.optimum_task and isinstance(found.draw_rank, int)


class _Marked(type(registry.TASKS[Task.CLASSIFICATION])):
    """The classification task with every format replaced by a marker."""

    def record(self, result):
        return {"marked": True}

    def write_arrays(self, sink, index, result, name, image):
        return [sink.write_file(index, "marked", "txt", b"marked")]

    def ros2_messages(self, stamp_ns, result, camera, **_):
        return ["marked"]

    def transformers_output(self, result):
        return "marked"

    def annotators(self, opacity=None):
        return {"classification": "marked annotator"}


def test_every_layer_reads_the_registry(monkeypatch, tmp_path):
    from livevision.hf_pipeline import _formatted
    from livevision.render.dispatch import annotator_for
    from livevision.sinks.raw import RawArraySink
    from livevision.sinks.results import result_record
    from livevision.sinks.ros2_messages import result_messages

    monkeypatch.setitem(registry.TASKS, Task.CLASSIFICATION, _Marked())
    result = ClassificationResult(class_ids=(1,), labels=("cat",), scores=(0.9,))
    assert result_record(result) == {"marked": True}
    assert result_messages(0, result, CameraIntrinsics.from_fov(64, 48, 60.0)) == ["marked"]
    assert _formatted(result) == "marked"
    assert annotator_for(result) == "marked annotator"
    with RawArraySink(tmp_path / "arrays") as sink:
        sink.write_result(Task.CLASSIFICATION, TaskOutput(result, 3, 0.1, 0.0, 0.01))
    assert sorted(p.name for p in (tmp_path / "arrays").iterdir()) == ["frame_000003_marked.txt"]


def test_a_segmentation_kind_is_typed_where_the_result_is_made():
    """SegmentationResult.kind is a SegmentationKind (text is parsed), so no layer checks the string again."""
    from livevision.types import SegmentationKind, SegmentationResult

    labels = np.zeros((2, 2), np.int32)
    assert SegmentationResult(kind="panoptic", label_map=labels, id2label={}).kind is SegmentationKind.PANOPTIC
    with pytest.raises(ValueError, match="bogus"):
        SegmentationResult(kind="bogus", label_map=labels, id2label={})

"""The tasks livevision runs, each registered once: every layer reads this table.

A new task is a package beside depth/ (see tasks.base for what it holds), its Task value in
types.Task, and one line here.
"""

from __future__ import annotations

from ..types import Task
from .base import TaskDefinition
from .classification import ClassificationTask
from .depth import DepthTask
from .detection import DetectionTask
from .segmentation import SegmentationTask

#: In drawing order of their panels: those that cannot shrink first (the legend then lists what fits).
TASKS: dict[Task, TaskDefinition] = {
    Task.DEPTH: DepthTask(),
    Task.CLASSIFICATION: ClassificationTask(),
    Task.SEGMENTATION: SegmentationTask(),
    Task.DETECTION: DetectionTask(),
}


def definition(task: Task) -> TaskDefinition:
    return TASKS[Task(task)]


def definition_of(result) -> TaskDefinition:
    """The definition of the task whose result this is."""
    for found in TASKS.values():
        if isinstance(result, found.result_type):
            return found
    names = ", ".join(d.result_type.__name__ for d in TASKS.values())
    raise TypeError(f"result must be one of {names}, got {type(result).__name__}")


def hf_task_names() -> dict[str, Task]:
    """transformers' pipeline task names -> Task."""
    return {name: task for task, d in TASKS.items() for name in (d.hf_name, *d.hf_aliases)}

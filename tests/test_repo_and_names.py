"""Small things a new user meets first: what the checkout holds, and how livevision's choices print."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from livevision.options import ViewMode
from livevision.engine.pacing import Pacing
from livevision.render.base import Corner
from livevision.tasks.segmentation.annotate_instance import ColorLookup
from livevision.sources.capture import CapturePolicy
from livevision.types import DepthKind, Precision, ResizeMode, SegmentationKind, Task

REPO = Path(__file__).resolve().parents[1]
ROOT_FILES = {".ci", ".gitignore", "BENCHMARKS.md", "README.md", "models", "pyproject.toml", "scripts", "src",
              "tests"}


def test_the_root_holds_only_the_project():
    """Scratch files (curl.log, s2.bin...) once landed at the root: nothing else may be tracked there, and
    such files are ignored."""
    try:
        tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    roots = {line.split("/", 1)[0] for line in tracked.splitlines() if line}
    assert roots <= ROOT_FILES, sorted(roots - ROOT_FILES)
    ignored = subprocess.run(["git", "check-ignore", "curl.log", "s2.bin", "out.mp4"], cwd=REPO,
                             capture_output=True, text=True).stdout.split()
    assert ignored == ["curl.log", "s2.bin", "out.mp4"]


@pytest.mark.parametrize("choice", [Task.DEPTH, DepthKind.RELATIVE, ViewMode.GRID, Pacing.SIMULATE_LIVE,
                                    Corner.TOP_LEFT, ColorLookup.CLASS, CapturePolicy.LATEST,
                                    SegmentationKind.PANOPTIC, Precision.INT8, ResizeMode.FAST])
def test_choices_print_as_their_value(choice):
    assert str(choice) == f"{choice}" == "%s" % choice == choice.value
    assert json.dumps({"kind": choice}) == json.dumps({"kind": choice.value})
    assert choice == choice.value  # still a str


def test_readme_puts_the_command_on_the_path_before_using_it():
    """A new user followed the README's set-up and got `livevision: command not found`: the set-up block must
    activate the virtual environment (or name .venv/bin/livevision) before the README first runs `livevision`."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    activate = readme.find(". .venv/bin/activate")
    first_use = readme.find("\nlivevision ")
    assert 0 <= activate < first_use, "the set-up must activate .venv before the first `livevision` command"
    assert "command not found" in readme[:first_use] and ".venv/bin/livevision" in readme[:first_use]
    setup = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert ". .venv/bin/activate" in setup.splitlines()[-1], "setup.sh must end by saying how to get the command"
